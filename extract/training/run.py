"""``extract train``: labelled articles in, a served LoRA adapter and its model card out.

The steps, each its own function: gather the labelled articles (gold folders, run files as
silver labels), split off a development set by a hash of each id, render every chunk through
the pipeline's own request planning, tokenize with llama.cpp's tokenizer and check every
answer against llama.cpp's grammar, train (resumable), and after each epoch write the adapter
and score the development set through the local backend with the project's scorer.
"""

from __future__ import annotations

import hashlib
import json
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from extract.core.errors import ConfigError
from extract.training.examples import Labelled, RenderReport, examples_hash, gold_documents, render
from extract.training.lora import Progress, TrainOptions

#: How a trained adapter is asked: the serving configuration written into the adapter.
DEFAULT_SERVING: dict[str, Any] = {
    "prompt": "incidents",
    "evidence": "refs",
    "schema_style": "full",
    "candidates": False,
    "chat_format": "gemma",
}


@dataclass(frozen=True)
class Source:
    """A training source: a gold folder, or a run file with the corpus it was run on (silver)."""

    path: Path
    kind: str = "gold"  # or "silver"
    corpus: Path | None = None
    name: str = ""
    #: silver: keep a record only when at least this share of its evidence is grounded
    min_grounded: float = 1.0
    #: Recase text in capitals like ordinary news (MUC-3/4), labels and all (:mod:`extract.training.recase`).
    recase: bool = False


@dataclass
class TrainReport:
    adapter: Path | None
    card: Path | None
    train_examples: int
    dev_documents: int
    data_hash: str
    dropped: dict[str, int]
    progress: Progress
    dev: list[dict[str, Any]] = field(default_factory=list)
    sources: dict[str, dict[str, int]] = field(default_factory=dict)


def is_dev(doc_id: str, fraction: float, seed: int) -> bool:
    """Whether a document belongs to the development split: a stable hash of its id, not its position."""
    digest = hashlib.sha256(f"{seed}:{doc_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


def load_sources(sources: Sequence[Source]) -> tuple[list[Labelled], dict[str, int]]:
    """The labelled articles of ``sources``, and the count of articles left out by reason.

    An article is left out when it may report a reserved incident
    (:func:`~extract.training.reserved.reserved_reason`) or when its id is a document of a
    held-out evaluation set (:data:`~extract.training.reserved.HELD_OUT_EVALS`).
    """
    from extract.training.reserved import held_out_ids, reserved_reason

    held_out = held_out_ids()
    out: list[Labelled] = []
    dropped: dict[str, int] = {}
    for source in sources:
        if source.kind == "gold":
            docs = gold_documents(source.path, source.name or None)
        elif source.kind == "silver":
            if source.corpus is None:
                raise ConfigError(f"{source.path}: a run file needs the corpus it was run on", hint="--corpus PATH")
            docs, _ = silver_from(source)
        else:
            raise ConfigError(f"unknown source kind {source.kind!r}", hint="gold or silver")
        if source.recase:
            from extract.training.recase import recase

            docs = [recase(d) for d in docs]
        for doc in docs:
            if doc.id in held_out:
                reason = f"held out for evaluation ({held_out[doc.id]})"
            elif reserved_reason(doc.text) is not None:
                reason = "may report a reserved incident"
            else:
                out.append(doc)
                continue
            dropped[reason] = dropped.get(reason, 0) + 1
    return out, dropped


def source_name(source: Source) -> str:
    """The name a source's examples carry (its folder's, unless given)."""
    return source.name or (source.path.stem if source.kind == "silver" else source.path.name)


def source_terms(source: Source) -> str:
    """What a source's own SOURCE.md says under its licence heading, for the model card.

    A run file (silver labels) carries no terms of its own: those of the service that wrote it apply.
    """
    if source.kind == "silver":
        return f"silver labels from the run file {source.path.name}: the terms of the service that produced it apply"
    notes = source.path / "SOURCE.md"
    if not notes.is_file():
        return f"not stated (no SOURCE.md in {source.path})"
    section: list[str] = []
    for line in notes.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            if section:
                break
            if "licen" in line.lower():
                section.append(line)
        elif section:
            section.append(line)
    body = "\n".join(section[1:]).strip()
    return body or f"not stated under a licence heading in {notes}"


def silver_from(source: Source) -> tuple[list[Labelled], dict[str, int]]:
    from extract.io.corpus import open_corpus
    from extract.training.examples import silver_documents

    assert source.corpus is not None
    texts = {doc.id: doc.text for doc in open_corpus(source.corpus) if hasattr(doc, "text")}
    return silver_documents(source.path, texts, min_grounded=source.min_grounded, source=source.name or None)


def serving_config(serving: dict[str, Any]) -> Any:
    """The ExtractConfig that the served adapter will be asked with (the backend is never called here)."""
    from extract.api import evidence_options
    from extract.backends.mock import MockBackend
    from extract.core.pipeline import ExtractConfig
    from extract.core.prompts import load_prompt_for

    return ExtractConfig(
        backend=MockBackend(),
        prompt=load_prompt_for(serving["prompt"], serving["evidence"]),
        **evidence_options(serving["evidence"], serving["schema_style"], serving["candidates"]),
    )


def train_adapter(
    sources: Sequence[Source],
    out: str | Path,
    *,
    base_model: str | Path | None = None,
    options: TrainOptions | None = None,
    serving: dict[str, Any] | None = None,
    dev_fraction: float = 0.05,
    dev_limit: int | None = 16,
    train_limit: int | None = None,
    per_source_limit: dict[str, int] | None = None,
    on_progress: Callable[[Progress, int, float], None] | None = None,
    on_stage: Callable[[str], None] | None = None,
    base_loader: Callable[[Path], Any] | None = None,
    evaluate_dev: bool = True,
) -> TrainReport:
    """Train a LoRA adapter for the local backend; write ``out/adapter.gguf``, ``out/MODEL_CARD.md`` and
    ``out/card.json``. Resumes from ``out/checkpoint.pt`` when it matches the data and options. Prints nothing."""
    from extract.backends.local import bundled_model_path, gguf_sha256
    from extract.training.gguf_adapter import write_adapter
    from extract.training.lora import load_base, lora_tensors, train, wrap_lora
    from extract.training.tokens import Vocab, grammar_accepts

    started = time.time()
    stage = on_stage or (lambda _: None)
    options = options or TrainOptions()
    serving = {**DEFAULT_SERVING, **(serving or {})}
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    base = Path(base_model) if base_model else bundled_model_path()

    stage("reading the labelled articles")
    docs, left_out = load_sources(sources)
    dev_docs = [d for d in docs if is_dev(d.id, dev_fraction, options.seed)]
    train_docs = [d for d in docs if not is_dev(d.id, dev_fraction, options.seed)]
    if per_source_limit:
        train_docs = _limit_per_source(train_docs, per_source_limit, options.seed)
    if dev_limit is not None:
        dev_docs = dev_docs[:dev_limit]
    config = serving_config(serving)
    report = RenderReport()
    stage(f"rendering {len(train_docs)} articles through the pipeline's requests")
    examples = render(train_docs, config, report)
    vocab = Vocab(base, serving["chat_format"])
    tokenized = []
    dropped = {**left_out, **report.dropped}
    for ex in examples:
        tok = vocab.tokenize(ex)
        if tok.length > options.max_tokens:
            dropped["longer than max_tokens"] = dropped.get("longer than max_tokens", 0) + 1
            continue
        refused = grammar_accepts(vocab, ex.schema, tok.answer)
        if refused is not None:
            raise ConfigError(f"{ex.id}: the answer taught is not one the grammar allows: {refused}")
        tokenized.append((ex, tok))
    vocab.close()
    if train_limit is not None:
        tokenized = tokenized[:train_limit]
    if not tokenized:
        raise ConfigError("no training example left", hint="check the sources and --max-tokens")
    data_hash = examples_hash(ex for ex, _ in tokenized)
    by_source: dict[str, dict[str, int]] = {}
    for ex, _ in tokenized:
        counts = by_source.setdefault(ex.source, {"examples": 0, "incidents": 0, "empty": 0})
        counts["examples"] += 1
        counts["incidents"] += ex.incidents
        counts["empty"] += ex.incidents == 0

    stage(f"loading {base.name} for training")
    model = wrap_lora((base_loader or load_base)(base), options)
    n_layers = int(model.config.num_hidden_layers)
    base_sha = gguf_sha256(base)
    training_meta = {
        "base_model": base.name,
        "base_sha256": base_sha,
        "data_hash": data_hash,
        "examples": len(tokenized),
        "sources": by_source,
        "options": asdict(options),
    }

    def write(path: Path, extra: dict[str, Any]) -> Path:
        return write_adapter(
            path,
            lora_tensors(model),
            alpha=options.alpha,
            n_layers=n_layers,
            serving=serving,
            training={**training_meta, **extra},
        )

    def on_epoch(epoch: int, _: Any) -> dict[str, Any]:
        path = write(out / f"adapter.epoch{epoch + 1}.gguf", {"epoch": epoch + 1})
        if not evaluate_dev or not dev_docs:
            return {"adapter": path.name}
        stage(f"epoch {epoch + 1}: scoring {len(dev_docs)} development articles with the adapter")
        return {"adapter": path.name, **score_documents(dev_docs, base, path, serving)}

    stage(f"training on {len(tokenized)} examples")
    progress = train(
        model,
        [tok for _, tok in tokenized],
        options,
        out / "checkpoint.pt",
        identity={"data_hash": data_hash, "base_sha256": base_sha, "serving": serving},
        on_progress=on_progress,
        on_epoch=on_epoch,
    )
    final = out / "adapter.gguf"
    last = progress.epochs_done[-1] if progress.epochs_done else {}
    write(final, {"epoch": len(progress.epochs_done), "dev": last})
    card = {
        "adapter": final.name,
        "base_model": base.name,
        "base_sha256": base_sha,
        "serving": serving,
        "options": asdict(options),
        "data_hash": data_hash,
        "sources": by_source,
        "terms": {source_name(source): source_terms(source) for source in sources},
        "dropped": dropped,
        "train_examples": len(tokenized),
        "dev_documents": len(dev_docs),
        "dev_ids": [d.id for d in dev_docs],
        "epochs": progress.epochs_done,
        "losses": progress.losses,
        "train_seconds": round(progress.seconds, 1),
        "wall_seconds": round(time.time() - started, 1),
        "machine": f"{platform.machine()}, {_cpus()} CPUs",
    }
    (out / "card.json").write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    (out / "MODEL_CARD.md").write_text(model_card(card), encoding="utf-8")
    return TrainReport(
        final, out / "MODEL_CARD.md", len(tokenized), len(dev_docs), data_hash, dropped, progress,
        progress.epochs_done, by_source,
    )  # fmt: skip


def _cpus() -> int:
    import os

    return os.cpu_count() or 0


def _limit_per_source(docs: list[Labelled], limits: dict[str, int], seed: int) -> list[Labelled]:
    """At most ``limits[source]`` articles of a source, chosen by a stable hash (half with incidents first)."""
    out: list[Labelled] = []
    by_source: dict[str, list[Labelled]] = {}
    for doc in docs:
        by_source.setdefault(doc.source, []).append(doc)
    for source, items in by_source.items():
        limit = limits.get(source)
        if limit is None:
            out.extend(items)
            continue
        ranked = sorted(items, key=lambda d: hashlib.sha256(f"{seed}:{d.id}".encode()).hexdigest())
        out.extend(ranked[:limit])
    return out


def score_documents(docs: Sequence[Labelled], base: Path, adapter: Path, serving: dict[str, Any]) -> dict[str, Any]:
    """Extract ``docs`` with the local backend and ``adapter``, then score them against their labels."""
    import tempfile

    from extract.api import evaluate_run, run_corpus

    with tempfile.TemporaryDirectory(prefix="extract-dev-") as tmp:
        gold = Path(tmp) / "gold"
        (gold / "articles").mkdir(parents=True)
        (gold / "labels").mkdir()
        for doc in docs:
            (gold / "articles" / f"{doc.id}.txt").write_text(doc.text, encoding="utf-8")
            label = {"id": doc.id, "incidents": [{"key": f"{doc.id}-{k}", **i} for k, i in enumerate(doc.incidents)]}
            (gold / "labels" / f"{doc.id}.json").write_text(json.dumps(label), encoding="utf-8")
        run = Path(tmp) / "dev.jsonl"
        started = time.perf_counter()
        run_corpus(
            gold / "articles", out=run, backend="local", model=str(base), cache=False,
            backend_options={"adapter": str(adapter), "chat_format": serving["chat_format"]},
            prompt=serving["prompt"], evidence=serving["evidence"], schema_style=serving["schema_style"],
            candidates=serving["candidates"],
        )  # fmt: skip
        seconds = time.perf_counter() - started
        result = evaluate_run(gold, run, bootstrap=0)
    return {**dev_figures(result), "seconds_per_document": round(seconds / max(1, len(docs)), 2)}


def dev_figures(result: Any) -> dict[str, Any]:
    """The figures a model card and the console show for a development run."""
    summary = result.summary() if hasattr(result, "summary") else result
    return {
        "incident_f1": summary["incidents"]["f1"],
        "incident_precision": summary["incidents"]["precision"],
        "incident_recall": summary["incidents"]["recall"],
        "slot_f1": summary["slots"]["f1"],
        "grounding_rate": summary["grounding_rate"],
        "failures": summary["failures"],
        "documents": summary["documents"],
    }


def _epoch_line(epoch: dict[str, Any]) -> str:
    return f"- epoch {epoch.get('epoch')}: {json.dumps({k: v for k, v in epoch.items() if k != 'epoch'})}"


def model_card(card: dict[str, Any]) -> str:
    """The model card as Markdown: what the adapter was trained on, how, and what it scored."""
    lines = [
        f"# {card['adapter']}: a LoRA adapter for {card['base_model']}",
        "",
        "Trained by `extract train` to answer the local backend's incident-extraction requests.",
        "",
        "## Served as",
        "",
        *(f"- {k}: `{v}`" for k, v in card["serving"].items()),
        "",
        "## Data",
        "",
        f"- data hash: `{card['data_hash']}`; {card['train_examples']} training examples",
        *(
            f"- {name}: {c['examples']} examples, {c['incidents']} incidents, {c['empty']} with none"
            for name, c in sorted(card["sources"].items())
        ),
        f"- left out: {json.dumps(card['dropped'])}" if card["dropped"] else "- left out: nothing",
        f"- development set: {card['dev_documents']} articles held out by a hash of their id",
        "",
        "## Sources and their terms (from each source's SOURCE.md)",
        "",
        *(f"### {name}\n\n{terms}\n" for name, terms in sorted(card.get("terms", {}).items())),
        "## Training",
        "",
        *(f"- {k}: `{v}`" for k, v in card["options"].items()),
        f"- wall time: {card['wall_seconds']:.0f} s ({card['train_seconds']:.0f} s of steps) on {card['machine']}",
        f"- loss per optimizer step: first {card['losses'][:1]}, last {card['losses'][-1:]}",
        "",
        "## Development figures (after each epoch; the project's scorer)",
        "",
        *(_epoch_line(e) for e in card["epochs"]),
        "",
    ]
    return "\n".join(lines)
