"""Retry policy and rate limiter, with fake clocks so nothing waits for real."""

from __future__ import annotations

import random

import pytest

from extract.core.errors import AuthenticationFailed, RateLimited, ServerError
from extract.transport import RateLimiter, RetryPolicy


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        pytest.param(RateLimited("429", retry_after=7.5), 7.5, id="retry-after-honoured"),
        pytest.param(RateLimited("429", retry_after=500.0), 120.0, id="retry-after-capped"),
    ],
)
def test_retry_after_decides_the_delay(error: RateLimited, expected: float) -> None:
    assert RetryPolicy().delay(1, error) == expected


def test_backoff_is_exponential_with_full_jitter() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=4.0)
    rng = random.Random(0)
    for attempt, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (8, 4.0)]:
        delays = [policy.delay(attempt, ServerError("500"), rng) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > 0.8 * ceiling  # the whole range is used, not a fixed value


def test_call_retries_then_gives_up_with_the_attempt_count() -> None:
    slept: list[float] = []
    calls = 0

    def send() -> str:
        nonlocal calls
        calls += 1
        raise ServerError("500")

    with pytest.raises(ServerError) as info:
        RetryPolicy(max_attempts=4, base_delay=1.0, max_delay=1.0).call(send, sleep=slept.append)
    assert calls == 4 and info.value.attempts == 4 and len(slept) == 3


def test_non_retryable_errors_are_not_retried() -> None:
    calls = 0

    def send() -> str:
        nonlocal calls
        calls += 1
        raise AuthenticationFailed("401")

    with pytest.raises(AuthenticationFailed):
        RetryPolicy(max_attempts=5).call(send, sleep=lambda s: None)
    assert calls == 1


def test_rate_limiter_spaces_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    slept: list[float] = []
    monkeypatch.setattr("extract.transport.time.monotonic", lambda: now[0])

    def fake_sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    monkeypatch.setattr("extract.transport.time.sleep", fake_sleep)
    limiter = RateLimiter(requests_per_minute=60)  # one a second, a burst of 60 allowed
    for _ in range(65):
        limiter.acquire()
    # 60 go at once from the full bucket; the next 5 wait about a second each
    assert len(slept) == 5 and now[0] - 1000.0 == pytest.approx(5.0, abs=0.01)


def test_token_limiter_waits_for_large_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [0.0]
    monkeypatch.setattr("extract.transport.time.monotonic", lambda: now[0])
    monkeypatch.setattr("extract.transport.time.sleep", lambda s: now.__setitem__(0, now[0] + s))
    limiter = RateLimiter(tokens_per_minute=6000)  # 100 tokens a second
    limiter.acquire(6000)
    limiter.acquire(3000)  # the bucket is empty: 30 s to refill 3000 tokens
    assert now[0] == pytest.approx(30.0, abs=0.01)
