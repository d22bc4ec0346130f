"""Endpoint health: the circuit breaker and the disable-after-days rule (pure decisions).

The state lives in the subscription row (``consecutive_failures``, ``circuit_open_until``,
``failing_since``) so every replica sees the same circuit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

THRESHOLD = 5  # consecutive failures that open the circuit
BASE_COOLDOWN = timedelta(seconds=30)  # first open period; doubles with every failed probe
MAX_COOLDOWN = timedelta(hours=1)
GONE_STATUS = 410


@dataclass(frozen=True)
class Verdict:
    circuit_open_until: datetime | None
    disable_reason: str | None


def after_failure(consecutive_failures: int, failing_since: datetime, now: datetime, *,
                  status_code: int | None, disable_after: timedelta) -> Verdict:
    """What a failed attempt does to its endpoint. ``consecutive_failures`` includes this one."""
    if status_code == GONE_STATUS:
        return Verdict(None, "endpoint answered 410 Gone")
    if now - failing_since >= disable_after:
        return Verdict(None, "endpoint failing without a success since " + failing_since.isoformat())
    if consecutive_failures < THRESHOLD:
        return Verdict(None, None)
    doublings = min(consecutive_failures - THRESHOLD, 16)
    return Verdict(now + min(BASE_COOLDOWN * 2 ** doublings, MAX_COOLDOWN), None)

