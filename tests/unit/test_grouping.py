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


def test_a_penalty_payment_and_another_kind_of_one_amount_are_one_action_told_two_ways() -> None:
    payment = facts(action_type="penalty_payment", amount=200_000.0, occurred_at=DAY + timedelta(days=1))
    assert match_event(payment, [("e1", facts(amount=200_000.0))]) == ("same", "e1")
    # "hits the firm with an extra €200,000 for ignoring the deletion order", read as the order
    order = facts(action_type="deletion_order", amount=200_000.0)
    assert match_event(payment, [("e1", order)]) == ("same", "e1")
    # of different amounts, the payment enforcing a fine is an action of its own
    assert match_event(payment, [("e1", facts())]) == ("related", "e1")
    # a judgment is never the same action as the fine it rules on, even of the same amount
    ruling = facts(action_type="judgment", amount=1_000_000.0, occurred_at=DAY + timedelta(days=1))
    assert match_event(ruling, [("e1", facts())]) == ("related", "e1")


def test_a_nameless_warning_or_reprimand_does_not_join_the_same_bodys_fine() -> None:
    fine = facts(target="Acme AI", occurred_at=None)
    warning = facts(target=None, action_type="warning", amount=None, currency=None, occurred_at=None)
    assert match_event(warning, [("e1", fine)])[0] != "same"
    # two nameless reports of one finding, told as a reprimand and as a breach, still join
    finding = facts(target=None, action_type="determination", amount=None, currency=None)
    reprimand = facts(target="Hill School", action_type="reprimand", amount=None, currency=None)
    assert match_event(finding, [("e1", reprimand)]) == ("same", "e1")


def test_a_name_of_generic_words_only_joins_like_no_name() -> None:
    """"Department fined …" names nobody: it joins the same regulator's report that names the
    Department of Social Protection, as a report with no target at all would."""
    named = facts(regulator="DPC", jurisdiction="IE", target="Department of Social Protection")
    for vague in ("Department", None):
        report = facts(regulator="DPC", jurisdiction="IE", target=vague, amount=None, currency=None)
        assert match_event(report, [("e1", named)]) == ("same", "e1")


def test_vague_words_still_tell_two_bodies_of_one_place_apart() -> None:
    """'Government' names no one alone but is no generic word inside a name."""
    first = facts(regulator="ICO", jurisdiction="GB", target="Scottish Police Authority", amount=None, currency=None)
    later = facts(regulator="ICO", jurisdiction="GB", target="Scottish Government", amount=None, currency=None,
                  occurred_at=DAY + timedelta(days=9))
    assert match_event(later, [("e1", first)])[0] != "same"


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


def test_event_pool_candidates_are_exactly_the_events_in_the_probe_spans() -> None:
    """Against a scan of every event: same target from RELATED_LOOKBACK before to GROUP_WINDOW
    after, or same regulator within GROUP_WINDOW either side (both ends included), newest first,
    ties in pool order, at most MAX_CANDIDATES; events put again are found under their new keys."""
    import random

    from frwatch.models import Event
    from frwatch.store.events import MAX_CANDIDATES, RELATED_LOOKBACK, EventPool, Probe

    rng = random.Random(7)
    window, lookback = GROUP_WINDOW.days, RELATED_LOOKBACK.days
    offsets = [0, 1, -1, window, -window, window + 1, -window - 1, lookback, -lookback, -lookback - 1]  # the edges

    def when() -> datetime:
        return DAY + timedelta(days=rng.choice([rng.choice(offsets), rng.uniform(-2500, 2500)]))

    def expected(events: dict[str, Event], order: list[str], probe: Probe) -> list[str]:
        def covered(event: Event) -> bool:
            at = event.occurred_at
            return bool(probe.target_key and event.target_key == probe.target_key
                        and probe.occurred_at - RELATED_LOOKBACK <= at <= probe.occurred_at + GROUP_WINDOW
                        or probe.regulator and event.regulator == probe.regulator
                        and probe.occurred_at - GROUP_WINDOW <= at <= probe.occurred_at + GROUP_WINDOW)
        found = [events[event_id] for event_id in order if covered(events[event_id])]
        found.sort(key=lambda event: event.occurred_at, reverse=True)
        return [event.id for event in found[:MAX_CANDIDATES]]

    for _ in range(100):
        targets, regulators = [None, "acme", "beta", "gamma"], [None, "ICO", "CNIL"]
        events: dict[str, Event] = {}
        order: list[str] = []
        pool = EventPool()
        for step in range(150):
            if step < 60 or rng.random() < 0.3:  # a new event, or one put again with new keys
                event_id = rng.choice(order) if order and rng.random() < 0.3 else f"evt_{step}"
                at = events[event_id].occurred_at if event_id in events else when()
                events[event_id] = Event(id=event_id, target_key=rng.choice(targets), regulator=rng.choice(regulators),
                                         occurred_at=at)
                order += [event_id] if event_id not in order else []
                pool.put(events[event_id])
            probe = Probe(rng.choice(targets), rng.choice(regulators), when())
            assert [event.id for event in pool.candidates(probe, GROUP_WINDOW)] == expected(events, order, probe)
