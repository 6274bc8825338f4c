"""Retrying transport faults and pacing requests.

Transport faults (HTTP 429 and 5xx, timeouts, dropped connections) are retried
here, below the re-asks, with exponential backoff and full jitter, honouring the
server's ``Retry-After``. They never reach the conversation with the model:
only validation errors are re-asked, above this layer.

Retrying is a plain loop (see :meth:`RetryPolicy.call`). Pacing is a small token bucket of our own rather than
aiolimiter's: it takes a request *and* a token cost in one step, and its clock and
sleep can be handed in, so tests run it on a fake clock without patching ``time``
for the whole process (aiolimiter reads the running event loop's clock).
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from extract.core.errors import TransportError

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry a transport fault."""

    max_attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 30.0
    #: Longest ``Retry-After`` honoured. A server asking for more fails the request at once: waiting
    #: the cap and asking again, attempt after attempt, held each document for minutes for nothing.
    max_retry_after: float = 120.0

    def delay(self, attempt: int, error: TransportError, rng: random.Random | None = None) -> float | None:
        """Seconds to wait after failed attempt number ``attempt`` (1-based).

        None when the server's ``Retry-After`` is longer than :attr:`max_retry_after`: not worth waiting for.
        """
        if error.retry_after is not None:
            return None if error.retry_after > self.max_retry_after else max(0.0, error.retry_after)
        ceiling = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        return (rng or random).uniform(0, ceiling)

    async def call(
        self,
        send: Callable[[], Awaitable[T]],
        *,
        on_attempt: Callable[[], None] | None = None,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> T:
        """Await ``send()`` until it succeeds, fails for good, or attempts run out.

        Only a retryable :class:`TransportError` is tried again, after :meth:`delay`; any other
        exception passes through at once. The error that ends it carries the number of attempts
        made. A plain loop: this runs once per request, and building a retrier object for each
        one cost more CPU than the loop.
        """
        attempt = 0
        while True:
            attempt += 1
            if on_attempt:
                on_attempt()
            try:
                return await send()
            except TransportError as exc:
                exc.attempts = attempt
                if not exc.retryable or attempt >= self.max_attempts:
                    raise
                wait = self.delay(attempt, exc)
                if wait is None:
                    raise _too_long_to_wait(exc, self.max_retry_after) from None
            await sleep(wait)


def _too_long_to_wait(error: TransportError, cap: float) -> TransportError:
    """``error``, not to be retried, its message saying how long the server asked to wait."""
    error.retryable = False
    error.message = (
        f"{error.message}; the server asked to wait {error.retry_after:.0f} s, longer than the {cap:g} s "
        "a request waits for it"
    )
    error.hint = "try again later: the same command with --retry-failed asks again for the failed documents"
    error.args = (error.one_line(),)
    return error


class RateLimiter:
    """Paces requests to at most ``requests_per_minute`` and ``tokens_per_minute``.

    A token bucket per limit, refilled continuously. Token costs are estimates
    made before the request (prompt characters / 4 plus the completion budget),
    which is what a client can know before the server answers. ``clock`` and
    ``sleep`` default to the real ones.
    """

    def __init__(
        self,
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ):
        self.rpm = requests_per_minute
        self.tpm = tokens_per_minute
        self._clock = clock
        self._sleep = sleep
        self._req = float(requests_per_minute or 0)
        self._tok = float(tokens_per_minute or 0)
        self._stamp = clock()
        self._lock = threading.Lock()

    def _wait_time(self, tokens: float) -> float:
        with self._lock:
            now = self._clock()
            elapsed = now - self._stamp
            self._stamp = now
            if self.rpm:
                self._req = min(self.rpm, self._req + elapsed * self.rpm / 60)
            if self.tpm:
                self._tok = min(self.tpm, self._tok + elapsed * self.tpm / 60)
                tokens = min(tokens, self.tpm)
            wait = 0.0
            if self.rpm and self._req < 1:
                wait = max(wait, (1 - self._req) * 60 / self.rpm)
            if self.tpm and self._tok < tokens:
                wait = max(wait, (tokens - self._tok) * 60 / self.tpm)
            if wait == 0.0:
                if self.rpm:
                    self._req -= 1
                if self.tpm:
                    self._tok -= tokens
            return wait

    async def acquire(self, tokens: float = 0.0) -> None:
        """Wait until a request of ``tokens`` estimated tokens may go."""
        while (wait := self._wait_time(tokens)) > 0:
            await self._sleep(wait)
