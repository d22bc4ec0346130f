"""SQL for events (one per real-world action) and their reports. Never commits."""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right, insort
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Iterable, Sequence

from sqlalchemy import and_, bindparam, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from frwatch.classify.group import EventFacts
from frwatch.ids import new_id
from frwatch.models import Event, Item
from frwatch.store import outbox as outbox_store
from frwatch.store.items import NewItem
from frwatch.store.shapes import padded

FACT_FIELDS = ("regulator", "jurisdiction", "target", "action_type", "amount", "currency")


@dataclass(frozen=True, slots=True)
class Candidate:
    """A stored event as grouping compares reports with it: locked by ``candidate_pool``, loaded
    whole (``get``) only when a report joins it."""
    id: str
    target_key: str | None
    facts: EventFacts

    @property
    def regulator(self) -> str | None:
        return self.facts.regulator

    @property
    def occurred_at(self) -> datetime:
        assert self.facts.occurred_at is not None  # a stored event always has one
        return self.facts.occurred_at


_CANDIDATE_COLUMNS = [Event.id, Event.target_key, *(getattr(Event, name) for name in FACT_FIELDS), Event.occurred_at]


def facts_of(event: Event | Candidate) -> EventFacts:
    if isinstance(event, Candidate):
        return event.facts
    return EventFacts(regulator=event.regulator, jurisdiction=event.jurisdiction, target=event.target,
                      action_type=event.action_type, amount=event.amount, currency=event.currency,
                      occurred_at=event.occurred_at)


RELATED_LOOKBACK = timedelta(days=5 * 365)  # how far back a later action finds the one it follows
MAX_CANDIDATES = 50


@dataclass(frozen=True)
class Probe:
    """What one report searches its candidate events by (see ``EventPool.candidates``)."""
    target_key: str | None
    regulator: str | None
    occurred_at: datetime


def _spans(probe: Probe, window: timedelta) -> list[tuple[tuple[str, str], datetime, datetime]]:
    """Where ``probe``'s candidate events lie, per pool key, first and last date included: the
    same action (same target or regulator, within ``window``) or an earlier action against the
    same target (within ``RELATED_LOOKBACK``)."""
    when = probe.occurred_at
    spans = []
    if probe.target_key:
        spans.append((("target", probe.target_key), when - RELATED_LOOKBACK, when + window))
    if probe.regulator:
        spans.append((("regulator", probe.regulator), when - window, when + window))
    return spans


async def candidate_pool(session: AsyncSession, probes: Sequence[Probe],
                         window: timedelta) -> list[Event | Candidate]:
    """The candidate events of any of ``probes`` (see ``_spans``), locked; ``EventPool.candidates``
    picks per probe.

    One query for all probes: a superset (each target key and regulator of the batch is searched
    over the spans around all its probes' dates, see ``_searched``), newest first, at most
    ``MAX_CANDIDATES`` per probe. When that bound cuts the answer off and the probes' dates lie far
    apart (an edited report from last year beside today's), the newest events could crowd an older
    report's own candidates out: then each run of probes within ``window`` of each other is searched
    again on its own, newest run first."""
    found = await _candidates(session, probes, window)
    if len(found) < MAX_CANDIDATES * len(probes) or len(runs := _runs(probes, window)) == 1:
        return list(found)
    pool: dict[str, Event | Candidate] = {candidate.id: candidate for candidate in found}
    for run in reversed(runs):
        for candidate in await _candidates(session, run, window):
            pool.setdefault(candidate.id, candidate)
    return list(pool.values())


def _runs(probes: Sequence[Probe], window: timedelta) -> list[list[Probe]]:
    """``probes`` by date, cut where one lies more than ``window`` after the first of its run."""
    runs: list[list[Probe]] = []
    for probe in sorted(probes, key=lambda probe: probe.occurred_at):
        if runs and probe.occurred_at - runs[-1][0].occurred_at <= window:
            runs[-1].append(probe)
        else:
            runs.append([probe])
    return runs


async def _candidates(session: AsyncSession, probes: Sequence[Probe], window: timedelta) -> list[Candidate]:
    clauses = [clause for clause in (
        _searched(Event.target_key, [(p.target_key, p.occurred_at) for p in probes], RELATED_LOOKBACK, window),
        _searched(Event.regulator, [(p.regulator, p.occurred_at) for p in probes], window, window),
    ) if clause is not None]
    if not clauses:
        return []
    # one order for every transaction (newest first, then id), so two never lock in a cycle
    query = (select(*_CANDIDATE_COLUMNS).where(or_(*clauses)).order_by(Event.occurred_at.desc(), Event.id)
             .limit(MAX_CANDIDATES * len(probes)).with_for_update())
    return [Candidate(row[0], row[1], EventFacts(*row[2:])) for row in await session.execute(query)]


def _searched(column: Any, keys: Sequence[tuple[str | None, datetime]], before: timedelta,
              after: timedelta) -> Any:
    """``column`` is one of the given names, and the event falls from ``before`` to ``after`` one
    of their times (None when no name is given). Reports of one batch may lie years apart: the
    dates are searched as the spans around them, not as one span from the earliest to the latest."""
    named = [(name, when) for name, when in keys if name]
    if not named:
        return None
    spans: list[tuple[datetime, datetime]] = []
    for when in sorted(when for _, when in named):
        if spans and when - before <= spans[-1][1]:
            spans[-1] = (spans[-1][0], when + after)
        else:
            spans.append((when - before, when + after))
    return and_(column.in_(padded(sorted({name for name, _ in named}))),
                or_(*(Event.occurred_at.between(first, last) for first, last in padded(spans))))


class EventPool:
    """A batch's candidate events (stored ones from ``candidate_pool``, and those the batch
    creates), indexed by target key and by regulator, each index in date order, so a report is
    compared only with the events of its target and its regulator within its dates."""

    def __init__(self, events: Iterable[Event | Candidate] = ()):
        self._events: dict[str, Event | Candidate] = {}
        self._by_key: dict[tuple[str, str], list[tuple[datetime, int, str]]] = {}  # sorted (date, rank, id)
        self._entries: dict[str, tuple[tuple[tuple[str, str], ...], tuple[datetime, int, str]]] = {}
        self._rank: dict[str, int] = {}  # order of first arrival: it breaks ties between equally dated events
        for event in events:
            self.put(event)

    def put(self, event: Event | Candidate) -> None:
        """Add ``event``, or put it in place of the entry with its id (the stored event loaded
        whole, or its target or regulator just filled in by a report)."""
        keys, entry = self._entries.pop(event.id, ((), None))
        for key in keys:
            index = self._by_key[key]
            del index[bisect_left(index, entry)]
        entry = (event.occurred_at, self._rank.setdefault(event.id, len(self._rank)), event.id)
        keys = _pool_keys(event.target_key, event.regulator)
        for key in keys:
            insort(self._by_key.setdefault(key, []), entry)
        self._entries[event.id] = keys, entry
        self._events[event.id] = event

    def candidates(self, probe: Probe, window: timedelta) -> list[Event | Candidate]:
        """The candidate events of ``probe`` (see ``_spans``), newest first (equally dated ones in
        the order they came into the pool: ``candidate_pool``'s, then the batch's new events), at
        most ``MAX_CANDIDATES``."""
        found: dict[str, tuple[datetime, int, str]] = {}
        for key, first, last in _spans(probe, window):
            index = self._by_key.get(key, [])
            for entry in index[bisect_left(index, (first,)):bisect_right(index, (last, math.inf))]:
                found[entry[2]] = entry
        newest_first = sorted(found.values(), key=lambda entry: entry[1])
        newest_first.sort(key=lambda entry: entry[0], reverse=True)  # stable: ties keep their rank
        return [self._events[event_id] for _, _, event_id in newest_first[:MAX_CANDIDATES]]


def _pool_keys(target_key: str | None, regulator: str | None) -> tuple[tuple[str, str], ...]:
    return tuple((kind, value) for kind, value in (("target", target_key), ("regulator", regulator)) if value)


async def get(session: AsyncSession, event_id: str) -> Event | None:
    return await session.get(Event, event_id)


def create(session: AsyncSession, item: Item | NewItem, *, target_key: str | None, occurred_at: datetime,
           related_event_id: str | None, now: datetime) -> Event:
    event = Event(id=new_id("evt"), title=item.title, summary=item.summary, target_key=target_key,
                  score=item.score, reasons=list(item.reasons or []), occurred_at=occurred_at,
                  first_seen_at=now, updated_at=now, item_count=1, related_event_id=related_event_id,
                  amount_eur=item.amount_eur,
                  **{name: getattr(item, name) for name in FACT_FIELDS})
    session.add(event)
    return event


def attach(event: Event, item: Item | NewItem, now: datetime) -> list[str]:
    """Add a report to an event: fill facts the event lacked, keep the best score.
    Returns the names of the facts that changed."""
    changed = []
    for name in FACT_FIELDS:
        if getattr(event, name) is None and getattr(item, name) is not None:
            setattr(event, name, getattr(item, name))
            changed.append(name)
    if event.amount_eur is None and item.amount_eur is not None:
        event.amount_eur = item.amount_eur
    if item.score > event.score:
        event.score = item.score
        event.reasons = list(item.reasons or [])
    event.item_count += 1
    event.updated_at = now
    return changed


async def recount(session: AsyncSession, event_ids: Sequence[str]) -> list[str]:
    """After some of their reports were deleted: store each event's count of the reports left, and
    delete the events left with none (see ``outbox.forget_events``; a later action pointing at one
    no longer does). Returns the ids of the deleted events."""
    if not event_ids:
        return []
    # locked first, in candidate_pool's order: a poll attaching a report meanwhile is counted, never overwritten
    await session.execute(select(Event.id).where(Event.id.in_(event_ids))
                          .order_by(Event.occurred_at.desc(), Event.id).with_for_update())
    left = dict((await session.execute(select(Item.event_id, func.count()).where(Item.event_id.in_(event_ids))
                                       .group_by(Item.event_id))).all())
    table = Event.__table__
    if left:
        await session.execute(update(table).where(table.c.id == bindparam("b_id")),
                              [{"b_id": event_id, "item_count": count} for event_id, count in sorted(left.items())])
    empty = sorted(set(event_ids) - set(left))
    if empty:
        await outbox_store.forget_events(session, empty)
        await session.execute(update(Event).where(Event.related_event_id.in_(empty)).values(related_event_id=None))
        await session.execute(delete(Event).where(Event.id.in_(empty)))
    return empty


async def items_of(session: AsyncSession, event_ids: list[str]) -> dict[str, list[Item]]:
    result: dict[str, list[Item]] = {event_id: [] for event_id in event_ids}
    if not event_ids:
        return result
    for item in await session.scalars(select(Item).where(Item.event_id.in_(event_ids))
                                      .order_by(Item.published_at, Item.id)):
        result[item.event_id].append(item)  # type: ignore[index]
    return result
