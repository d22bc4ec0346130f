"""When to retry a failed webhook: the configured schedule with ±20% jitter, and Retry-After."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Sequence


JITTER = 0.2
RETRY_AFTER_STATUSES = frozenset({429, 503})


def retry_delay(attempts: int, schedule: Sequence[timedelta], *, retry_after: timedelta | None = None,
                rng: random.Random | None = None) -> timedelta | None:
    """Delay before the next attempt after ``attempts`` failed ones, or None when the schedule is
    spent (the message fails). A server's Retry-After is honoured when it asks for longer, but
    never beyond the schedule's longest step."""
    if attempts < 1 or attempts > len(schedule):
        return None
    delay = schedule[attempts - 1] * (rng or random).uniform(1 - JITTER, 1 + JITTER)
    if retry_after is not None:
        delay = max(delay, min(retry_after, max(schedule)))
    return delay
