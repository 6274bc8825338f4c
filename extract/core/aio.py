"""One async path, and a thin way to call it from synchronous code.

The pipeline, backends, cache and runner are async only. Scripts and notebooks call
them through :func:`run_sync`, which also works where an event loop is already running
(a Jupyter cell): the coroutine then runs to completion on a loop of its own in a
worker thread, and the caller's loop is left untouched.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion and return its result, from any synchronous caller."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:  # no loop in this thread: the usual case
        return asyncio.run(coroutine)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="extract-sync") as pool:
        return pool.submit(asyncio.run, coroutine).result()
