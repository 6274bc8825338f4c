"""Run output: one JSON line per :class:`~extract.core.records.DocumentResult`, appended.

The run file is append-only. Each record goes out as one complete line in one
``os.write`` on a descriptor opened with ``O_APPEND``, so a run killed at any
moment (SIGKILL included) leaves whole lines, at worst followed by one unfinished
last line. Readers ignore such a last line and :class:`RunWriter` cuts it off
before appending, so a resumed run continues on a clean line boundary. A bad line
anywhere else is real damage and raises :class:`~extract.core.errors.InputError`
naming ``file:line``. The reader is :mod:`extract.core.runfile`, shared with the scorer.

The same document may appear more than once (a failure retried on resume); the
later record wins.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import glob
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

from pydantic import TypeAdapter

from extract.core.errors import ConfigError, InputError, OutputError
from extract.core.records import DocumentResult, EvidenceSpan, Status
from extract.core.runfile import BadLine, iter_results, parse_result, read_results
from extract.core.schema import Incident

_INCIDENTS = TypeAdapter(list[Incident])
_EVIDENCE = TypeAdapter(list[EvidenceSpan])


class RunWriter:
    """Append :class:`DocumentResult` records to a JSON Lines run file, one whole line per write.

    Opening repairs an interrupted last line (see :func:`repair_run`); ``repaired``
    holds the number of bytes cut off. Safe to share between threads. With
    ``fsync=True`` every record is forced to disk before :meth:`write` returns.
    """

    def __init__(self, path: str | os.PathLike[str], *, fsync: bool = False):
        self.path = Path(path)
        self.fsync = fsync
        self.written = 0
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.repaired = repair_run(self.path)
            self._fd: int | None = os.open(
                self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644
            )
        except OSError as exc:
            why = exc.strerror or exc
            raise ConfigError(f"{self.path}: cannot open the run file ({why}); choose another output path") from None

    def write(self, result: DocumentResult) -> None:
        """Append one record as one line.

        A write that fails (a full disk, a file size limit, an I/O error) raises
        :class:`OutputError` after cutting off the part of the line it wrote, so the
        file keeps whole lines only and a later run resumes from them.
        """
        data = (result.to_json() + "\n").encode("utf-8")
        with self._lock:
            if self._fd is None:
                raise ValueError(f"{self.path}: the run writer is closed")
            view = memoryview(data)
            try:
                # One write normally takes it all; a short write (disk nearly full, a signal)
                # is finished here rather than leaving half a line for the next record to join.
                while view:
                    view = view[os.write(self._fd, view) :]
                if self.fsync:
                    os.fsync(self._fd)
            except OSError as exc:
                # Cut off the part of this line that was written (it is at the end: O_APPEND, and the run
                # lock keeps other writers out). Found here rather than by a stat before every write.
                with contextlib.suppress(OSError):
                    partial = len(data) - len(view)
                    if partial:
                        os.ftruncate(self._fd, os.fstat(self._fd).st_size - partial)
                raise OutputError(
                    f"{self.path}: cannot write the run file ({exc.strerror or exc}) after {self.written} record(s); "
                    "the records written are kept",
                    hint="free some space or choose another --out, then run the same command again to resume",
                ) from None
            self.written += 1

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def __enter__(self) -> RunWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class RunLock:
    """An exclusive lock on a run file (or a folder of part files), held for as long as a run writes it.

    Every name of the output finds the same lock, because the lock is on the real file, not
    on the name given: ``flock`` on a hidden file beside the output's real path
    (``.NAME.lock``, symbolic links resolved), and, for a file, also on the output itself,
    which a hard link (a name in another folder, beside another lock file) shares. The hidden
    file is opened by nothing else, so its lock holds even where ``flock`` is emulated with
    locks that closing any descriptor of the file drops (NFS); the holder writes its process
    id into it, so that a second run can say which process holds the file. The output is
    created when missing, so that there is a file to lock, and a run with ``--overwrite``
    empties it in place rather than deleting it, so that the locked file stays the output.
    The kernel drops the locks when the process ends, however it ends (SIGKILL included), so
    a stale lock file is harmless.
    """

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        real = self.path.resolve()
        self.lock_path = real.with_name(f".{real.name}.lock")
        self._fds: list[int] = []

    def acquire(self) -> RunLock:
        try:
            self.lock_path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
        except OSError as exc:
            why = exc.strerror or exc
            raise ConfigError(
                f"{self.path}: cannot create its lock file {self.lock_path} ({why}); choose another --out"
            ) from None
        self._take(fd, says_who=True)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        if not self.path.is_dir():  # a folder of parts cannot have a second (hard) name
            try:
                out = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
            except OSError as exc:
                self.release()
                why = exc.strerror or exc
                raise ConfigError(f"{self.path}: cannot open the run file ({why}); choose another --out") from None
            self._take(out, says_who=False)  # held under another name, whose lock file says who
        return self

    def _take(self, fd: int, *, says_who: bool) -> None:
        """Lock ``fd`` and keep it; on failure close it, release what is held, and say who holds the file."""
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            who = os.pread(fd, 64, 0).decode("ascii", "replace").strip() if says_who else ""
            os.close(fd)
            self.release()
            if exc.errno not in (errno.EWOULDBLOCK, errno.EACCES, errno.EAGAIN):
                raise ConfigError(f"{self.path}: cannot lock the run file ({exc.strerror or exc})") from None
            raise ConfigError(
                f"{self.path}: another run ({f'process {who}' if who.isdigit() else 'another process'}) "
                "is writing this file",
                hint="wait for it to end, or choose another --out",
            ) from None
        self._fds.append(fd)

    def release(self) -> None:
        if self._fds:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fds[0], 0)  # the lock file's process id
        for fd in self._fds:
            os.close(fd)  # closing the descriptor drops its flock
        self._fds = []

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


def prepare_output(path: str | os.PathLike[str], option: str = "--out", *, folder: bool = False) -> Path:
    """Create the folder an output goes in; a one-line :class:`ConfigError` when that cannot be done.

    The output is a file, or with ``folder=True`` a folder (which must not be a file already).
    """
    target = Path(path)
    if folder and target.exists() and not target.is_dir():
        raise ConfigError(f"{target}: {option} exists and is not a folder; choose another {option}")
    if not folder and target.is_dir():
        raise ConfigError(f"{target}: {option} is a folder; give the path of a file")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        blocker = next((p for p in target.parents if p.exists() and not p.is_dir()), target.parent)
        raise ConfigError(
            f"{target}: cannot write {option} there: {blocker} is a file, not a folder", hint="choose another path"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{target}: cannot create the folder of {option} ({exc.strerror or exc})") from None
    if not os.access(target.parent, os.W_OK | os.X_OK):
        raise ConfigError(f"{target}: cannot write {option} there (no permission on {target.parent})")
    return target


@contextlib.contextmanager
def staged_output(path: str | os.PathLike[str], option: str = "--out") -> Iterator[Path]:
    """Write an output (a file or a folder) beside its path, and put it in place only once it is whole.

    Yields a path in a hidden work folder beside the output (``.NAME.PID.partial``): the caller
    writes the file or folder there, and may keep scratch files in the same folder. When the
    block ends, what was written takes the output's place by a rename (a folder: the old one is
    moved aside first, then removed), so an earlier output stays whole until then and a reader
    never finds half of one. When the block raises (Ctrl-C included), the output is left as it
    was and the work folder is removed; a process killed outright leaves only its work folder,
    which the next write of the same output removes. A write that fails (a full disk, a file
    size limit, a read-only folder) is an :class:`OutputError` of one line naming the output.
    Through a link, the file or folder it points to is replaced.
    """
    shown = Path(path)
    target = Path(os.path.realpath(shown))
    work = target.with_name(f".{target.name}.{os.getpid()}.partial")
    try:
        _clear_leftovers(target)
        work.mkdir(parents=True)
        yield work / target.name
        _put_in_place(work / target.name, target, _aside(work, target))
    except OSError as exc:
        raise OutputError(
            f"{shown}: cannot write {option} ({exc.strerror or exc}); {shown} is left as it was",
            hint=f"free some space or choose another {option}, then run the command again",
        ) from None
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _clear_leftovers(target: Path) -> None:
    """Remove the work folders that writes of this output left when their process was killed outright."""
    for folder in target.parent.glob(f".{glob.escape(target.name)}.*.partial"):
        pid = folder.name[len(target.name) + 2 : -len(".partial")]
        if not pid.isdigit() or (int(pid) != os.getpid() and _running(int(pid))):
            continue
        previous = _aside(folder, target)
        if previous.exists() and not target.exists():  # killed between the two renames of a folder swap
            os.replace(previous, target)
        shutil.rmtree(folder, ignore_errors=True)


def _aside(work: Path, target: Path) -> Path:
    """Where a folder swap moves the earlier output: in the work folder, under a name unlike the new one's."""
    return work / f"{target.name}.previous"


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _put_in_place(staged: Path, target: Path, previous: Path) -> None:
    """Rename what was written onto the output; a folder is swapped with the earlier one (moved to ``previous``)."""
    if staged.is_dir() and target.is_dir():
        os.replace(target, previous)  # a rename cannot put a folder over one that holds files
        try:
            os.replace(staged, target)
        except OSError:
            os.replace(previous, target)
            raise
    else:
        os.replace(staged, target)


def repair_run(path: str | os.PathLike[str]) -> int:
    """Cut off an interrupted last line of a run file; return how many bytes were removed.

    An unterminated last line that is not JSON is what a kill mid-write leaves; it is
    removed so that appending starts on a fresh line. A record that lacks its newline
    is complete, and only gets the newline. Any other last line that is not a record
    (:func:`~extract.core.runfile.parse_result`) was not left by a kill: it is an
    :class:`InputError` naming the line, and nothing is touched.
    """
    path = Path(path)
    if not path.is_file():
        return 0
    with open(path, "rb+") as fh:
        size = fh.seek(0, os.SEEK_END)
        if size == 0:
            return 0
        start = _last_line_start(fh, size)
        fh.seek(start)
        line = fh.read()
        terminated = line.endswith(b"\n")
        if not line.strip() and terminated:
            return 0  # a blank last line is harmless
        try:
            parse_result(line)
        except BadLine as bad:
            if terminated or not bad.cut_off:
                fh.seek(0)
                lineno = sum(block.count(b"\n") for block in iter(lambda: fh.read(1 << 20), b"")) + (not terminated)
                raise InputError(f"{path}:{lineno}: {bad}") from None
            fh.truncate(start)
            return size - start
        if not terminated:
            fh.write(b"\n")
        return 0


def _last_line_start(fh: Any, size: int) -> int:
    """Offset where the last line starts (the final newline belongs to the last line)."""
    end = size - 1  # skip the last line's own newline, if any
    block = 1 << 16
    while end > 0:
        begin = max(0, end - block)
        fh.seek(begin)
        chunk = fh.read(end - begin)
        newline = chunk.rfind(b"\n")
        if newline >= 0:
            return begin + newline + 1
        end = begin
    return 0


def run_state(path: str | os.PathLike[str]) -> tuple[set[str], set[str]]:
    """In one read of a run file: the ids written, and those whose latest record is a failure."""
    written: set[str] = set()
    failed: set[str] = set()
    if not Path(path).exists():
        return written, failed
    for _, result in iter_results(path):
        written.add(result.id)
        if result.status is Status.FAILED:
            failed.add(result.id)
        else:
            failed.discard(result.id)
    return written, failed


def completed_ids(path: str | os.PathLike[str], *, include_failed: bool = True) -> set[str]:
    """Ids already written to a run file (empty when it does not exist), for resuming.

    With ``include_failed=False`` ids whose latest record failed are left out, so a
    resumed run tries them again. An interrupted last line is ignored; open a
    :class:`RunWriter` on the file to cut it off before appending.
    """
    written, failed = run_state(path)
    return written if include_failed else written - failed


def read_run(path: str | os.PathLike[str]) -> Iterator[DocumentResult]:
    """Every record of a run file in order, repeated ids included (see :func:`results_by_id`)."""
    for _, result in iter_results(path):
        yield result


def results_by_id(path: str | os.PathLike[str]) -> dict[str, DocumentResult]:
    """The latest record for each document id, in order of first appearance."""
    return read_results(path).results


def _parquet_schema() -> Any:
    import pyarrow as pa

    return pa.schema(
        [
            ("id", pa.string()),
            ("status", pa.string()),
            ("n_incidents", pa.int64()),
            ("incidents", pa.string()),
            ("evidence", pa.string()),
            ("failure_reason", pa.string()),
            ("failure_message", pa.string()),
            ("prompt_tokens", pa.int64()),
            ("completion_tokens", pa.int64()),
            ("requests", pa.int64()),
            ("model", pa.string()),
            ("backend", pa.string()),
            ("prompt_hash", pa.string()),
            ("schema_version", pa.string()),
            ("flags", pa.list_(pa.string())),
        ]
    )


def _parquet_row(result: DocumentResult) -> dict[str, Any]:
    return {
        "id": result.id,
        "status": result.status.value,
        "n_incidents": len(result.incidents),
        "incidents": _INCIDENTS.dump_json(result.incidents).decode(),
        "evidence": _EVIDENCE.dump_json(result.evidence).decode(),
        "failure_reason": result.failure.reason if result.failure else None,
        "failure_message": result.failure.message if result.failure else None,
        "prompt_tokens": result.usage.prompt_tokens,
        "completion_tokens": result.usage.completion_tokens,
        "requests": result.usage.requests,
        "model": result.provenance.model,
        "backend": result.provenance.backend,
        "prompt_hash": result.provenance.prompt_hash,
        "schema_version": result.provenance.schema_version,
        "flags": list(result.flags),
    }


def export_parquet(
    jsonl_path: str | os.PathLike[str], parquet_path: str | os.PathLike[str], *, batch_size: int = 1000
) -> int:
    """Write a run file as Parquet, one row per document (its latest record); return the row count.

    Incidents and evidence are JSON strings. The file is written in batches, beside its path
    and renamed at the end (:func:`staged_output`), so a failed export leaves no partial file.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    source, target = Path(jsonl_path), Path(parquet_path)
    # First pass: where each id's latest record is, so the second pass writes one row
    # per document without holding the results themselves.
    if not source.exists():
        raise InputError(f"{source}: no such run file; check the path")
    last_line = {result.id: lineno for lineno, result in iter_results(source)}
    schema = _parquet_schema()
    rows = 0
    with staged_output(target, "--parquet") as staged, pq.ParquetWriter(staged, schema) as writer:
        batch: list[dict[str, Any]] = []
        for lineno, result in iter_results(source):
            if last_line.get(result.id) != lineno:
                continue
            batch.append(_parquet_row(result))
            if len(batch) >= batch_size:
                writer.write_batch(pa.RecordBatch.from_pylist(batch, schema=schema))
                rows += len(batch)
                batch = []
        if batch:
            writer.write_batch(pa.RecordBatch.from_pylist(batch, schema=schema))
            rows += len(batch)
    return rows
