"""The Ray Data engine: a corpus streams through an actor pool, on one machine or a cluster.

Documents are read by the default engine's own reader (:func:`~extract.io.corpus.open_corpus`,
in one Ray read task), so a file or folder gives the same documents, failure records,
duplicate ids and errors on both engines; only what that reader cannot open (a URI such
as ``s3://...``, a folder of Parquet files, or any ``ray.data.Dataset`` a caller builds)
is read with Ray's own readers. The documents flow through ``map_batches`` on a pool of
:class:`ExtractActor`. Each actor builds one backend
client (so one connection pool) and runs its batch on its own event loop with at
most ``concurrency`` documents in flight, through the same
:func:`~extract.core.pipeline.aextract_document` as the default engine. Results
stream back to the driver, which appends them to the same JSON Lines run file
with the same writer, so records, failure records and resume are those of the
default engine.

- **Resume**: ids already in the run file are handed to every actor, which skips
  them before any model call (``--retry-failed`` as in the default engine).
- **One rate budget for the cluster**: ``rpm``/``tpm`` live in one small Ray actor
  (:class:`TokenBucket`); every backend on every node reserves from it.
- **Faults**: an actor process that dies is restarted by Ray, which runs its
  unfinished batches again (and finished ones whose results died with it); a
  batch's results reach the driver only when the whole batch is done, so a killed
  batch writes nothing, and the driver also refuses a second record for an id in
  one run. What a rerun batch had already been answered is asked again unless the
  response cache (on a shared file system) holds it; with the cache, only the
  requests in flight at the moment of the kill are repeated.
- **Response cache**: every actor opens the same cache directory. On one machine or
  on a shared file system (NFS, a mounted bucket) a document answered on one node is
  a cache hit on every other. Without a shared file system each node keeps its own
  cache: nothing breaks, but a document retried on another node is asked again, and
  a re-run hits only what that node itself saw.

The engine takes the run's :class:`~extract.engines.config.RunConfig`, as the default engine
does; the actors get the same configuration and build their backend from its recipe.

Ray is optional (``pip install 'incident-extract[ray]'``); this module imports it
when used.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from extract.backends import DEFAULT_BACKEND
from extract.core.errors import ConfigError, ExtractError
from extract.core.pipeline import aextract_document
from extract.core.records import Document, DocumentResult, Failure, Status
from extract.core.secrets import backend_secrets, redacting_logs
from extract.engines import ray_reaper
from extract.engines.config import OnResult, OnStart, RayEngine, RunConfig
from extract.engines.recipe import default_cache_dir
from extract.io.corpus import DUPLICATE_ID, BadDocument, Corpus, CorpusItem, IdBook, open_corpus
from extract.io.formats.hf_datasets import is_saved_dataset
from extract.io.output import RunWriter, read_run, run_state
from extract.io.rows import STREAM_BATCH_ROWS, Fields, row_item
from extract.runner import Prices, RunSummary, bad_document_result, freeze_heap, thaw_heap
from extract.transport import RateLimiter

#: Columns of the rows the actors return to the driver.
RESULT_COLUMNS = ("id", "status", "record")
SKIPPED = "skipped"
#: The one column of the rows read by the corpus reader: each row is one item, as JSON (see :func:`encode_item`).
ITEM = "__item__"


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError(
            "the ray engine needs Ray", hint="pip install 'incident-extract[ray]' (or --engine local)"
        ) from None
    return ray


# -- one rate budget for the whole cluster -------------------------------------------------------------------------


class TokenBucket:
    """Requests and tokens per minute, refilled continuously; run as one Ray actor that every backend asks.

    :meth:`reserve` takes what a request needs and returns 0.0, or returns how long to
    wait before asking again and takes nothing.
    """

    def __init__(self, rpm: float | None, tpm: float | None):
        self.rpm = float(rpm or 0)
        self.tpm = float(tpm or 0)
        self.requests = self.rpm
        self.tokens = self.tpm
        self.stamp = time.monotonic()
        self.granted = 0

    def reserve(self, tokens: float = 0.0) -> float:
        now = time.monotonic()
        elapsed, self.stamp = now - self.stamp, now
        if self.rpm:
            self.requests = min(self.rpm, self.requests + elapsed * self.rpm / 60)
        if self.tpm:
            self.tokens = min(self.tpm, self.tokens + elapsed * self.tpm / 60)
            tokens = min(tokens, self.tpm)
        wait = 0.0
        if self.rpm and self.requests < 1:
            wait = (1 - self.requests) * 60 / self.rpm
        if self.tpm and self.tokens < tokens:
            wait = max(wait, (tokens - self.tokens) * 60 / self.tpm)
        if wait > 0:
            return wait
        if self.rpm:
            self.requests -= 1
        if self.tpm:
            self.tokens -= tokens
        self.granted += 1
        return 0.0

    def stats(self) -> dict[str, float]:
        return {"granted": self.granted, "rpm": self.rpm, "tpm": self.tpm}


class SharedRateLimiter(RateLimiter):
    """A :class:`~extract.transport.RateLimiter` whose budget is the cluster's :class:`TokenBucket` actor."""

    def __init__(self, bucket: Any, rpm: float | None, tpm: float | None):
        super().__init__(rpm, tpm)
        self._bucket = bucket

    async def acquire(self, tokens: float = 0.0) -> None:
        while (wait := await self._bucket.reserve.remote(tokens)) > 0:
            await asyncio.sleep(wait)


# -- the actor -----------------------------------------------------------------------------------------------------


class ExtractActor:
    """One backend client and one event loop; extracts a batch of rows with ``concurrency`` in flight."""

    def __init__(self, config: RunConfig, done: list[Any], bucket: Any = None, origin: str = "<dataset>"):
        ray = _ray()
        self.config = config
        self.origin = origin
        # ``done`` is a one-element list holding an object ref, so Ray does not resolve it per batch.
        self.done: frozenset[str] = ray.get(done[0]) if done else frozenset()
        limiter = SharedRateLimiter(bucket, config.pace.rpm, config.pace.tpm) if bucket is not None else None
        self.backend = config.build_backend(limiter, check=False)
        self.extract_config = config.extract_config(self.backend)
        self.fields = Fields(config.reading.id_field, config.reading.text_field)
        self.loop = asyncio.new_event_loop()
        # What the actor logs goes to Ray's worker logs, which outlive the run: the backend's
        # secrets are redacted from it as from the driver's, for as long as the actor lives.
        self._logs = contextlib.ExitStack()
        self._logs.enter_context(redacting_logs(backend_secrets(self.backend)))
        # The actor's process exists for this job: what is alive now (the client, the SDK, the
        # schema) stays alive, so it is kept out of the collector's passes, as the default
        # engine does for the length of a run, and put back when the actor closes.
        self._logs.callback(thaw_heap, freeze_heap())

    def __call__(self, batch: Any) -> Any:
        import pyarrow as pa

        rows = batch.to_pylist()
        results = self.loop.run_until_complete(self._extract(rows))
        columns: dict[str, list[str]] = {name: [] for name in RESULT_COLUMNS}
        for row in results:
            for name, value in zip(RESULT_COLUMNS, row, strict=True):
                columns[name].append(value)
        return pa.table({name: pa.array(values, pa.string()) for name, values in columns.items()})

    async def _extract(self, rows: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
        gate = asyncio.Semaphore(max(1, self.config.pace.concurrency))

        async def one(row: dict[str, Any]) -> tuple[str, str, str]:
            item = (
                decode_item(row[ITEM])
                if ITEM in row
                else row_item(row, self.fields, self.origin, _fallback_id(row, self.fields)).item
            )
            if item.id in self.done:
                return item.id, SKIPPED, ""
            if isinstance(item, BadDocument):
                result = bad_document_result(item, self.extract_config)
            else:
                async with gate:
                    result = await aextract_document(item, self.extract_config)
            return result.id, result.status.value, result.to_json()

        return await asyncio.gather(*(one(row) for row in rows))

    def close(self) -> None:
        """Close the backend's client, take the log filter off, thaw the heap (Ray calls ``__del__`` at the end)."""
        closer = getattr(self.backend, "aclose", None)
        if closer is not None and not self.loop.is_closed():
            with contextlib.suppress(Exception):
                self.loop.run_until_complete(closer())
                self.loop.close()
        self._logs.close()

    def __del__(self) -> None:
        if hasattr(self, "_logs"):  # a constructor that failed leaves nothing to close
            self.close()


def _fallback_id(row: Mapping[str, Any], fields: Fields) -> str:
    """An id for a row without one: a hash of its text, the same on every node and every run."""
    text = row.get(fields.text)
    digest = hashlib.sha256(str(text).encode("utf-8", "replace")).hexdigest()[:16]
    return f"row-{digest}"


def encode_item(item: CorpusItem) -> str:
    """A corpus item as the JSON text of one row, for the trip from the read task to an actor."""
    if isinstance(item, BadDocument):
        return json.dumps({"bad": dataclasses.asdict(item)})
    return json.dumps({"document": item.model_dump(mode="json")})


def decode_item(text: str) -> CorpusItem:
    """The item :func:`encode_item` wrote."""
    data = json.loads(text)
    return BadDocument(**data["bad"]) if "bad" in data else Document.model_validate(data["document"])


# -- reading a corpus: the default engine's reader, or Ray's for what it does not open -----------------------------


def read_corpus(
    source: Any, *, id_field: str = "id", text_field: str = "text", split: str = "train", limit: int | None = None
) -> tuple[Any, str]:
    """A ``ray.data.Dataset`` of rows for ``source`` and a name for it.

    What the default engine reads (a ``.jsonl``/``.json``/``.csv``/``.parquet`` file, a
    folder of ``.txt``/``.md`` files, a dataset saved with ``save_to_disk``, a Hugging Face
    dataset, a list of dicts) is read by its reader, :func:`~extract.io.corpus.open_corpus`,
    whose checks of the whole source run here, before Ray runs anything; the documents are
    then read in one Ray read task (one pass, so duplicate and made-up ids come out as on
    the default engine), one :data:`ITEM` row each. Otherwise Ray's readers read it: a
    ``ray.data.Dataset``, a URI (``s3://bucket/articles.parquet``, a ``.jsonl``...), or a
    folder of Parquet files; the actors make those rows into documents.
    """
    ray = _ray()
    if isinstance(source, ray.data.Dataset):
        ds, name = source, "<dataset>"
    elif isinstance(source, str | os.PathLike) and ("://" in str(source) or _is_parquet_folder(Path(source))):
        name = str(source)
        ds = _read_uri(ray, name)
    else:
        corpus = open_corpus(source, id_field=id_field, text_field=text_field, split=split, limit=limit)
        return _corpus_dataset(ray, corpus), corpus.name
    if limit is not None:
        ds = ds.limit(limit)
    return ds, name


def _is_parquet_folder(path: Path) -> bool:
    """A folder of Parquet files, which only Ray's reader reads (a saved dataset's folder holds Arrow files)."""
    return path.is_dir() and not is_saved_dataset(path) and any(path.glob("*.parquet"))


def _read_uri(ray: Any, uri: str) -> Any:
    path = uri.rstrip("/")
    if path.endswith(".jsonl"):
        return ray.data.read_json(uri, lines=True)
    if path.endswith(".json"):
        return ray.data.read_json(uri)
    if path.endswith(".csv"):
        return ray.data.read_csv(uri)
    return ray.data.read_parquet(uri)  # a Parquet file or a folder of them


def _corpus_dataset(ray: Any, corpus: Corpus) -> Any:
    """A dataset read by one Ray task that iterates ``corpus`` (shipped to it) a batch of items at a time."""
    from ray.data.block import BlockMetadata
    from ray.data.datasource import Datasource, ReadTask

    def blocks() -> Iterator[Any]:
        import pyarrow as pa

        rows: list[str] = []
        for item in corpus:
            rows.append(encode_item(item))
            if len(rows) >= STREAM_BATCH_ROWS:
                yield pa.table({ITEM: pa.array(rows, pa.large_string())})
                rows = []
        if rows:
            yield pa.table({ITEM: pa.array(rows, pa.large_string())})

    class CorpusDatasource(Datasource):
        def get_name(self) -> str:
            return "Corpus"

        def estimate_inmemory_data_size(self) -> int | None:
            return None

        def get_read_tasks(self, parallelism: int, *_: Any, **__: Any) -> list[Any]:
            metadata = BlockMetadata(num_rows=None, size_bytes=None, input_files=None, exec_stats=None)
            return [ReadTask(blocks, metadata)]

    return ray.data.read_datasource(CorpusDatasource(), override_num_blocks=1)


# -- the driver ----------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def ray_session(address: str | None = None, *, num_cpus: int | None = None) -> Iterator[Any]:
    """Connect to ``address`` (``auto``, ``ray://host:port``...) or start a local Ray instance.

    A local instance listens on 127.0.0.1 only, with no dashboard and no usage statistics, is
    shut down on exit, and dies with this process however it ends (:mod:`extract.engines.ray_reaper`
    ends what the kernel does not). An instance already running in this process is used as it is
    and left running.
    """
    ray = _ray()
    if ray.is_initialized():
        yield ray
        return
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "logging_level": "warning"}
    environment: dict[str, str | None] = {"RAY_USAGE_STATS_ENABLED": "0"}
    with contextlib.ExitStack() as stack:  # on exit: shut Ray down, then let the reaper end what is left
        if address:
            with _environment(environment):
                ray.init(address=address, **kwargs)
            stack.callback(ray.shutdown)
            yield ray
            return
        if ray_reaper.supported():
            reaper, environment[ray_reaper.MARK] = ray_reaper.start_reaper()
            stack.callback(ray_reaper.stop_reaper, reaper)
        # Every process of the instance inherits the mark the reaper looks for; only they do.
        with _environment(environment), _on_loopback():
            ray.init(num_cpus=num_cpus, _node_ip_address=LOOPBACK, **kwargs)
        stack.callback(ray.shutdown)
        node = ray.util.get_node_ip_address()
        if node != LOOPBACK:
            raise ConfigError(
                f"the local Ray instance took the address {node}, not {LOOPBACK}: it would listen on the "
                f"network (Ray {ray.__version__})",
                hint="start Ray yourself and pass --ray-address, or use --engine local",
            )
        yield ray


LOOPBACK = "127.0.0.1"


@contextlib.contextmanager
def _environment(values: Mapping[str, str | None]) -> Iterator[None]:
    """Set environment variables (None: leave unset) for the block, then put back what was there."""
    saved = {name: os.environ.get(name) for name in values}
    try:
        for name, value in values.items():
            if value is not None:
                os.environ[name] = value
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def _on_loopback() -> Iterator[None]:
    """While a local instance starts, Ray takes this machine's address to be 127.0.0.1, so that the GCS, the
    raylet, the agents and the workers listen on loopback only.

    On Linux, Ray (2.x) replaces 127.0.0.1 given as ``_node_ip_address`` by the address other machines reach
    this one at, and its servers then listen on every interface, unless its internal flag
    ``ray._private.ray_constants.ENABLE_RAY_CLUSTER`` is off (as it is on Windows and macOS, where Ray runs
    on one machine). The flag is turned off for the start only and put back. Where it does not exist (another
    Ray), nothing is changed and :func:`ray_session` refuses an instance that did not take 127.0.0.1.
    """
    import importlib

    constants = importlib.import_module("ray._private.ray_constants")
    if not hasattr(constants, "ENABLE_RAY_CLUSTER"):
        yield
        return
    saved = getattr(constants, "ENABLE_RAY_CLUSTER")  # noqa: B009  (a module attribute mypy cannot see)
    setattr(constants, "ENABLE_RAY_CLUSTER", False)  # noqa: B010
    try:
        yield
    finally:
        setattr(constants, "ENABLE_RAY_CLUSTER", saved)  # noqa: B010


def run_corpus(
    source: Any, config: RunConfig, *, on_start: OnStart | None = None, on_result: OnResult | None = None
) -> RunSummary:
    """Extract ``source`` as ``config`` says (its :attr:`~RunConfig.ray` options) into ``config.output.out``.

    Starts a local Ray instance for the run or connects to ``config.ray.address``; the backend is
    built on each actor from the configuration's recipe. ``on_start`` is called with None (a Ray
    dataset does not tell its length before it is read), ``on_result`` with each record the driver
    writes.
    """
    from extract.io.output import RunLock

    if not isinstance(config.extraction.backend, str | None):
        raise ConfigError(
            "the Ray engine builds a backend on each actor, so it takes a backend name, not a built backend"
        )
    engine = config.ray or RayEngine()
    out = config.output.out
    assert out is not None, "the API names the run file"
    # Resolved on the driver, so that every actor on every node uses the same backend and cache.
    cache_dir = str(config.responses.cache_dir or default_cache_dir())
    record = str(config.responses.record) if config.responses.record else None
    shipped = config.replace(backend=config.extraction.backend or DEFAULT_BACKEND, cache_dir=cache_dir, record=record)
    # One run per output (a run file or a folder of parts), as for the local engine (whose runner takes the
    # lock itself).
    with RunLock(out), ray_session(engine.address, num_cpus=engine.num_cpus):
        dataset, origin = read_corpus(source, **dict(config.reading))
        if on_start is not None:
            on_start(None)
        return run_dataset(dataset, shipped, origin=origin, on_result=on_result)


def run_dataset(
    dataset: Any,
    config: RunConfig,
    *,
    origin: str = "<dataset>",
    on_result: OnResult | None = None,
    bucket: Any = None,
    resources: Mapping[str, float] | None = None,
    actor_cpus: float = 0.5,
) -> RunSummary:
    """Extract every row of a ``ray.data.Dataset`` as ``config`` says into its run file ``config.output.out``.

    With ``config.ray.write`` (``"jsonl"`` or ``"parquet"``), ``out`` is a folder that Ray's own writers
    fill with part files, written where the actors run instead of through the driver: JSON
    Lines parts hold the run file's records, line for line; Parquet parts have the columns of
    ``extract run --parquet``. A rerun with the same folder resumes from every part in it.

    Needs a running Ray session (:func:`ray_session`, or the caller's ``ray.init``).
    ``actors`` backends run at once, each with ``concurrency`` documents in flight,
    on batches of ``batch_size`` rows (default: four times ``concurrency``, so an
    actor's slots stay busy across the tail of a batch). The run file, its resume and
    its failure records are those of the default engine. ``origin`` names the rows in failure
    messages. ``bucket``: a :class:`TokenBucket` actor to share with other runs (default: one
    made for this run from ``rpm``/``tpm``).
    ``resources``: custom Ray resources each actor needs, e.g. ``{"vllm": 1}`` on a cluster
    whose nodes were started with ``ray start --resources='{"vllm": 1}'`` next to their own
    model server, so that each actor lands on a node with a server and ``base_url`` can be
    ``http://127.0.0.1:8000/v1``.
    """
    ray = _ray()
    engine, pace, output, backend = config.ray or RayEngine(), config.pace, config.output, config.extraction.backend
    if output.out is None:
        raise ConfigError("run_dataset needs the run file: give the configuration an out")
    if not isinstance(backend, str | None):
        raise ConfigError("the Ray engine builds a backend on each actor, so it takes a backend name")
    out, write, rpm, tpm = Path(output.out), engine.write, pace.rpm, pace.tpm
    prices = Prices.from_file(output.prices, config.extraction.model or "") if output.prices else None
    done: set[str] = set()
    failed_before: set[str] = set()
    if output.resume and out.exists():
        written, failed_before = part_state(out) if write else run_state(out)
        done = written - failed_before if output.retry_failed else written
    if not output.resume and out.exists():
        if out.is_dir():
            for part in _parts(out):
                part.unlink()
        else:
            os.truncate(out, 0)  # in place: the run lock is on this file (see RunLock)

    name, model = backend or "", config.extraction.model or ""
    if backend != "local":  # fail fast, once, on the driver (the local model would load here)
        probe = config.build_backend(check=True)
        name, model = probe.name, probe.model
    summary = RunSummary(out=str(out), backend=name, model=model)

    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = engine.progress
    context.print_on_execution_start = False
    own_bucket = bucket is None and bool(rpm or tpm)
    if own_bucket:
        bucket = ray.remote(num_cpus=0)(TokenBucket).remote(rpm, tpm)
    done_ref = ray.put(frozenset(done))
    mapped = dataset.map_batches(
        ExtractActor,
        fn_constructor_kwargs={"config": config, "done": [done_ref], "bucket": bucket, "origin": origin},
        batch_size=engine.batch_size or max(1, 4 * pace.concurrency),
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=engine.actors),
        num_cpus=actor_cpus,
        resources=dict(resources) if resources else None,
        # Ray Data restarts a dead actor process and runs its unfinished batches again
        # (its defaults for actor pools: max_restarts=-1, max_task_retries=-1).
    )
    started = time.perf_counter()
    quiet = contextlib.ExitStack()
    quiet.enter_context(_errors_off_the_console("ray.data"))
    if not engine.progress:
        quiet.enter_context(_log_level("ray.data", logging.WARNING))
    writer = None if write else RunWriter(out)
    try:
        if write:
            _write_parts(ray, mapped, out, write, summary, done, failed_before)
        else:
            assert writer is not None
            _drain(mapped, writer, summary, failed_before, on_result, origin)
    except Exception as exc:
        raise _unwrap(ray, exc) from None
    finally:
        quiet.close()
        if writer is not None:
            writer.close()
        summary.seconds = time.perf_counter() - started
        summary.cost = prices.cost(summary.usage) if prices else None
        if own_bucket:
            ray.kill(bucket)
    return summary


def _drain(
    mapped: Any,
    writer: RunWriter,
    summary: RunSummary,
    failed_before: set[str],
    on_result: Callable[[DocumentResult], None] | None,
    origin: str,
) -> None:
    """Append the actors' results to the run file as they stream back to the driver, an id at most once.

    Rows that Ray's readers read (not the corpus reader, whose ids are unique) may repeat an
    id: the later result becomes a ``duplicate_id`` failure record under an id of its own.
    """
    book = IdBook(None)
    for batch in mapped.iter_batches(batch_format="pyarrow", batch_size=None):
        for doc_id, status, record in zip(*(batch.column(c).to_pylist() for c in RESULT_COLUMNS), strict=True):
            if status == SKIPPED:
                summary.skipped += 1
                summary.skipped_failed += doc_id in failed_before
                continue
            result = DocumentResult.model_validate_json(record)
            written_id, earlier = book.enter(doc_id, False, origin)
            if earlier is not None:
                result = _duplicate(result, written_id, origin)
            writer.write(result)
            summary.add(result)
            if on_result:
                on_result(result)


def _duplicate(result: DocumentResult, new_id: str, origin: str) -> DocumentResult:
    """The failure record of a row whose id an earlier row had; what its extraction cost is kept."""
    message = (
        f"{origin}: duplicate id {result.id!r}: an earlier row has it; this row's result is not kept "
        "(give every document its own id)"
    )
    return DocumentResult(
        id=new_id,
        status=Status.FAILED,
        failure=Failure(reason=DUPLICATE_ID, message=message),
        usage=result.usage,
        provenance=result.provenance,
    )


# -- output written by Ray's writers ----------------------------------------------------------------------------


def _run_file_datasink(path: str) -> Any:
    """A Ray datasink writing each block's records as JSON Lines, exactly the run file's lines."""
    from ray.data.datasource import BlockBasedFileDatasink

    class RunFileDatasink(BlockBasedFileDatasink):
        def __init__(self, path: str):
            super().__init__(path, file_format="jsonl")

        def write_block_to_file(self, block: Any, file: Any) -> None:
            table = block.to_arrow()
            pairs = zip(table.column("status").to_pylist(), table.column("record").to_pylist(), strict=True)
            file.write("".join(line + "\n" for status, line in pairs if status != SKIPPED).encode("utf-8"))

    return RunFileDatasink(path)


def _as_parquet_rows(batch: Any) -> Any:
    """The columns of ``extract run --parquet`` for a batch of results."""
    import pyarrow as pa

    from extract.io.output import _parquet_row, _parquet_schema

    pairs = zip(batch.column("status").to_pylist(), batch.column("record").to_pylist(), strict=True)
    rows = [_parquet_row(DocumentResult.model_validate_json(r)) for status, r in pairs if status != SKIPPED]
    return pa.Table.from_pylist(rows, schema=_parquet_schema())


def _parts(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in (".jsonl", ".parquet"))


def part_state(folder: str | Path) -> tuple[set[str], set[str]]:
    """The ids in a folder of part files, and those whose record is a failure (as :func:`run_state`)."""
    import pyarrow.parquet as pq

    written: set[str] = set()
    failed: set[str] = set()
    for part in _parts(Path(folder)):
        if part.suffix == ".jsonl":
            ids, bad = run_state(part)
        else:
            table = pq.read_table(part, columns=["id", "status"])
            pairs = list(zip(table.column("id").to_pylist(), table.column("status").to_pylist(), strict=True))
            ids = {i for i, _ in pairs}
            bad = {i for i, status in pairs if status == "failed"}
        failed = (failed - ids) | bad
        written |= ids
    return written, failed


def _write_parts(
    ray: Any, mapped: Any, out: Path, write: str, summary: RunSummary, done: set[str], failed_before: set[str]
) -> None:
    """Write the results with Ray's writers; fill ``summary`` from the parts this run added."""
    import pyarrow.parquet as pq

    out.mkdir(parents=True, exist_ok=True)
    before = set(_parts(out))
    # The driver sees no row here, so "skipped" counts the ids already in the folder that this
    # run did not extract again (the documents the actors skipped, when the corpus is the same).
    summary.skipped = len(done)
    summary.skipped_failed = len(done & failed_before)
    if write == "jsonl":
        mapped.write_datasink(_run_file_datasink(str(out)))
    else:
        mapped.map_batches(_as_parquet_rows, batch_format="pyarrow").write_parquet(str(out))
    for part in sorted(set(_parts(out)) - before):
        if part.suffix == ".jsonl":
            for result in read_run(part):
                summary.add(result)
            continue
        table = pq.read_table(part)
        for row in table.to_pylist():
            summary.documents += 1
            summary.ok += row["status"] == "ok"
            summary.partial += row["status"] == "partial"
            if row["status"] == "failed":
                summary.failed += 1
                summary.failures[row["failure_reason"] or "unknown"] += 1
            summary.incidents += row["n_incidents"]


@contextlib.contextmanager
def _log_level(name: str, level: int) -> Iterator[None]:
    """Ray Data logs every execution at INFO; keep it out of the user's terminal for the run, then restore."""
    logger = logging.getLogger(name)
    saved = logger.level
    logger.setLevel(max(level, saved))
    try:
        yield
    finally:
        logger.setLevel(saved)


@contextlib.contextmanager
def _errors_off_the_console(name: str) -> Iterator[None]:
    """Keep the logger's errors off the terminal for the run, then restore; its log file keeps them.

    Ray Data logs an error that stops the run (a corpus found broken part-way, a refused key)
    with pages of traceback before the run raises it; the caller shows it as one line instead.
    """

    def below_error(record: logging.LogRecord) -> bool:
        return record.levelno < logging.ERROR

    consoles = [h for h in logging.getLogger(name).handlers if isinstance(h, logging.StreamHandler)]
    for handler in consoles:
        handler.addFilter(below_error)
    try:
        yield
    finally:
        for handler in consoles:
            handler.removeFilter(below_error)


def _unwrap(ray: Any, exc: BaseException) -> BaseException:
    """The package's own error inside a Ray task error (a refused key stops the run with one line).

    Ray re-raises a task's error as a class derived from both its own error and the task's
    (an ``InputError`` from the read task arrives as one, its message a traceback), with the
    original in ``cause``: the innermost package error is the one raised on purpose. Ray Data
    appends its retry advice to that error's text, which is put back to the error's own line.
    """
    seen = 0
    found: ExtractError | None = None
    cause: BaseException | None = exc
    while cause is not None and seen < 10:
        if isinstance(cause, ExtractError):
            found = cause
        inner = getattr(cause, "cause", None)
        cause = inner if isinstance(inner, BaseException) else (cause.__cause__ or cause.__context__)
        seen += 1
    if found is None:
        return exc
    found.args = (found.one_line(),)
    return found
