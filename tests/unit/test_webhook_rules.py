"""Pure webhook rules: subscription matching, payload summarising, circuit breaker."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from frwatch.models import Event, Item
from frwatch.notify import breaker
from frwatch.notify.matching import DETECTED, UPDATED, MatchFacts, matches
from frwatch.notify.payload import event_body

NOW = datetime(2026, 3, 1, tzinfo=timezone.utc)
FACTS = MatchFacts(jurisdiction="US-IL", regulator="FTC", action_type="settlement", target="Rite Aid Corp",
                   score=0.8, languages={"en"})


@pytest.mark.parametrize("filters, expected", [
    ({}, True),
    ({"jurisdictions": ["US"]}, True),
    ({"jurisdictions": ["us-il"]}, True),
    ({"jurisdictions": ["USA"]}, False),
    ({"regulators": ["ftc"]}, True),
    ({"regulators": ["ICO"]}, False),
    ({"action_types": ["fine", "settlement"]}, True),
    ({"targets": ["rite aid"]}, True),
    ({"targets": ["clearview"]}, False),
    ({"languages": ["EN"]}, True),
    ({"languages": ["fr"]}, False),
    ({"min_score": 0.8}, True),
    ({"min_score": 0.81}, False),
    ({"jurisdictions": [], "min_score": None}, True),
])
def test_filters(filters: dict, expected: bool) -> None:
    assert matches([], filters, DETECTED, FACTS) is expected


def test_event_types_and_missing_facts() -> None:
    assert not matches([UPDATED], {}, DETECTED, FACTS)
    unknown = MatchFacts(jurisdiction=None, regulator=None, action_type=None, target=None, score=0.5, languages=())
    assert not matches([], {"jurisdictions": ["GB"]}, DETECTED, unknown)
    assert not matches([], {"targets": ["x"]}, DETECTED, unknown)


def _event() -> Event:
    return Event(id="evt_1", title="t", summary="s" * 100_000, regulator=None, jurisdiction=None, target=None,
                 action_type=None, amount=None, currency=None, score=0.9, reasons=[], first_seen_at=NOW)


def _items(count: int) -> list[Item]:
    return [Item(id=n, source_id="src", title="x" * 500, link=f"https://e.test/{n}", language="en",
                 published_at=NOW + timedelta(minutes=n)) for n in range(count)]


def test_small_event_keeps_every_report() -> None:
    body = json.loads(event_body(DETECTED, _event(), _items(3), {"src": "Source"}, NOW))
    assert len(body["data"]["items"]) == 3 and "items_omitted" not in body["data"]
    assert body["data"]["items"][0]["id"] == 2  # newest first
    assert len(body["data"]["event"]["summary"]) <= 4000


def test_large_event_is_summarised_to_the_limit() -> None:
    text = event_body(DETECTED, _event(), _items(2000), {"src": "Source"}, NOW, limit=64 * 1024)
    body = json.loads(text)
    assert len(text.encode()) <= 64 * 1024
    kept, omitted = len(body["data"]["items"]), body["data"]["items_omitted"]
    assert kept > 50 and kept + omitted == 2000
    assert body["data"]["items"][0]["id"] == 1999


def test_breaker_opens_at_threshold_and_backs_off() -> None:
    since, window = NOW - timedelta(hours=1), timedelta(days=5)
    assert breaker.after_failure(breaker.THRESHOLD - 1, since, NOW, status_code=500,
                                 disable_after=window) == breaker.Verdict(None, None)
    first = breaker.after_failure(breaker.THRESHOLD, since, NOW, status_code=500, disable_after=window)
    later = breaker.after_failure(breaker.THRESHOLD + 3, since, NOW, status_code=500, disable_after=window)
    capped = breaker.after_failure(breaker.THRESHOLD + 40, since, NOW, status_code=None, disable_after=window)
    assert first.circuit_open_until == NOW + breaker.BASE_COOLDOWN
    assert later.circuit_open_until == NOW + breaker.BASE_COOLDOWN * 8
    assert capped.circuit_open_until == NOW + breaker.MAX_COOLDOWN


def test_breaker_disables_on_410_and_after_days() -> None:
    window = timedelta(days=5)
    assert breaker.after_failure(1, NOW, NOW, status_code=410, disable_after=window).disable_reason
    assert breaker.after_failure(1, NOW - window, NOW, status_code=500, disable_after=window).disable_reason
