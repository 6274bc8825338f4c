"""Batch runs: stream a corpus through the pipeline, many documents at once, and resume.

The runner wraps :func:`extract.core.pipeline.aextract_document`; it never reaches
inside it. Documents are read lazily and handed to ``concurrency`` workers through
a bounded queue, so memory stays flat however large the corpus. Each result is
appended to the output as one whole line the moment it is ready, so a run killed
part-way loses nothing but the documents in flight, and a second run with the same
output skips the documents already written (no duplicate records, no repeated
model calls).

One bad document never stops a batch: it becomes a failure record. Only errors
that would fail every document alike (a refused API key, an unknown model) stop
the run, with the output kept for a later resume.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import json
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from extract.core.aio import run_sync
from extract.core.errors import ConfigError, ExtractError, InputError
from extract.core.injection import INJECTION_FLAG
from extract.core.pipeline import ExtractConfig, aextract_document, failure_result
from extract.core.records import DocumentResult, Status, Usage
from extract.io.corpus import DUPLICATE_ID, BadDocument, CorpusItem
from extract.io.output import RunLock, RunWriter, run_state


@dataclass(frozen=True)
class Prices:
    """Prices per million tokens, for a cost estimate."""

    input_per_million: float
    output_per_million: float

    def cost(self, usage: Usage) -> float:
        return (usage.prompt_tokens * self.input_per_million + usage.completion_tokens * self.output_per_million) / 1e6

    @staticmethod
    def from_file(path: str | Path, model: str) -> Prices:
        """Read ``{"model": {"input": 0.15, "output": 0.60}, ...}`` (USD per million tokens)."""
        return Prices.from_table(load_price_table(path), model, path)

    @staticmethod
    def from_table(table: dict[str, Any], model: str, path: str | Path = "the price table") -> Prices:
        entry = table.get(model) or table.get("*")
        if not isinstance(entry, dict) or "input" not in entry or "output" not in entry:
            raise ConfigError(
                f"{path}: no prices for model {model!r}", hint='add {"MODEL": {"input": X, "output": Y}} or a "*" entry'
            )
        return Prices(float(entry["input"]), float(entry["output"]))


def load_price_table(path: str | Path) -> dict[str, Any]:
    try:
        table = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the price table: {exc}") from None
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: the price table must be a JSON object of models")
    return table


@dataclass
class RunSummary:
    """What a run did, for the one-screen summary and for ``extract eval``."""

    out: str
    documents: int = 0
    skipped: int = 0
    #: Documents skipped on resume whose earlier record is a failure.
    skipped_failed: int = 0
    #: Documents whose id repeats an earlier document's (each has a ``duplicate_id`` failure record).
    duplicates: int = 0
    ok: int = 0
    partial: int = 0
    failed: int = 0
    incidents: int = 0
    rejected: int = 0
    cached: int = 0
    usage: Usage = field(default_factory=Usage)
    failures: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    cost: float | None = None
    backend: str = ""
    model: str = ""
    #: Whether the bundled test-sized model answered (its scores say the pipeline works, not more).
    bundled: bool = False
    #: Where the Parquet copy went, if one was asked for.
    parquet: str | None = None
    #: Documents whose record carries the injection_suspected flag (text addressed to the model).
    injection_suspected: int = 0

    def add(self, result: DocumentResult) -> None:
        self.documents += 1
        self.usage = self.usage + result.usage
        self.cached += int(result.usage.cached)
        if result.status is Status.FAILED:
            self.failed += 1
            reason = result.failure.reason if result.failure else "unknown"
            self.failures[reason] += 1
            self.duplicates += reason == DUPLICATE_ID
        else:
            self.ok += result.status is Status.OK
            self.partial += result.status is Status.PARTIAL
        self.incidents += len(result.incidents)
        self.rejected += len(result.rejected)
        self.injection_suspected += INJECTION_FLAG in result.flags

    @property
    def docs_per_second(self) -> float:
        return self.documents / self.seconds if self.seconds else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "out": self.out,
            "backend": self.backend,
            "model": self.model,
            "documents": self.documents,
            "skipped": self.skipped,
            "skipped_failed": self.skipped_failed,
            "duplicates": self.duplicates,
            "ok": self.ok,
            "partial": self.partial,
            "failed": self.failed,
            "failures": dict(self.failures),
            "incidents": self.incidents,
            "rejected": self.rejected,
            "cached": self.cached,
            "requests": self.usage.requests,
            "prompt_tokens": self.usage.prompt_tokens,
            "completion_tokens": self.usage.completion_tokens,
            "seconds": round(self.seconds, 3),
            "docs_per_second": round(self.docs_per_second, 3),
            "cost": self.cost,
            "injection_suspected": self.injection_suspected,
        }


Item = CorpusItem


def bad_document_result(item: BadDocument, config: ExtractConfig) -> DocumentResult:
    """The failure record of an item that could not become a document (every engine writes this one)."""
    error = InputError(f"{item.origin}: {item.reason}" if item.origin else item.reason)
    error.reason = item.kind
    return failure_result(item.id, config, error)


def freeze_heap() -> bool:
    """Move every object alive now out of the cyclic collector's reach, for the length of a batch.

    A batch allocates many short-lived objects per request, and every few hundred requests
    the collector's oldest generation traverses the whole heap (the model client's and the
    SDK's classes included): one such pass blocked the event loop for 140-160 ms of CPU in a
    1,000-request run, time every request in flight waited for (``benchmarks/bench_transport.py``
    measures it). Frozen objects are still freed by reference counting; :func:`thaw_heap`
    puts them back. Returns False, and does nothing, when the caller froze objects itself or
    turned the collector off, so their choice stands.
    """
    if gc.get_freeze_count() or not gc.isenabled():
        return False
    gc.freeze()
    return True


def thaw_heap(frozen: bool) -> None:
    """Undo :func:`freeze_heap`."""
    if frozen:
        gc.unfreeze()


async def arun(
    corpus: Iterable[Item],
    config: ExtractConfig,
    out: str | Path,
    *,
    concurrency: int = 1,
    resume: bool = True,
    retry_failed: bool = False,
    prices: Prices | None = None,
    on_result: Callable[[DocumentResult], None] | None = None,
) -> RunSummary:
    """Extract every document of ``corpus`` into the JSON Lines file ``out``.

    With ``retry_failed``, documents whose record in ``out`` is a failure are extracted
    again and their new record appended; readers of a run file keep the last record of
    an id.
    """
    out = Path(out)
    lock = RunLock(out).acquire()  # before reading or deleting the file: one run per output
    try:
        return await _arun(
            corpus, config, out, concurrency=concurrency, resume=resume, retry_failed=retry_failed,
            prices=prices, on_result=on_result,
        )  # fmt: skip
    finally:
        lock.release()


async def _arun(
    corpus: Iterable[Item],
    config: ExtractConfig,
    out: Path,
    *,
    concurrency: int,
    resume: bool,
    retry_failed: bool,
    prices: Prices | None,
    on_result: Callable[[DocumentResult], None] | None,
) -> RunSummary:
    done: set[str] = set()
    failed_before: set[str] = set()
    if resume and out.exists():
        written, failed_before = run_state(out)
        done = written - failed_before if retry_failed else written
    if not resume and out.exists():
        os.truncate(out, 0)  # in place: the run lock is on this file (see RunLock)
    # A document tried again must not be answered by the cached reply that failed it.
    retry_config = config
    fresh = getattr(config.backend, "without_cached_failures", None)
    if retry_failed and failed_before and callable(fresh):
        retry_config = dataclasses.replace(config, backend=fresh())
    summary = RunSummary(out=str(out), backend=config.backend.name, model=config.backend.model)
    writer = RunWriter(out)
    frozen = freeze_heap()
    queue: asyncio.Queue[Item | None] = asyncio.Queue(maxsize=max(2, 2 * concurrency))
    started = time.perf_counter()
    fatal: list[ExtractError] = []

    def emit(result: DocumentResult) -> None:
        writer.write(result)
        summary.add(result)
        if on_result:
            on_result(result)

    async def worker() -> None:
        while True:
            item = await queue.get()
            try:
                if item is None:
                    return
                if fatal:
                    continue  # drain, so the reader is never left blocked
                if isinstance(item, BadDocument):
                    emit(bad_document_result(item, config))
                    continue
                emit(await aextract_document(item, retry_config if item.id in failed_before else config))
            except ExtractError as exc:  # affects every document alike (or the output is unwritable): stop
                fatal.append(exc)
            except Exception as exc:  # anything else must stop the run too, never leave the reader waiting
                fatal.append(_aborted(exc, item))
            finally:
                queue.task_done()

    workers = [asyncio.create_task(worker()) for _ in range(max(1, concurrency))]
    try:
        for item in corpus:
            if fatal:
                break
            if item.id in done:
                summary.skipped += 1
                summary.skipped_failed += item.id in failed_before
                continue
            done.add(item.id)
            await queue.put(item)
        for _ in workers:
            await queue.put(None)
        await asyncio.gather(*workers)
    finally:
        thaw_heap(frozen)  # first: whatever the closing below raises, the collector sees the heap again
        for task in workers:
            task.cancel()
        await config.backend.aclose()
        writer.close()
        summary.seconds = time.perf_counter() - started
        summary.cost = prices.cost(summary.usage) if prices else None
    if fatal:
        raise fatal[0]
    return summary


def _aborted(exc: Exception, item: Item | None) -> ExtractError:
    """An unexpected exception in a worker, as the one-line error that ends the run."""
    where = f" at document {item.id}" if item is not None else ""
    text = " ".join(str(exc).split())[:300]
    error = ExtractError(
        f"the run stopped{where}: unexpected {type(exc).__name__}: {text}",
        hint="the records written are kept; run the same command again to resume, and please report this",
    )
    error.reason = "unexpected"
    return error


def run(corpus: Iterable[Item], config: ExtractConfig, out: str | Path, **kwargs: Any) -> RunSummary:
    """:func:`arun` for synchronous callers."""
    return run_sync(arun(corpus, config, out, **kwargs))
