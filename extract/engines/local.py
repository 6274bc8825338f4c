"""The default engine: one process, one event loop (the batch runner in :mod:`extract.runner`)."""

from __future__ import annotations

from extract.runner import Prices, RunSummary, arun, run

__all__ = ["Prices", "RunSummary", "arun", "run"]
