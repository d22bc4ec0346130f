"""Event grouping: same action across languages/wording, separate but related later actions."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from frwatch.classify import Classifier, ItemText
from frwatch.classify.group import GROUP_WINDOW, EventFacts, group_batch, match_event, target_key

DAY = datetime(2024, 3, 1, tzinfo=timezone.utc)


def facts(**kw) -> EventFacts:
    base = dict(regulator="CNIL", jurisdiction="FR", target="Acme AI", action_type="fine",
                amount=1_000_000.0, currency="EUR", occurred_at=DAY)
    base.update(kw)
    return EventFacts(**base)


def test_target_key() -> None:
    assert target_key("Clearview AI Inc.") == "clearview"
    assert target_key("Comune di Trento") == target_key("Municipality of Trento") == "trento"
    assert target_key(None) is None


def test_same_action_two_reports() -> None:
    assert match_event(facts(target="Acme AI Inc.", occurred_at=DAY + timedelta(days=1)),
                       [("e1", facts())]) == ("same", "e1")


def test_second_fine_is_related() -> None:
    later = facts(occurred_at=DAY + GROUP_WINDOW * 12, amount=5_000_000.0)
    assert match_event(later, [("e1", facts())]) == ("related", "e1")


def test_appeal_judgment_is_related_even_soon() -> None:
    appeal = facts(regulator="Conseil d'État", action_type="judgment", amount=None, currency=None,
                   occurred_at=DAY + timedelta(days=5))
    assert match_event(appeal, [("e1", facts())]) == ("related", "e1")


def test_other_company_is_new() -> None:
    assert match_event(facts(target="Other Corp", amount=3_000_000.0), [("e1", facts())]) == ("new", None)


def test_batch_groups_across_languages() -> None:
    clf = Classifier.load()
    items = [
        ItemText("a", "La CNIL inflige une amende de 8 millions d'euros à Acme Vision",
                 "Reconnaissance faciale sans base légale.", published=DAY, language="fr"),
        ItemText("b", "France fines Acme Vision €8m over facial recognition", "",
                 published=DAY + timedelta(days=1), language="en"),
        ItemText("c", "CNIL fines Acme Vision again, €2m for facial recognition failures", "",
                 published=DAY + timedelta(days=300), language="en"),
        ItemText("d", "New phone launches with face unlock", "", published=DAY, language="en"),
    ]
    ids = group_batch([(i, clf.classify(i)) for i in items])
    assert ids[0] == ids[1] and ids[0] is not None and ids[0].startswith("evt_")
    assert ids[2] not in (None, ids[0])
    assert ids[3] is None
    assert ids == group_batch([(i, clf.classify(i)) for i in items])  # deterministic


def test_event_pool_finds_an_event_by_its_current_target_and_regulator() -> None:
    """The pool indexes events by target key and regulator; an event put again (loaded whole, or
    its target filled in by a report) is found under its new keys, and only once."""
    from frwatch.models import Event
    from frwatch.store.events import Candidate, EventPool, Probe

    stored = Candidate("evt_a", None, facts(target=None, regulator="ICO"))
    pool = EventPool([stored, Candidate("evt_b", "other", facts(target="Other", regulator="CNIL"))])
    by_target, by_regulator = Probe("acme ai", None, DAY), Probe(None, "ICO", DAY)
    assert pool.candidates(by_target, GROUP_WINDOW) == []
    assert pool.candidates(by_regulator, GROUP_WINDOW) == [stored]

    loaded = Event(id="evt_a", target_key="acme ai", regulator="ICO", occurred_at=DAY)  # a report named the target
    pool.put(loaded)
    assert pool.candidates(by_target, GROUP_WINDOW) == [loaded]
    assert pool.candidates(Probe("acme ai", "ICO", DAY), GROUP_WINDOW) == [loaded]  # under both keys, once

    loaded.regulator = "CNIL"
    pool.put(loaded)
    assert pool.candidates(by_regulator, GROUP_WINDOW) == []
    assert sorted(e.id for e in pool.candidates(Probe(None, "CNIL", DAY), GROUP_WINDOW)) == ["evt_a", "evt_b"]


def test_event_pool_keeps_the_pool_order_among_equally_dated_events() -> None:
    """Equally dated candidates come in the order they entered the pool, however they were
    indexed or put again: which one a report joins must not depend on the index."""
    from frwatch.models import Event
    from frwatch.store.events import Candidate, EventPool, Probe

    first = Candidate("evt_a", "acme ai", facts(regulator="ICO"))
    second = Candidate("evt_b", "beta", facts(target="Beta", regulator="ICO"))
    pool = EventPool([first, second])
    probe = Probe("beta", "ICO", DAY)  # finds evt_b under its target first, evt_a under the regulator
    assert [e.id for e in pool.candidates(probe, GROUP_WINDOW)] == ["evt_a", "evt_b"]
    pool.put(Event(id="evt_a", target_key="acme ai", regulator="ICO", occurred_at=DAY))  # a report joined it
    pool.put(Event(id="evt_c", target_key=None, regulator="ICO", occurred_at=DAY))  # the batch made it
    assert [e.id for e in pool.candidates(probe, GROUP_WINDOW)] == ["evt_a", "evt_b", "evt_c"]
