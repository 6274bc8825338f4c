"""Retry policy and rate limiter, with fake clocks so nothing waits for real."""

from __future__ import annotations

import asyncio
import random

import pytest

from extract.core.errors import AuthenticationFailed, RateLimited, ServerError
from extract.transport import RateLimiter, RetryPolicy


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        pytest.param(RateLimited("429", retry_after=7.5), 7.5, id="retry-after-honoured"),
        pytest.param(RateLimited("429", retry_after=120.0), 120.0, id="retry-after-at-the-cap"),
        pytest.param(RateLimited("429", retry_after=500.0), None, id="retry-after-past-the-cap-is-not-waited-for"),
    ],
)
def test_retry_after_decides_the_delay(error: RateLimited, expected: float | None) -> None:
    assert RetryPolicy().delay(1, error) == expected


def test_a_retry_after_longer_than_the_cap_fails_the_request_without_waiting() -> None:
    """A server asking for an hour used to hold every attempt for the 120 s cap, six times per document."""
    clock = FakeClock()
    calls = 0

    async def send() -> str:
        nonlocal calls
        calls += 1
        raise RateLimited("rate limited (HTTP 429)", retry_after=3600.0)

    with pytest.raises(RateLimited) as info:
        asyncio.run(RetryPolicy(max_attempts=6, max_retry_after=120.0).call(send, sleep=clock.sleep))
    assert calls == 1 and clock.slept == [] and info.value.attempts == 1
    line = info.value.one_line()
    assert "asked to wait 3600 s, longer than the 120 s" in line and "--retry-failed" in line


def test_backoff_is_exponential_with_full_jitter() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=4.0)
    rng = random.Random(0)
    for attempt, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (8, 4.0)]:
        delays = [policy.delay(attempt, ServerError("500"), rng) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > 0.8 * ceiling  # the whole range is used, not a fixed value


class FakeClock:
    """A clock that moves only when something sleeps on it."""

    def __init__(self, start: float = 0.0) -> None:
        self.now = start
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_call_retries_then_gives_up_with_the_attempt_count() -> None:
    clock = FakeClock()
    calls = 0

    async def send() -> str:
        nonlocal calls
        calls += 1
        raise ServerError("500")

    policy = RetryPolicy(max_attempts=4, base_delay=1.0, max_delay=1.0)
    with pytest.raises(ServerError) as info:
        asyncio.run(policy.call(send, sleep=clock.sleep))
    assert calls == 4 and info.value.attempts == 4 and len(clock.slept) == 3


def test_a_retry_that_succeeds_returns_the_answer() -> None:
    clock = FakeClock()
    attempts: list[int] = []

    async def send() -> str:
        if len(attempts) < 3:  # on_attempt has counted this attempt already
            raise RateLimited("429", retry_after=2.5)
        return "ok"

    result = asyncio.run(
        RetryPolicy(max_attempts=5).call(send, on_attempt=lambda: attempts.append(1), sleep=clock.sleep)
    )
    assert result == "ok" and len(attempts) == 3 and clock.slept == [2.5, 2.5]


def test_non_retryable_errors_are_not_retried() -> None:
    calls = 0

    async def send() -> str:
        nonlocal calls
        calls += 1
        raise AuthenticationFailed("401")

    with pytest.raises(AuthenticationFailed) as info:
        asyncio.run(RetryPolicy(max_attempts=5).call(send, sleep=FakeClock().sleep))
    assert calls == 1 and info.value.attempts == 1


def test_rate_limiter_spaces_requests() -> None:
    clock = FakeClock(1000.0)
    limiter = RateLimiter(requests_per_minute=60, clock=clock, sleep=clock.sleep)  # one a second, burst of 60

    async def go() -> None:
        for _ in range(65):
            await limiter.acquire()

    asyncio.run(go())
    # 60 go at once from the full bucket; the next 5 wait about a second each
    assert len(clock.slept) == 5 and clock.now - 1000.0 == pytest.approx(5.0, abs=0.01)


def test_token_limiter_waits_for_large_requests() -> None:
    clock = FakeClock()
    limiter = RateLimiter(tokens_per_minute=6000, clock=clock, sleep=clock.sleep)  # 100 tokens a second

    async def go() -> None:
        await limiter.acquire(6000)
        await limiter.acquire(3000)  # the bucket is empty: 30 s to refill 3000 tokens

    asyncio.run(go())
    assert clock.now == pytest.approx(30.0, abs=0.01)
