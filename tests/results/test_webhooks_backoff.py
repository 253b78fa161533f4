"""The retry schedule: exponential backoff with full jitter, for at least a day by default."""

import random
from datetime import UTC, datetime, timedelta

from django.conf import settings
from hypothesis import given
from hypothesis import strategies as st

from results.webhooks.backoff import next_attempt_at, retry_delay


@given(
    attempts=st.integers(min_value=1, max_value=200),
    base=st.floats(min_value=0.01, max_value=60),
    cap=st.floats(min_value=0.01, max_value=86400),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_each_delay_is_within_zero_and_the_capped_exponential(attempts, base, cap, seed):
    delay = retry_delay(attempts, base=base, cap=cap, rng=random.Random(seed))
    assert 0 <= delay <= min(cap, base * 2 ** (attempts - 1))


def test_the_jitter_spreads_over_the_whole_range():
    """Full jitter: delays of one attempt number fill [0, ceiling], not a band near its top."""
    rng = random.Random(7)
    delays = [retry_delay(6, base=5, cap=3600, rng=rng) for _ in range(2000)]
    ceiling = 5 * 2**5
    assert min(delays) < 0.05 * ceiling and max(delays) > 0.95 * ceiling
    assert 0.45 * ceiling < sum(delays) / len(delays) < 0.55 * ceiling


@given(seed=st.integers(min_value=0, max_value=2**32))
def test_the_default_schedule_retries_for_at_least_a_day_then_gives_up(seed):
    """Whatever the jitter draws, a receiver that never answers is tried until a day has passed
    (the last attempt at the end of the period), and the delivery then fails."""
    assert settings.KENSA_WEBHOOK_RETRY_FOR_SECONDS >= 24 * 3600
    rng = random.Random(seed)
    made = datetime(2026, 1, 1, tzinfo=UTC)
    give_up_at = made + timedelta(seconds=settings.KENSA_WEBHOOK_RETRY_FOR_SECONDS)
    now, attempts, times = made, 0, []
    while True:
        attempts += 1
        following = next_attempt_at(attempts=attempts, give_up_at=give_up_at, now=now, rng=rng)
        if following is None:
            break
        assert now <= following <= give_up_at
        assert (following - now).total_seconds() <= settings.KENSA_WEBHOOK_RETRY_CAP_SECONDS
        now = following
        times.append(now)
        assert attempts < 10_000
    assert times[-1] - made >= timedelta(days=1)
    # Capped at an hour, a two-day schedule is dozens of attempts, not thousands.
    assert 20 < attempts < 2000
