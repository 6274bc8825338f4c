"""A run's configuration, declared once: what ``extract run``, :func:`extract.api.run_corpus` and both engines take.

Each option is declared here once, with its default and its bounds, in the group it belongs to:

- :class:`Reading`: how the corpus is read;
- :class:`Output`: where the records go, and what an existing output means;
- :class:`Extraction`: what decides each document's answer (the backend and how it is asked);
- :class:`Responses`: where answers are kept and how transport faults are retried;
- :class:`Pace`: how fast the run goes;
- :class:`RayEngine`: the Ray engine's own options (none: the local engine).

The command line builds a :class:`RunConfig` once from its flags (a flag left out is the default
declared here), the Python API from its keyword arguments (:meth:`RunConfig.from_options`), and
both engines take it. A value out of range is a :class:`~extract.core.errors.ConfigError` of one
line naming the flag: ``--chunk-chars 0`` would split a document into one request per character,
``--concurrency 0`` would start no worker.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, InstanceOf, ValidationError, field_validator, model_validator

from extract.backends import DEFAULT_BACKEND
from extract.core.backend import Backend
from extract.core.errors import ConfigError
from extract.core.pipeline import ExtractConfig
from extract.core.prompts import DEFAULT_PROMPT, load_prompt_for
from extract.core.records import DocumentResult
from extract.engines import DEFAULT_ENGINE
from extract.engines.recipe import make_backend
from extract.io.rows import DEFAULT_ID_FIELD, DEFAULT_SPLIT, DEFAULT_TEXT_FIELD
from extract.transport import RateLimiter, RetryPolicy

#: What an engine calls as a run starts, with the number of documents (None when the corpus cannot tell).
OnStart = Callable[[int | None], None]
#: What an engine calls with each record as it is written.
OnResult = Callable[[DocumentResult], None]

# The one-document pipeline's own defaults, which a run keeps.
_PIPELINE: dict[str, Any] = {f.name: f.default for f in dataclasses.fields(ExtractConfig)}


class _Options(BaseModel):
    """A frozen group of options whose invalid value is one line naming its flag."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise _one_line(exc) from None


def _flag(name: str) -> str:
    """The command-line flag of an option (``chunk_chars`` is ``--chunk-chars``, unless its field names another)."""
    groups: tuple[type[_Options], ...] = (*_GROUPS.values(), RayEngine)
    for group in groups:
        field = group.model_fields.get(name)
        if field is not None and isinstance(field.json_schema_extra, dict) and "flag" in field.json_schema_extra:
            return str(field.json_schema_extra["flag"])
    return "--" + name.replace("_", "-")


def _one_line(exc: ValidationError) -> ConfigError:
    first = exc.errors()[0]
    parts = [part for part in first["loc"] if isinstance(part, str) and part not in (*_GROUPS, "ray")]
    known = [part for part in parts if part in _GROUP_OF or part in _ENGINE_OPTIONS]
    flag = _flag(known[0]) if known else _flag(parts[0]) if parts else "option"
    return ConfigError(f"{flag}: {first['msg']} (got {first.get('input')!r})")


class Reading(_Options):
    """How the corpus is read: the keyword arguments of :func:`~extract.io.corpus.open_corpus`, by name."""

    id_field: str = Field(default=DEFAULT_ID_FIELD, description="The column (or key) holding each document's id.")
    text_field: str = Field(default=DEFAULT_TEXT_FIELD, description="The column (or key) holding each text.")
    split: str = Field(default=DEFAULT_SPLIT, description="The split of a saved DatasetDict.")
    limit: int | None = Field(default=None, ge=0, description="Only the first N documents.")


class Output(_Options):
    """Where the records go, and what an existing output means."""

    out: str | Path | None = Field(
        default=None, description="The run file (default runs/<corpus>.<backend>.jsonl); resumed if it exists."
    )
    parquet: str | Path | None = Field(default=None, description="Also write the results as Parquet here.")
    resume: bool = Field(default=True, description="Continue an existing output (else start it afresh).")
    retry_failed: bool = Field(default=False, description="When resuming, extract failed documents again.")
    prices: str | Path | None = Field(default=None, description="A JSON price table, for a cost estimate.")


class Extraction(_Options):
    """What decides each document's answer: the backend and how it is asked (what a matrix cell may set).

    ``prompt``, ``evidence``, ``schema_style`` and ``candidates`` left as None are what the local
    model's adapter was trained with (:func:`serving_choices`), else the plain defaults.
    """

    backend: str | InstanceOf[Backend] | None = Field(
        default=None, description=f"A backend name (default {DEFAULT_BACKEND}) or a built backend (local engine only)."
    )
    model: str | None = Field(default=None, description="The model: a .gguf path, a model name, or echo.")
    backend_options: Mapping[str, Any] = Field(default_factory=dict, description="The backend's own typed options.")
    prompt: str | None = Field(default=None, description="A prompt template name in prompts/, or a path.")
    evidence: str | None = Field(default=None, description="quotes or refs.")
    schema_style: str | None = Field(
        default=None, description="full or compact.", json_schema_extra={"flag": "--schema"}
    )
    candidates: bool | str | None = Field(default=None, description="Offer the article's own values: open or strict.")
    max_retries: int = Field(
        default=_PIPELINE["max_retries"], ge=0, le=50, description="Re-asks after a reply fails validation."
    )
    max_chars: int = Field(
        default=_PIPELINE["max_chars"], ge=1, description="Longest document accepted, in characters."
    )
    chunk_chars: int = Field(
        default=_PIPELINE["chunk_chars"],
        ge=1_000,
        description="Chunk size for long documents; a chunk must hold a few sentences.",
    )

    @field_validator("backend_options", mode="after")
    @classmethod
    def _given_only(cls, options: Mapping[str, Any]) -> dict[str, Any]:
        # As for the backends' own options, None is "not given" (the command line passes every flag).
        return {name: value for name, value in options.items() if value is not None}

    @model_validator(mode="after")
    def _known_modes(self) -> Extraction:
        evidence_options(self.evidence or "quotes", self.schema_style or "full", self.candidates or False)
        return self


class Responses(_Options):
    """Where answers are kept and how transport faults are retried; never what an answer is."""

    cache: bool = Field(default=True, description="Read and write the response cache.")
    cache_dir: str | Path | None = Field(
        default=None, description="The response cache (default $EXTRACT_CACHE_DIR or ~/.cache/incident-extract)."
    )
    record: str | Path | None = Field(default=None, description="Also store every response here, for replay.")
    retry: InstanceOf[RetryPolicy] | None = Field(default=None, description="How transport faults are retried.")


class Pace(_Options):
    """How fast the run goes; never what it answers."""

    concurrency: int = Field(default=1, ge=1, le=4096, description="Documents in flight at once (per Ray actor).")
    rpm: float | None = Field(default=None, gt=0, description="Requests per minute (for the whole Ray cluster).")
    tpm: float | None = Field(default=None, gt=0, description="Tokens per minute (estimated).")


class RayEngine(_Options):
    """How a run uses Ray: ``extract.api.run_corpus(..., engine=RayEngine(...))`` (``engine="ray"`` is the defaults).

    ``address``: a running cluster (``auto``, or ``ray://host:10001``); without one, a local
    Ray instance with ``num_cpus`` cores is started for the run and stopped after it.
    ``actors`` backends run at once (each with the run's ``concurrency`` documents in flight)
    on batches of ``batch_size`` rows. With ``write`` (``jsonl`` or ``parquet``), the run's
    ``out`` is a folder of part files written by Ray's writers where the actors run, instead
    of one run file written by the driver. ``progress`` shows Ray Data's own progress bars.
    """

    address: str | None = Field(default=None, description="A Ray cluster.", json_schema_extra={"flag": "--ray-address"})
    actors: int = Field(default=2, ge=1, description="Backend actors.")
    batch_size: int | None = Field(default=None, ge=1, description="Rows per batch (default 4 x concurrency).")
    num_cpus: int | None = Field(default=None, ge=1, description="Cores of the local Ray instance.")
    write: Literal["jsonl", "parquet"] | None = Field(
        default=None,
        description="Ray's writers write out as a folder of parts.",
        json_schema_extra={"flag": "--ray-write"},
    )
    progress: bool = Field(default=False, description="Show Ray Data's progress bars.")


_GROUPS: dict[str, type[_Options]] = {
    "reading": Reading,
    "output": Output,
    "extraction": Extraction,
    "responses": Responses,
    "pace": Pace,
}
#: The group of each option, by name (every option's name is its own across the groups).
_GROUP_OF = {name: group for group, model in _GROUPS.items() for name in model.model_fields}
_ENGINE_OPTIONS = tuple(RayEngine.model_fields)


class RunConfig(_Options):
    """Everything a run of a corpus takes, beside the corpus and the callbacks; frozen and checked when built."""

    reading: Reading = Field(default_factory=Reading)
    output: Output = Field(default_factory=Output)
    extraction: Extraction = Field(default_factory=Extraction)
    responses: Responses = Field(default_factory=Responses)
    pace: Pace = Field(default_factory=Pace)
    #: None: the local engine (one process, one event loop); else Ray Data with these options.
    ray: RayEngine | None = None

    @model_validator(mode="after")
    def _one_output(self) -> RunConfig:
        if self.ray is not None and self.ray.write and self.output.parquet:
            raise ConfigError(
                "--parquet exports a run file; with --ray-write the parts are the output",
                hint="use --ray-write parquet",
            )
        return self

    @classmethod
    def from_options(cls, **options: Any) -> RunConfig:
        """A configuration from options given by name (``out=``, ``concurrency=``, ``actors=``...); None is not given.

        ``engine`` is ``"local"``, ``"ray"`` or a :class:`RayEngine`; the Ray engine's options
        may also be given by name, and are an error with the local engine.
        """
        engine = options.pop("engine", None) or DEFAULT_ENGINE
        grouped: dict[str, Any] = {}
        ray: dict[str, Any] = {}
        for name, value in options.items():
            if value is None:
                continue
            if name in _ENGINE_OPTIONS:
                ray[name] = value
            elif name in _GROUP_OF:
                grouped.setdefault(_GROUP_OF[name], {})[name] = value
            else:
                raise ConfigError(f"unknown run option {name!r}", hint=f"choose from {', '.join(run_options())}")
        if engine == DEFAULT_ENGINE:
            if ray:
                raise ConfigError(
                    f"{_flag(next(iter(ray)))} applies to the ray engine only, not to local",
                    hint="add --engine ray or drop it",
                )
            return cls(**grouped)
        if isinstance(engine, RayEngine):
            ray = {**engine.model_dump(), **ray}
        elif engine != "ray":
            raise ConfigError(f"unknown engine {engine!r}", hint="choose local or ray")
        return cls(**grouped, ray=RayEngine(**ray))

    def options(self) -> dict[str, Any]:
        """The options by name (what :meth:`from_options` takes back), with the engine as ``engine``."""
        flat: dict[str, Any] = {"engine": self.ray if self.ray is not None else DEFAULT_ENGINE}
        for group in _GROUPS:
            flat |= dict(getattr(self, group))
        return flat

    def replace(self, **options: Any) -> RunConfig:
        """This configuration with some options changed by name, checked again (None leaves an option as it is)."""
        return RunConfig.from_options(**{**self.options(), **options})

    def served(self) -> RunConfig:
        """This configuration with the prompt, evidence mode, schema rendering and candidates it leaves as None
        chosen: what the local model's adapter was trained with, else the plain defaults."""
        x = self.extraction
        if None not in (x.prompt, x.evidence, x.schema_style, x.candidates):
            return self
        chosen = serving_choices(
            x.backend, x.model, dict(x.backend_options), x.prompt, x.evidence, x.schema_style, x.candidates
        )
        return self.replace(**dict(zip(("prompt", "evidence", "schema_style", "candidates"), chosen, strict=True)))

    def build_backend(self, limiter: RateLimiter | None = None, *, check: bool = True) -> Backend:
        """The backend the run asks: the one given, or built from its recipe (by each Ray actor: a client
        cannot travel between processes, its recipe can)."""
        x, kept = self.extraction, self.responses
        if not isinstance(x.backend, str | None):
            return x.backend
        return make_backend(
            x.backend, x.model, options=dict(x.backend_options), limiter=limiter, retry=kept.retry,
            cache=kept.cache, cache_dir=kept.cache_dir, record=kept.record, check=check,
        )  # fmt: skip

    def extract_config(self, backend: Backend) -> ExtractConfig:
        """What the one-document pipeline takes, asking ``backend``."""
        x = self.served().extraction
        assert x.prompt is not None and x.evidence is not None and x.schema_style is not None
        return ExtractConfig(
            backend=backend, prompt=load_prompt_for(x.prompt, x.evidence), max_retries=x.max_retries,
            max_chars=x.max_chars, chunk_chars=x.chunk_chars,
            **evidence_options(x.evidence, x.schema_style, x.candidates or False),
        )  # fmt: skip


def run_options() -> tuple[str, ...]:
    """Every option's name, as :meth:`RunConfig.from_options` takes them."""
    return ("engine", *_GROUP_OF, *_ENGINE_OPTIONS)


def serving_choices(
    backend: str | Backend | None,
    model: str | None,
    backend_options: Mapping[str, Any] | None,
    prompt: str | None,
    evidence: str | None,
    schema_style: str | None,
    candidates: bool | str | None,
) -> tuple[str, str, str, bool | str]:
    """The prompt, evidence mode, schema rendering and candidates a run uses.

    What the caller gave wins. What it left as None is what the local backend's adapter was
    trained to be asked with (an adapter trained by ``extract train`` says so in its file), so
    the shipped adapter is asked as it was taught; otherwise ``incidents``, ``quotes``, ``full``
    and no candidates.
    """
    trained: dict[str, Any] = {}
    if isinstance(backend, str | None) and (backend or DEFAULT_BACKEND) == "local":
        from extract.backends.local import serving_defaults

        trained = serving_defaults(model, (backend_options or {}).get("adapter"))
    elif not isinstance(backend, str | None):
        trained = dict(getattr(getattr(backend, "inner", backend), "serving", None) or {})
    return (
        prompt if prompt is not None else str(trained.get("prompt", DEFAULT_PROMPT)),
        evidence if evidence is not None else str(trained.get("evidence", "quotes")),
        schema_style if schema_style is not None else str(trained.get("schema_style", "full")),
        candidates if candidates is not None else trained.get("candidates", False),
    )


def evidence_options(
    evidence: str = "quotes", schema_style: str = "full", candidates: bool | str = False
) -> dict[str, Any]:
    """The :class:`ExtractConfig` fields for an evidence mode, a schema rendering and candidate values, checked."""
    from extract.core.candidates import MODES, STRICT
    from extract.core.evidence import EvidenceMode

    try:
        mode = EvidenceMode(evidence)
    except ValueError:
        raise ConfigError(f"unknown evidence mode {evidence!r}", hint="use quotes or refs") from None
    if schema_style not in ("full", "compact"):
        raise ConfigError(f"unknown schema style {schema_style!r}", hint="use full or compact")
    if candidates not in (True, False, *MODES):
        raise ConfigError(f"unknown candidates mode {candidates!r}", hint=f"use {' or '.join(MODES)}")
    chosen = STRICT if candidates == STRICT else bool(candidates)
    return {"evidence": mode, "compact_schema": schema_style == "compact", "candidates": chosen}
