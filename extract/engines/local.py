"""The default engine: one process, one event loop (the batch runner in :mod:`extract.runner`)."""

from __future__ import annotations

from typing import Any

from extract.core.secrets import backend_secrets, redacting_logs
from extract.engines.config import OnResult, OnStart, RunConfig
from extract.runner import Prices, RunSummary, arun, run
from extract.transport import RateLimiter

__all__ = ["Prices", "RunSummary", "arun", "run", "run_corpus"]


def run_corpus(
    source: Any, config: RunConfig, *, on_start: OnStart | None = None, on_result: OnResult | None = None
) -> RunSummary:
    """Extract ``source`` as ``config`` says into the run file ``config.output.out``, in this process.

    The backend is built once (or is the one the configuration holds). ``on_start`` is called with
    the number of documents (None when the corpus cannot tell), ``on_result`` with each record.
    """
    from extract.io.corpus import open_corpus

    pace, output = config.pace, config.output
    assert output.out is not None, "the API names the run file"
    corpus = open_corpus(source, **dict(config.reading))
    limiter = RateLimiter(pace.rpm, pace.tpm) if pace.rpm or pace.tpm else None
    backend = config.build_backend(limiter)
    extract_config = config.extract_config(backend)
    if on_start is not None:
        on_start(getattr(corpus, "length", None))
    prices = Prices.from_file(output.prices, backend.model) if output.prices else None
    with redacting_logs(backend_secrets(backend)):  # instructor logs error bodies, which may echo the key
        summary = run(
            corpus, extract_config, output.out, concurrency=pace.concurrency, resume=output.resume,
            retry_failed=output.retry_failed, prices=prices, on_result=on_result,
        )  # fmt: skip
    inner = getattr(backend, "inner", backend)
    summary.bundled = (
        backend.name == "local" and getattr(inner, "path", None) is not None and config.extraction.model is None
    )
    return summary
