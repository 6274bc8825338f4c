"""The reaper of a local Ray instance, on processes of its own (no Ray): what it counts as the instance's,
what it spares, and that it ends them when the driver's pipe closes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid

import pytest

from extract.engines import ray_reaper
from extract.engines.ray_reaper import MARK, Instance

pytestmark = pytest.mark.skipif(not ray_reaper.supported(), reason="the reaper reads /proc (Linux)")

#: A marked process that starts an unmarked child (as the raylet starts its agents), prints its pid and waits.
PARENT = (
    "import os, subprocess, sys, time; "
    "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'], env={}); "
    "print(child.pid, flush=True); time.sleep(600)"
)


def _alive(pid: int) -> bool:
    return pid in ray_reaper._processes()  # zombies are left out


def _wait_gone(pids: list[int], deadline: float = 60.0) -> list[int]:
    end = time.monotonic() + deadline
    while any(_alive(pid) for pid in pids) and time.monotonic() < end:
        time.sleep(0.1)
    return [pid for pid in pids if _alive(pid)]


def _sleeper(**env: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], env={**os.environ, **env})


def test_the_instance_is_its_marked_processes_and_their_descendants_even_orphaned() -> None:
    token = uuid.uuid4().hex
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT], env={**os.environ, MARK: token}, stdout=subprocess.PIPE, text=True
    )
    other = _sleeper(**{MARK: uuid.uuid4().hex})  # another instance's
    plain = _sleeper()
    child = 0
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        instance = Instance(token, spare=frozenset({os.getpid()}))
        assert set(instance.scan()) == {parent.pid, child}
        assert ray_reaper.marked(token) == [parent.pid]  # the child carries no mark: found as a descendant
        parent.kill()
        parent.wait()
        assert _alive(child) and set(instance.scan()) == {child}  # nobody's child now, still the instance's
        instance.kill()
        assert _wait_gone([child]) == [] and instance.scan() == {}
        assert other.poll() is None and plain.poll() is None
    finally:
        for process in (parent, other, plain):
            process.kill()
            process.wait()
        if child and _alive(child):
            os.kill(child, 9)


def test_the_reaper_ends_the_instance_when_the_pipe_closes_and_spares_the_driver() -> None:
    reaper, token = ray_reaper.start_reaper()
    marked = _sleeper(**{MARK: token})
    other = _sleeper(**{MARK: uuid.uuid4().hex})
    try:
        time.sleep(2 * ray_reaper.INTERVAL)
        assert reaper.poll() is None and marked.poll() is None  # nothing happens while the driver runs
        ray_reaper.stop_reaper(reaper)
        assert reaper.returncode == 0
        assert marked.wait(60) == -9
        assert other.poll() is None and _alive(os.getpid())
    finally:
        for process in (marked, other):
            process.kill()
            process.wait()
