"""When a failed delivery is tried again: exponential backoff with full jitter.

After the n-th failed attempt a delivery waits a random time between 0 and
min(cap, base x 2^(n-1)) seconds. The randomness spreads the retries of many deliveries that
failed together (a receiver restarting) instead of sending them all back at the same moment;
the whole range, rather than a band around the exponential, is what spreads them most for the
same number of requests. Retries go on until KENSA_WEBHOOK_RETRY_FOR_SECONDS after the delivery
was made (or sent again), with one last attempt at that moment; then the delivery is failed.
"""

import random
from datetime import datetime, timedelta

from django.conf import settings


def retry_delay(attempts: int, *, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Seconds to wait after the `attempts`-th failed attempt (1 for the first)."""
    ceiling = min(cap, base * 2 ** min(max(attempts - 1, 0), 64))
    return (rng or random).uniform(0, ceiling)


def retry_until(now: datetime) -> datetime:
    """Until when a delivery made (or sent again) at `now` is retried."""
    return now + timedelta(seconds=settings.KENSA_WEBHOOK_RETRY_FOR_SECONDS)


def next_attempt_at(
    *, attempts: int, give_up_at: datetime, now: datetime, rng: random.Random | None = None
) -> datetime | None:
    """When to try again after the `attempts`-th failure at `now`; None once `give_up_at` has
    passed: the delivery is failed."""
    if now >= give_up_at:
        return None
    delay = retry_delay(
        attempts,
        base=settings.KENSA_WEBHOOK_RETRY_BASE_SECONDS,
        cap=settings.KENSA_WEBHOOK_RETRY_CAP_SECONDS,
        rng=rng,
    )
    return min(now + timedelta(seconds=delay), give_up_at)
