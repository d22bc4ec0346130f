"""Turning event changes into outbox rows (one per matching subscription), in the same
transaction as the event, so no alert is lost between commit and send."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from frwatch.models import Event, Item
from frwatch.notify.matching import DETECTED, MatchFacts, matches
from frwatch.notify.payload import event_body
from frwatch.store import events as event_store
from frwatch.store import outbox as outbox_store
from frwatch.store import subscriptions as subscription_store


@dataclass
class EventChange:
    event: Event
    kind: str  # enforcement.detected | enforcement.updated


def coalesce(changes: Sequence[EventChange]) -> list[EventChange]:
    """One change per event, in first-seen order: ``detected`` wins over ``updated`` (the
    receiver has not heard of the event yet)."""
    merged: dict[str, EventChange] = {}
    for change in changes:
        known = merged.get(change.event.id)
        if known is None:
            merged[change.event.id] = EventChange(change.event, change.kind)
        elif change.kind == DETECTED:
            known.kind = DETECTED
    return list(merged.values())


def facts(event: Event, items: Sequence[Item]) -> MatchFacts:
    return MatchFacts(jurisdiction=event.jurisdiction, regulator=event.regulator, action_type=event.action_type,
                      target=event.target, score=event.score,
                      languages={item.language for item in items if item.language})


async def enqueue_event_changes(session: AsyncSession, changes: Sequence[EventChange], now: datetime) -> int:
    """Write the outbox rows these changes owe; returns how many."""
    merged = coalesce(changes)
    if not merged:
        return 0
    subscriptions = await subscription_store.list_enabled(session)
    if not subscriptions:
        return 0
    reports = await event_store.items_of(session, [change.event.id for change in merged])
    names = await outbox_store.source_names(session, [i.source_id for items in reports.values() for i in items])
    written = 0
    for change in merged:
        items = reports[change.event.id]
        event_facts = facts(change.event, items)
        wanted = [s for s in subscriptions if matches(s.event_types, s.filters, change.kind, event_facts)]
        if not wanted:
            continue
        body = event_body(change.kind, change.event, items, names, now)
        for subscription in wanted:
            outbox_store.add(session, subscription_id=subscription.id, event_id=change.event.id,
                             event_type=change.kind, payload=body, now=now)
            written += 1
    await session.flush()
    return written
