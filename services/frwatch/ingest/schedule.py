"""When to poll a source next: pure arithmetic over intervals, hints and errors."""

from __future__ import annotations

import random
from datetime import timedelta

JITTER = 0.1  # ±10% so sources configured together do not stay in lock-step


def clamp(value: timedelta, low: timedelta, high: timedelta) -> timedelta:
    return max(low, min(high, value))


def next_poll_delay(interval: timedelta, *, minimum: timedelta, maximum: timedelta,
                    feed_ttl: timedelta | None = None, max_age: timedelta | None = None,
                    rng: random.Random | None = None) -> timedelta:
    """After a successful poll: the source's interval, stretched (never shortened) by the feed's
    own TTL / Cache-Control max-age, clamped to [minimum, maximum], with jitter."""
    delay = max([interval] + [hint for hint in (feed_ttl, max_age) if hint])
    delay = clamp(delay, minimum, maximum)
    return _jitter(delay, rng)


def error_delay(error_count: int, interval: timedelta, *, maximum: timedelta,
                retry_after: timedelta | None = None, rng: random.Random | None = None) -> timedelta:
    """After a failure: exponential back-off from the interval (2^(n-1)), capped at ``maximum``;
    a server's Retry-After wins when it asks for longer."""
    backoff = interval * (2 ** min(max(error_count - 1, 0), 20))
    delay = min(backoff, maximum)
    if retry_after is not None:
        delay = max(delay, min(retry_after, maximum))
    return _jitter(delay, rng, upward_only=True)


def _jitter(delay: timedelta, rng: random.Random | None, *, upward_only: bool = False) -> timedelta:
    low = 1.0 if upward_only else 1 - JITTER
    return delay * (rng or random).uniform(low, 1 + JITTER)
