"""The Python API: extract one text, run a corpus, score a run, run an eval suite.

The CLI is a thin layer over these functions::

    from extract.api import extract_text, run_corpus
    result = extract_text("Rebels shot down a Su-25 near Saraqeb on Saturday.", backend="mock", model="echo")
    summary = run_corpus("gold/articles", out="runs/seeds.jsonl", backend="local")
"""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path
from typing import Any

from extract.backends import DEFAULT_BACKEND, create_backend
from extract.core.backend import Backend
from extract.core.errors import ConfigError, ExtractError, InputError
from extract.core.pipeline import ExtractConfig, extract_document
from extract.core.prompts import load_prompt
from extract.core.records import Document, DocumentResult
from extract.runner import Prices, RunSummary, load_price_table, run
from extract.store import CachingBackend, ResponseStore
from extract.transport import RateLimiter, RetryPolicy

__all__ = [
    "ConfigError",
    "ExtractError",
    "InputError",
    "build_review",
    "default_cache_dir",
    "evaluate_run",
    "extract_text",
    "make_backend",
    "run_corpus",
    "run_suite",
    "validate_gold_dir",
]

BUNDLED_NOTE = (
    "Model: the bundled Gemma 3 270M, a tiny model that lets the pipeline run anywhere offline. "
    "Its answers are poor; they show what the pipeline does, not how well incidents can be extracted. "
    "Point --backend openai at a real model for that."
)


def default_cache_dir() -> Path:
    env = os.environ.get("EXTRACT_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "incident-extract" / "responses"


def make_backend(
    backend: str | None = None,
    model: str | None = None,
    *,
    options: dict[str, Any] | None = None,
    rpm: float | None = None,
    tpm: float | None = None,
    cache: bool = True,
    cache_dir: str | Path | None = None,
    record: str | Path | None = None,
    check: bool = True,
) -> Backend:
    """Build a backend by name, wrapped in the response cache (or a recording) where that applies."""
    name = backend or DEFAULT_BACKEND
    options = {k: v for k, v in (options or {}).items() if v is not None}
    if rpm or tpm:
        options["limiter"] = RateLimiter(rpm, tpm)
    options.setdefault("retry", RetryPolicy())
    built = create_backend(name, model, **options)
    if check and hasattr(built, "check"):
        built.check()
    if record:
        return CachingBackend(built, ResponseStore(record))
    if cache and name != "mock":
        return CachingBackend(built, ResponseStore(cache_dir or default_cache_dir()))
    return built


def extract_text(
    text: str,
    *,
    id: str = "document",
    backend: str | Backend | None = None,
    model: str | None = None,
    prompt: str = "incidents",
    max_retries: int = 2,
    **backend_options: Any,
) -> DocumentResult:
    """Extract the incidents of one text (no cache, no output file)."""
    built = (
        backend
        if not isinstance(backend, str | None)
        else make_backend(backend, model, options=backend_options, cache=False)
    )
    config = ExtractConfig(backend=built, prompt=load_prompt(prompt), max_retries=max_retries)
    return extract_document(Document(id=id, text=text), config)


def run_corpus(
    source: Any,
    *,
    out: str | Path | None = None,
    backend: str | Backend | None = None,
    model: str | None = None,
    backend_options: dict[str, Any] | None = None,
    prompt: str = "incidents",
    max_retries: int = 2,
    max_chars: int = 200_000,
    chunk_chars: int = 12_000,
    id_field: str = "id",
    text_field: str = "text",
    split: str = "train",
    limit: int | None = None,
    concurrency: int = 1,
    rpm: float | None = None,
    tpm: float | None = None,
    cache: bool = True,
    cache_dir: str | Path | None = None,
    record: str | Path | None = None,
    resume: bool = True,
    retry_failed: bool = False,
    prices: str | Path | None = None,
    parquet: str | Path | None = None,
    progress: bool = False,
    show: bool | None = False,
) -> RunSummary:
    """Extract a corpus into a JSON Lines file (resumed if it exists) and print a summary."""
    from extract.display import RunProgress, console, print_incidents, print_summary
    from extract.io.corpus import open_corpus
    from extract.io.output import export_parquet

    corpus = open_corpus(source, id_field=id_field, text_field=text_field, split=split, limit=limit)
    if isinstance(backend, str | None):
        built = make_backend(
            backend, model, options=backend_options, rpm=rpm, tpm=tpm,
            cache=cache, cache_dir=cache_dir, record=record,
        )  # fmt: skip
    else:
        built = backend
    name = backend if isinstance(backend, str) else built.name
    config = ExtractConfig(
        backend=built, prompt=load_prompt(prompt), max_retries=max_retries, max_chars=max_chars, chunk_chars=chunk_chars
    )
    if out is None:
        stem = Path(str(source)).stem or "corpus"
        out = Path("runs") / f"{stem}.{name or DEFAULT_BACKEND}.jsonl"
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    price_table = Prices.from_file(prices, built.model) if prices else None

    shown: list[DocumentResult] = []
    with RunProgress(getattr(corpus, "length", None), progress) as bar:

        def on_result(result: DocumentResult) -> None:
            bar.advance(result)
            if show is not False and len(shown) <= 20:
                shown.append(result)

        summary = run(
            corpus,
            config,
            out,
            concurrency=concurrency,
            resume=resume,
            retry_failed=retry_failed,
            prices=price_table,
            on_result=on_result,
        )
    if show or (show is None and summary.documents <= 20):
        print_incidents(shown)
    if parquet:
        export_parquet(out, parquet)
    bundled = (
        built.name == "local" and getattr(getattr(built, "inner", built), "path", None) is not None and model is None
    )
    print_summary(summary, note=BUNDLED_NOTE if bundled else None)
    if parquet:
        console.print(f"Parquet: {parquet}")
    return summary


def evaluate_run(
    gold: str | Path,
    pred: str | Path,
    *,
    json_out: str | Path | None = None,
    report: str | Path | None = None,
    baseline: str | Path | None = None,
    bootstrap: int = 1000,
    prices: str | Path | None = None,
    quiet: bool = False,
) -> Any:
    """Score a run file against a gold directory; print the table; write the JSON and Markdown reports.

    With ``prices`` (the table ``extract run --prices`` takes), the run's cost estimate is
    printed and added to the JSON summary as ``cost``.
    """
    from extract.core.gold import load_gold
    from extract.display import console
    from extract.scoring import evaluate, load_predictions, load_summary, render_table, write_json, write_markdown

    gold_set = load_gold(gold)
    predictions = load_predictions(pred)
    result = evaluate(gold_set, predictions, bootstrap=bootstrap)
    base = load_summary(baseline) if baseline else None
    cost = _run_cost(predictions, prices) if prices else None
    if not quiet:
        console.print(_describe_run(predictions, pred))
        console.print(render_table(result, baseline=base))
        if cost is not None:
            console.print(f"Estimated cost of the run: ${cost:.4f}")
    if json_out:
        summary = write_json(result, json_out, baseline=base)
        if cost is not None:
            summary["cost"] = round(cost, 6)
            Path(json_out).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    if report:
        write_markdown(result, report, baseline=base)
    return result


def _describe_run(predictions: dict[str, DocumentResult], path: str | Path) -> str:
    """Which backend, model, prompt and schema produced the run being scored."""
    seen = sorted(
        {
            (p.backend, p.model, p.prompt, p.prompt_hash, p.schema_version)
            for p in (r.provenance for r in predictions.values())
        }
    )
    parts = [f"{b} / {m} (prompt {pr} {h[:8]}, schema {v})" for b, m, pr, h, v in seen]
    line = f"Scoring {path}: " + ("; ".join(parts) or "no records")
    if any(m.endswith("gemma-3-270m-q4_k_m.gguf") for _, m, *_ in seen):
        line += "\n" + BUNDLED_NOTE
    return line


def _run_cost(predictions: dict[str, DocumentResult], prices: str | Path) -> float:
    table = load_price_table(prices)
    return sum(Prices.from_table(table, r.provenance.model, prices).cost(r.usage) for r in predictions.values())


def run_suite(
    suite: str | Path,
    *,
    json_out: str | Path | None = None,
    report: str | Path | None = None,
    baseline: str | Path | None = None,
) -> bool:
    """Run an eval suite: extract its corpus with its backend, score against its gold, apply its gates.

    Returns True when every gate passes.
    """
    from extract.display import console
    from extract.scoring import check_gates

    path = Path(suite)
    try:
        spec = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the suite: {exc}") from None
    base = path.parent

    def rel(key: str) -> Path:
        if key not in spec:
            raise ConfigError(f"{path}: missing {key!r}", hint="a suite names corpus, gold, backend and thresholds")
        return (base / spec[key]).resolve()

    out = Path(spec.get("out", f"runs/suite-{path.stem}.jsonl"))
    options = {"replay": str(rel("replay"))} if "replay" in spec else {}
    options |= {k: spec[k] for k in ("base_url", "mode", "max_tokens") if k in spec}
    summary = run_corpus(
        rel("corpus"),
        out=out,
        backend=spec.get("backend", "mock"),
        model=spec.get("model"),
        backend_options=options,
        prompt=spec.get("prompt", "incidents"),
        resume=False,
        cache=False,
        show=False,
    )
    result = evaluate_run(rel("gold"), out, json_out=json_out, report=report, baseline=baseline)
    thresholds = dict(spec.get("thresholds", {}))
    failed = check_gates(result, thresholds)
    if summary.failed and "max_failures" not in thresholds:
        failed.append(f"{summary.failed} document(s) failed to extract (set max_failures in the suite to allow some)")
    for line in failed:
        console.print(f"[red]gate failed[/red]: {line}")
    if not failed:
        console.print(f"[green]all {len(thresholds)} gate(s) passed[/green] ({path})")
    return not failed


def validate_gold_dir(directory: str | Path) -> list[str]:
    """One line per problem in a gold directory (empty when valid)."""
    from extract.core.gold import validate_gold

    return [str(problem) for problem in validate_gold(directory)]


def build_review(
    run: str | Path,
    out: str | Path,
    *,
    gold: str | Path | None = None,
    events: str | Path | None = None,
    articles: str | Path | None = None,
    id_field: str = "id",
    text_field: str = "text",
    page_size: int = 100,
) -> Any:
    """Write the static review site of a run (see :func:`extract.review.build_site`); returns its summary."""
    from extract.review import build_site

    if page_size < 1:
        raise ConfigError(f"page size must be at least 1, got {page_size}")
    return build_site(
        run,
        out,
        gold=gold,
        events=events,
        articles=articles,
        id_field=id_field,
        text_field=text_field,
        page_size=page_size,
    )
