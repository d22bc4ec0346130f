"""Retry delays: the schedule with ±20% jitter, exhaustion, and Retry-After."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest
from frwatch.notify.backoff import retry_delay
from frwatch.settings import Settings
from frwatch.timeutil import MAX_RETRY_AFTER, parse_retry_after

SCHEDULE = Settings.from_env({}).webhook_retry_schedule
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


def test_default_schedule_is_the_documented_one() -> None:
    hours = [d.total_seconds() / 3600 for d in SCHEDULE]
    assert hours == [5 / 3600, 5 / 60, 0.5, 2, 5, 10, 14, 20, 24]


@pytest.mark.parametrize("attempts", range(1, 10))
def test_each_step_within_twenty_percent(attempts: int) -> None:
    rng = random.Random(attempts)
    step = SCHEDULE[attempts - 1]
    delays = [retry_delay(attempts, SCHEDULE, rng=rng) for _ in range(200)]
    assert all(d is not None and step * 0.8 <= d <= step * 1.2 for d in delays)
    assert len(set(delays)) > 100  # jittered, not constant


def test_schedule_spent_means_fail() -> None:
    assert retry_delay(len(SCHEDULE) + 1, SCHEDULE) is None
    assert retry_delay(0, SCHEDULE) is None


def test_retry_after_wins_when_longer_but_is_capped() -> None:
    assert retry_delay(1, SCHEDULE, retry_after=timedelta(minutes=2)) == timedelta(minutes=2)
    assert retry_delay(1, SCHEDULE, retry_after=timedelta(days=30)) == max(SCHEDULE)
    short = retry_delay(3, SCHEDULE, retry_after=timedelta(seconds=1), rng=random.Random(1))
    assert short is not None and short >= timedelta(minutes=24)


def test_parse_retry_after() -> None:
    assert parse_retry_after("120", NOW) == timedelta(seconds=120)
    assert parse_retry_after("Sun, 01 Mar 2026 12:10:00 GMT", NOW) == timedelta(minutes=10)
    assert parse_retry_after("Sun, 01 Mar 2026 11:00:00 GMT", NOW) == timedelta(0)
    assert parse_retry_after("soon", NOW) is None
    assert parse_retry_after(None, NOW) is None


def test_parse_retry_after_never_raises_on_hostile_values() -> None:
    """A header is any latin-1 text: odd digits and huge numbers must not crash a poll or a delivery."""
    assert parse_retry_after("\u00b2", NOW) is None  # "²": str.isdigit() says yes, int() says no
    assert parse_retry_after("9" * 30, NOW) == MAX_RETRY_AFTER
    assert parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", NOW) == MAX_RETRY_AFTER
