"""Nothing lost outside ``extract run`` either: events, review, eval and gold never destroy what they read.

Each test names a way an output went wrong (pointed at an input, a full disk, a kill in the
middle, broken gold) and what must happen instead: one line, exit 2, every input and every
earlier output left as it was.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import stat
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from extract.cli import main
from extract.core.errors import OutputError
from extract.io.output import staged_output
from tests.review_fixtures import GOLD, seed_run
from tests.test_run_guards import SUBPROCESS_TIMEOUT, _one_error_line, _run_cli

SITE_MARKER = ".review-site"


def _snapshot(root: Path) -> dict[str, bytes]:
    """Every file under a folder (or the one file) with its bytes, to show that nothing changed.

    A write's work folder (``.NAME.PID.partial``) is left out: :func:`_leftovers` looks for those.
    """
    if root.is_file():
        return {root.name: root.read_bytes()}
    files = (p for p in sorted(root.rglob("*")) if p.is_file())
    return {str(p.relative_to(root)): p.read_bytes() for p in files if not _in_work_folder(p.relative_to(root))}


def _in_work_folder(path: Path) -> bool:
    return any(part.startswith(".") and part.endswith(".partial") for part in path.parts)


@pytest.fixture
def inputs(tmp_path: Path) -> Path:
    """A folder holding a run file, a copy of the seed gold folder and its publication dates."""
    seed_run(tmp_path / "run.jsonl")
    shutil.copytree(GOLD, tmp_path / "gold")
    shutil.copy(GOLD / "published.json", tmp_path / "published.json")
    (tmp_path / "link.jsonl").symlink_to(tmp_path / "run.jsonl")
    (tmp_path / "aliases-link.json").symlink_to(tmp_path / "gold" / "aliases.json")
    site = tmp_path / "site"  # an earlier review site someone keeps the run file in
    site.mkdir()
    (site / SITE_MARKER).write_text("written by extract review\n")
    shutil.copy(tmp_path / "run.jsonl", site / "run.jsonl")
    return tmp_path


# -- 1. an output that is an input -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "kept", "message"),
    [
        pytest.param(["events", "run.jsonl", "--out", "run.jsonl"], "run.jsonl", "--out is a run file",
                     id="events-out-is-the-run"),
        pytest.param(["events", "run.jsonl", "--out", "link.jsonl"], "run.jsonl", "--out is a run file",
                     id="events-out-is-a-link-to-the-run"),
        pytest.param(["events", "run.jsonl", "--published", "published.json", "--out", "published.json"],
                     "published.json", "--out is the --published file", id="events-out-is-the-dates-file"),
        pytest.param(["events", "run.jsonl", "--gold", "gold", "--out", "gold/aliases.json"], "gold",
                     "--out is inside the --gold folder", id="events-out-inside-the-gold-folder"),
        pytest.param(["events", "run.jsonl", "--gold", "gold", "--format", "hf", "--out", "gold"], "gold",
                     "--out is the --gold folder", id="events-hf-out-is-an-input-folder"),
        pytest.param(["events", "run.jsonl", "--format", "hf", "--out", "gold"], "gold",
                     "gold: folder is not empty and holds no saved dataset", id="events-hf-out-holds-other-files"),
        pytest.param(["review", "site/run.jsonl", "--out", "site"], "site", "--out holds the run file",
                     id="review-out-holds-its-run"),
        pytest.param(["review", "run.jsonl", "--gold", "gold", "--out", "gold"], "gold",
                     "--out is the --gold folder", id="review-out-is-the-gold-folder"),
        pytest.param(["eval", "--gold", "gold", "--pred", "run.jsonl", "--json", "run.jsonl"], "run.jsonl",
                     "--json is the --pred run file", id="eval-json-is-the-run"),
        pytest.param(["eval", "--gold", "gold", "--pred", "run.jsonl", "--report", "gold/labels/x.md"], "gold",
                     "--report is inside the --gold folder", id="eval-report-inside-the-gold-folder"),
        pytest.param(["eval", "--gold", "gold", "--pred", "run.jsonl", "--json", "s.json", "--report", "s.json"],
                     "run.jsonl", "--report is --json", id="eval-json-and-report-at-one-path"),
        pytest.param(["gold", "agree", "gold", "gold", "--json", "gold/aliases.json"], "gold",
                     "--json is inside the first gold folder", id="gold-agree-json-inside-a-gold-folder"),
        pytest.param(["gold", "events", "gold", "--json", "gold/aliases.json"], "gold",
                     "--json is inside the gold folder", id="gold-events-json-is-the-alias-table"),
        pytest.param(["gold", "events", "gold", "--json", "gold/published.json"], "gold",
                     "--json is inside the gold folder", id="gold-events-json-is-the-publication-dates"),
        pytest.param(["gold", "events", "gold", "--json", "gold/labels/000_992d4656b890393e.json"], "gold",
                     "--json is inside the gold folder", id="gold-events-json-is-a-label-file"),
        pytest.param(["gold", "events", "gold", "--json", "aliases-link.json"], "gold",
                     "--json is inside the gold folder", id="gold-events-json-is-a-link-into-the-gold-folder"),
    ],
)  # fmt: skip
def test_an_output_that_is_an_input_is_refused_and_the_input_kept(
    inputs: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, args: list[str], kept: str,
    message: str,
) -> None:  # fmt: skip
    monkeypatch.chdir(inputs)
    before = _snapshot(inputs / kept)
    assert main([*args, *(["--quiet"] if args[0] == "events" else [])]) == 2
    assert message in _one_error_line(capsys.readouterr().err)
    assert _snapshot(inputs / kept) == before
    assert not (inputs / "s.json").exists()


def test_gold_events_json_through_a_hard_link_leaves_the_linked_gold_file_whole(
    inputs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(inputs)
    os.link(inputs / "gold" / "aliases.json", inputs / "aliases-hardlink.json")
    before = _snapshot(inputs / "gold")
    assert main(["gold", "events", "gold", "--json", "aliases-hardlink.json"]) == 0
    assert _snapshot(inputs / "gold") == before  # the summary is a new file under that name, not written through it
    assert "predicted_events_from_gold" in (inputs / "aliases-hardlink.json").read_text()


# -- 8. a write that fails: a full disk, a file size limit, a read-only folder ----------------------------------------


def _leftovers(folder: Path) -> list[str]:
    """Work folders and spill files a write left behind."""
    return sorted(p.name for p in folder.rglob("*") if p.name.endswith(".partial") or "extract-events-" in p.name)


# Each command rewrites an output made earlier by the same command: a failed write must keep it whole.
COMMANDS = {
    "events": ["events", "run.jsonl", "--gold", "gold", "--out", "out/events.jsonl", "--quiet"],
    "eval": ["eval", "--gold", "gold", "--pred", "run.jsonl", "--json", "out/s.json", "--report", "out/r.md",
             "--bootstrap", "10"],
    "review": ["review", "run.jsonl", "--gold", "gold", "--out", "out/site"],
}  # fmt: skip


@pytest.fixture
def earlier(inputs: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The inputs folder, where each command has written its outputs once into out/."""
    monkeypatch.chdir(inputs)
    (inputs / "out").mkdir()
    for args in COMMANDS.values():
        assert main(args) == 0
    yield inputs


@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_file_size_limit_is_one_line_and_keeps_the_earlier_output(
    earlier: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    before = _snapshot(earlier / "out")
    capsys.readouterr()
    # Like a full disk: writes past 8 KB fail with EFBIG (Python ignores SIGXFSZ).
    done = _run_cli(*COMMANDS[command], limit_bytes=8_000, cwd=earlier)
    assert done.returncode == 2, done.stderr
    assert "cannot write" in _one_error_line(done.stderr)
    assert _snapshot(earlier / "out") == before
    assert _leftovers(earlier) == []


def test_a_full_disk_in_the_middle_of_a_staged_write_leaves_the_output_as_it_was(tmp_path: Path) -> None:
    out = tmp_path / "events.jsonl"
    out.write_text("earlier\n")
    no_space = r"events.jsonl: cannot write --out \(No space left on device\)"
    with pytest.raises(OutputError, match=no_space), staged_output(out) as staged:
        staged.write_text("half of it")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert out.read_text() == "earlier\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["events.jsonl"]


def test_a_site_killed_between_the_two_renames_of_its_swap_is_put_back_by_the_next_write(tmp_path: Path) -> None:
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    work = tmp_path / f".site.{int(gone.stdout)}.partial"  # a process that has ended
    (work / "site.previous").mkdir(parents=True)
    (work / "site.previous" / "index.html").write_text("the earlier site")
    (work / "site").mkdir()  # the new site, not yet renamed into place
    with pytest.raises(OutputError), staged_output(tmp_path / "site") as staged:
        staged.mkdir()
        raise OSError(errno.EFBIG, os.strerror(errno.EFBIG))
    assert (tmp_path / "site" / "index.html").read_text() == "the earlier site"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site"]


def _read_only_prefix(folder: Path) -> list[str]:
    """A command prefix under which ``folder`` is read-only, even for root (a read-only bind mount)."""
    if os.geteuid() != 0:
        folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
        return []
    script = 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && exec "$@"'
    prefix = ["unshare", "--mount", "sh", "-c", script, str(folder)]
    if shutil.which("unshare") is None or subprocess.run([*prefix, "true"], capture_output=True).returncode != 0:
        pytest.skip("root, and no read-only bind mount can be made here (unshare --mount)")
    return prefix


@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_read_only_output_folder_is_one_line_and_keeps_the_earlier_output(earlier: Path, command: str) -> None:
    before = _snapshot(earlier / "out")
    prefix = _read_only_prefix(earlier / "out")
    try:
        done = subprocess.run(
            [*prefix, sys.executable, "-m", "extract.cli", *COMMANDS[command]],
            capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT, cwd=earlier,
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        )  # fmt: skip
    finally:
        (earlier / "out").chmod(0o755)
    assert done.returncode == 2, done.stderr
    assert "out/" in _one_error_line(done.stderr)
    assert _snapshot(earlier / "out") == before
    assert _leftovers(earlier) == []


# Root writes into a read-only folder, so these ways a write fails hold for every user: a folder that is a file, and
# /proc, where no one creates files (a descriptor's folder, /proc/self, is the child's own).
UNWRITABLE = {"under-a-file": "out/blocker/{name}", "under-proc": "/proc/self/{name}"}


@pytest.mark.parametrize("where", list(UNWRITABLE))
@pytest.mark.parametrize("output", ["events --out", "review --out", "eval --json", "eval --report"])
def test_an_output_no_one_can_write_is_one_line_even_for_root(earlier: Path, where: str, output: str) -> None:
    command, option = output.split()
    args = list(COMMANDS[command])
    k = args.index(option) + 1
    args[k] = target = UNWRITABLE[where].format(name=Path(args[k]).name)
    (earlier / "out" / "blocker").write_text("a file where a folder would be\n")
    before = _snapshot(earlier / "out")
    done = _run_cli(*args, cwd=earlier)
    assert done.returncode == 2, done.stderr
    assert _one_error_line(done.stderr).startswith(f"extract: error: {target}: "), done.stderr
    assert _snapshot(earlier / "out") == before
    assert _leftovers(earlier) == []


# -- 9, 10. an interrupted or killed write leaves no output that looks valid ----------------------------------------

# Runs a command, pausing it at a known point (the n-th call of a function) until the test signals it.
_PAUSED = textwrap.dedent(
    """
    import importlib, signal, sys, time
    # Ctrl-C as a terminal delivers it, even when the suite runs in the background (where SIGINT is ignored).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    module, name, at = sys.argv[1], sys.argv[2], int(sys.argv[3])
    target = importlib.import_module(module)
    real, calls = getattr(target, name), []

    def paused(*args, **kwargs):
        calls.append(1)
        if len(calls) == at:
            print("paused", flush=True)
            time.sleep(600)
        return real(*args, **kwargs)

    setattr(target, name, paused)
    from extract.cli import main
    sys.exit(main(sys.argv[4:]))
    """
)


def _stop_paused(
    cwd: Path, signum: int, pause: tuple[str, str, int], args: list[str]
) -> subprocess.CompletedProcess[str]:
    """Run ``extract ARGS`` until it pauses at ``pause`` (module, function, n-th call), then send it ``signum``."""
    tmp = cwd / "tmpdir"
    tmp.mkdir(exist_ok=True)
    child = subprocess.Popen(
        [sys.executable, "-c", _PAUSED, *map(str, pause), *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "TMPDIR": str(tmp)},
    )  # fmt: skip
    try:
        assert child.stdout is not None
        reached = child.stdout.readline().strip()
        child.send_signal(signum)
        out, err = child.communicate(timeout=SUBPROCESS_TIMEOUT)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert reached == "paused", err
    return subprocess.CompletedProcess(child.args, child.returncode, out, err)


# The clustering: its spill file is written, no event yet.
IN_THE_CLUSTERING = ("extract.events.pipeline", "sweep", 1)


@pytest.mark.parametrize("fmt", ["parquet", "ucdp", "jsonl", "hf"])
def test_ctrl_c_on_events_leaves_no_output_and_no_spill(inputs: Path, fmt: str) -> None:
    args = ["events", "run.jsonl", "--gold", "gold", "--format", fmt, "--out", f"new.{fmt}", "--quiet"]
    done = _stop_paused(inputs, signal.SIGINT, IN_THE_CLUSTERING, args)
    assert not (inputs / f"new.{fmt}").exists()
    assert _leftovers(inputs) == []
    assert done.returncode == 130, done.stderr
    assert done.stderr.strip() == "extract: interrupted; no output was left half-written", done.stderr


@pytest.mark.parametrize("fmt", ["parquet", "ucdp", "jsonl", "hf"])
def test_sigterm_on_events_keeps_the_earlier_output_and_leaves_no_partial_file(earlier: Path, fmt: str) -> None:
    args = ["events", "run.jsonl", "--gold", "gold", "--format", fmt, "--out", f"out/events.{fmt}", "--quiet"]
    assert main(args) == 0
    before = _snapshot(earlier / "out")
    done = _stop_paused(earlier, signal.SIGTERM, IN_THE_CLUSTERING, args)
    assert done.stderr.strip() == "extract: terminated; no output was left half-written", (done.returncode, done.stderr)
    assert done.returncode == 128 + signal.SIGTERM
    assert _snapshot(earlier / "out") == before
    assert _leftovers(earlier) == []
    assert list((earlier / "tmpdir").iterdir()) == []


@pytest.mark.parametrize(
    ("command", "pause"),
    [
        pytest.param("review", ("extract.review.site", "span_views", 3), id="review-mid-site"),
        pytest.param("eval", ("extract.events.pipeline", "evaluate_events", 1), id="eval-mid-reports"),
    ],
)
def test_sigterm_on_review_and_eval_keeps_the_earlier_outputs_and_leaves_no_partial_file(
    earlier: Path, command: str, pause: tuple[str, str, int]
) -> None:
    before = _snapshot(earlier / "out")
    done = _stop_paused(earlier, signal.SIGTERM, pause, COMMANDS[command])
    assert done.returncode == 128 + signal.SIGTERM, done.stderr
    assert _snapshot(earlier / "out") == before
    assert _leftovers(earlier) == []


def test_main_puts_back_the_sigterm_handler_it_found(inputs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(inputs)
    found = signal.getsignal(signal.SIGTERM)
    assert main(["gold", "events", "gold"]) == 0
    assert signal.getsignal(signal.SIGTERM) is found


@pytest.mark.parametrize("fmt", ["parquet", "ucdp"])
def test_a_killed_events_run_keeps_the_earlier_output_and_the_next_run_clears_its_leftovers(
    earlier: Path, fmt: str
) -> None:
    args = ["events", "run.jsonl", "--gold", "gold", "--format", fmt, "--out", f"out/events.{fmt}", "--quiet"]
    assert main(args) == 0
    before = _snapshot(earlier / "out")
    done = _stop_paused(earlier, signal.SIGKILL, IN_THE_CLUSTERING, args)
    assert done.returncode == -signal.SIGKILL
    assert _snapshot(earlier / "out") == before
    assert list((earlier / "tmpdir").iterdir()) == []  # nothing in the system's temporary folder
    assert _leftovers(earlier / "out")  # the work folder beside the output, where the next run finds it
    assert main(args) == 0
    assert _leftovers(earlier) == []


def test_a_review_site_killed_while_rebuilding_keeps_the_earlier_site(earlier: Path) -> None:
    before = _snapshot(earlier / "out" / "site")
    assert "index.html" in before
    # Killed after two document pages of the new site were written.
    done = _stop_paused(earlier, signal.SIGKILL, ("extract.review.site", "span_views", 3), COMMANDS["review"])
    assert done.returncode == -signal.SIGKILL
    assert _snapshot(earlier / "out" / "site") == before
    assert main(COMMANDS["review"]) == 0
    assert _leftovers(earlier) == []
