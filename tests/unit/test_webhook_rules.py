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


def _failed(failures: int, *, open_until: datetime | None = None, opens: int = 0, status_code: int | None = 500,
            since: datetime = NOW - timedelta(hours=1), attempted_at: datetime = NOW) -> breaker.Verdict:
    health = breaker.Health(failures, since, open_until, opens)
    return breaker.after_failure(health, NOW, attempted_at=attempted_at, status_code=status_code,
                                 disable_after=timedelta(days=5))


def test_breaker_opens_at_threshold_and_doubles_per_failed_probe() -> None:
    assert _failed(breaker.THRESHOLD - 1) == breaker.Verdict(None, None)
    assert _failed(breaker.THRESHOLD) == breaker.Verdict(NOW + breaker.BASE_COOLDOWN, None, 1)
    # closed: a first opening, whatever count an older release's replica left behind
    assert _failed(breaker.THRESHOLD + 3, opens=6) == breaker.Verdict(NOW + breaker.BASE_COOLDOWN, None, 1)
    # reopened by such a replica (it reset the failures, not the count): the count is bounded by the
    # failed probes the failures allow
    reopened = _failed(breaker.THRESHOLD + 1, open_until=NOW - timedelta(seconds=1), opens=7)
    assert reopened == breaker.Verdict(NOW + breaker.BASE_COOLDOWN * 2, None, 2)
    ended = NOW - timedelta(seconds=1)  # a probe: sent once the last period had ended
    probe = _failed(breaker.THRESHOLD + 1, open_until=ended, opens=1)
    third = _failed(breaker.THRESHOLD + 3, open_until=ended, opens=3)
    capped = _failed(breaker.THRESHOLD + 40, open_until=ended, opens=40, status_code=None)
    assert probe == breaker.Verdict(NOW + breaker.BASE_COOLDOWN * 2, None, 2)
    assert third == breaker.Verdict(NOW + breaker.BASE_COOLDOWN * 8, None, 4)
    assert capped.circuit_open_until == NOW + breaker.MAX_COOLDOWN


def test_breaker_ignores_attempts_sent_before_it_opened() -> None:
    """A backlog's attempts in flight when the circuit opened fail after it: they neither lengthen
    the period nor count as probes (nor does a second replica's probe of the same half-open circuit
    once the first has reopened it)."""
    sent = NOW - timedelta(seconds=2)
    for failures in range(breaker.THRESHOLD + 1, breaker.THRESHOLD + 4):
        assert _failed(failures, open_until=NOW + breaker.BASE_COOLDOWN, opens=1,
                       attempted_at=sent) == breaker.Verdict(None, None)
    # but a 410 or the disable window still counts, whenever it was sent
    assert _failed(breaker.THRESHOLD + 1, open_until=NOW + breaker.BASE_COOLDOWN, opens=1, attempted_at=sent,
                   status_code=410).disable_reason


def test_breaker_disables_on_410_and_after_days() -> None:
    assert _failed(1, since=NOW, status_code=410).disable_reason
    assert _failed(1, since=NOW - timedelta(days=5)).disable_reason
    assert _failed(1, since=NOW - timedelta(days=5) + timedelta(seconds=1)) == breaker.Verdict(None, None)
