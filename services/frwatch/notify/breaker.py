"""Endpoint health: the circuit breaker and the disable-after-days rule (pure decisions).

The state lives in the subscription row (``consecutive_failures``, ``failing_since``,
``circuit_open_until``, ``circuit_opens``) so every replica sees the same circuit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

THRESHOLD = 5  # consecutive failures that open the circuit
BASE_COOLDOWN = timedelta(seconds=30)  # first open period; doubles with every failed probe
MAX_COOLDOWN = timedelta(hours=1)
GONE_STATUS = 410


class Health(NamedTuple):
    """An endpoint's row once a failure is counted (``consecutive_failures`` includes it)."""
    consecutive_failures: int
    failing_since: datetime
    circuit_open_until: datetime | None
    circuit_opens: int  # times the circuit opened since it was last closed


@dataclass(frozen=True)
class Verdict:
    circuit_open_until: datetime | None
    disable_reason: str | None
    circuit_opens: int = 0  # with circuit_open_until: the count to store


def after_failure(health: Health, now: datetime, *, attempted_at: datetime, status_code: int | None,
                  disable_after: timedelta) -> Verdict:
    """What a failed attempt, sent at ``attempted_at``, does to its endpoint.

    Only a failure that opens the circuit, or a failed probe (an attempt sent once the circuit's
    period had ended), sets a new period. Attempts already in flight when the circuit opened
    were sent before it: their failures count towards the disable rule but leave the period as
    it is, so a backlog does not turn the first 30 s into minutes."""
    if status_code == GONE_STATUS:
        return Verdict(None, "endpoint answered 410 Gone")
    if now - health.failing_since >= disable_after:
        return Verdict(None, "endpoint failing without a success since " + health.failing_since.isoformat())
    if health.consecutive_failures < THRESHOLD:
        return Verdict(None, None)
    if health.circuit_open_until is not None and health.circuit_open_until > attempted_at:
        return Verdict(None, None)  # sent before the circuit (re)opened
    # A closed circuit opens for the first time. A reopened one counts one more opening, but never
    # more than its failures past the threshold allow (each opening after the first takes a failed
    # probe): a replica of the previous release closes and reopens circuits without the count
    opens = 1 if health.circuit_open_until is None else (
        min(health.circuit_opens, health.consecutive_failures - THRESHOLD) + 1)
    return Verdict(now + min(BASE_COOLDOWN * 2 ** min(opens - 1, 16), MAX_COOLDOWN), None, opens)
