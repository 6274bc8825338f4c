"""Ends what a local Ray instance leaves behind once the process that started it is gone.

When the driver dies, even by SIGKILL, the kernel ends the processes Ray started from it (the
GCS, the raylet...), but not theirs: the raylet's dashboard and runtime-env agents lived one to
two minutes more, trying to report the raylet's death to a GCS that was gone. So
:func:`start_reaper` runs this file as a small process of its own. It waits for its standard
input to close, which happens however the driver ends, then kills every process of the instance.

The processes of the instance are those whose environment carries its mark (:data:`MARK`, set
while the instance starts, so that every Ray process of that instance inherits it and no other
process has it), and their descendants. Both are needed: the agents rename themselves with
``setproctitle``, which overwrites the start of the environment ``/proc`` shows, the mark with it
at times; but they are children of the raylet, which is marked. Once the raylet is dead the agents
are nobody's children, so the reaper follows the instance while it runs (every
:data:`INTERVAL` seconds) and remembers each of its processes by pid and start time (a pid used
again by another process is not the same process).

Linux only: everything is read from ``/proc``. The file imports nothing but the standard library,
because it runs as a script in a fresh interpreter.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import time
import uuid

#: The environment variable that marks the processes of one local Ray instance.
MARK = "INCIDENT_EXTRACT_RAY_INSTANCE"


def supported() -> bool:
    return sys.platform.startswith("linux") and os.path.isdir("/proc")


def start_reaper() -> tuple[subprocess.Popen[bytes], str]:
    """Start the reaper for a new instance: (its process, the mark to put in the instance's environment).

    The driver holds the write end of the reaper's standard input; nothing else does (the pipe is
    not inheritable), so it closes when the driver exits or is killed.
    """
    token = uuid.uuid4().hex
    process = subprocess.Popen(
        [sys.executable, "-I", os.path.abspath(__file__), token, str(os.getpid())],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # a Ctrl-C at the terminal is for the driver, not for the reaper
    )
    return process, token


def stop_reaper(process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """After a clean shutdown: let the reaper end what is left of the instance, and wait for it."""
    if process.stdin is not None:
        process.stdin.close()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


#: Seconds between two looks at the instance while the driver runs.
INTERVAL = 0.5


def marked(token: str, *, spare: frozenset[int] = frozenset()) -> list[int]:
    """The processes whose environment, as ``/proc`` shows it, holds ``MARK=token`` (an exited one has none)."""
    return [pid for pid in _processes() if pid not in spare and _has_mark(pid, _entry(token))]


def _entry(token: str) -> bytes:
    return f"{MARK}={token}".encode()


def _has_mark(pid: int, entry: bytes) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as fh:
            return entry in fh.read().split(b"\0")
    except OSError:  # gone already, or not ours to read
        return False


def _processes() -> dict[int, tuple[int, int]]:
    """Every live process: pid -> (parent pid, start time in clock ticks). Zombies are left out."""
    table = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        # pid (comm) state ppid ... starttime (field 22); comm may hold spaces and parentheses.
        fields = stat[stat.rfind(b")") + 2 :].split()
        if len(fields) < 20 or fields[0] in (b"Z", b"X"):
            continue
        table[int(name)] = (int(fields[1]), int(fields[19]))
    return table


class Instance:
    """The processes of one instance: marked ones and their descendants, each known by (pid, start time)."""

    def __init__(self, token: str, *, spare: frozenset[int] = frozenset()) -> None:
        self.entry = _entry(token)
        self.spare = spare
        self.members: dict[int, int] = {}  # pid -> start time
        self._looked: dict[tuple[int, int], bool] = {}  # (pid, start time) -> marked

    def scan(self) -> dict[int, int]:
        """Look again: forget the members that are gone, add the new ones; returns the members."""
        table = _processes()
        self.members = {pid: start for pid, start in self.members.items() if table.get(pid, (0, -1))[1] == start}
        self._looked = {key: mark for key, mark in self._looked.items() if table.get(key[0], (0, -1))[1] == key[1]}
        for pid, (_, start) in table.items():
            if pid in self.spare:
                continue
            key = (pid, start)
            if key not in self._looked:
                self._looked[key] = _has_mark(pid, self.entry)
            if self._looked[key]:
                self.members[pid] = start
        grown = True
        while grown:
            grown = False
            for pid, (parent, start) in table.items():
                if parent in self.members and pid not in self.members and pid not in self.spare:
                    self.members[pid] = start
                    grown = True
        return dict(self.members)

    def kill(self) -> None:
        """SIGKILL the members, again until none is left (one may start while the others die)."""
        for _ in range(50):
            if not self.scan():
                return
            for pid in self.members:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.1)


def main(argv: list[str]) -> int:
    token, driver = argv[0], int(argv[1])
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    instance = Instance(token, spare=frozenset({os.getpid(), driver}))
    stdin = sys.stdin.fileno()
    while True:
        ready, _, _ = select.select([stdin], [], [], INTERVAL)
        if ready and not os.read(stdin, 4096):
            break
        instance.scan()
    instance.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
