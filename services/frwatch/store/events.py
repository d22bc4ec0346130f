"""SQL for events (one per real-world action) and their reports. Never commits."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from frwatch.classify.group import EventFacts
from frwatch.ids import new_id
from frwatch.models import Event, Item

FACT_FIELDS = ("regulator", "jurisdiction", "target", "action_type", "amount", "currency")


def facts_of(event: Event) -> EventFacts:
    return EventFacts(regulator=event.regulator, jurisdiction=event.jurisdiction, target=event.target,
                      action_type=event.action_type, amount=event.amount, currency=event.currency,
                      occurred_at=event.occurred_at)


RELATED_LOOKBACK = timedelta(days=5 * 365)  # how far back a later action finds the one it follows
MAX_CANDIDATES = 50


async def candidates(session: AsyncSession, *, target_key: str | None, regulator: str | None,
                     occurred_at: datetime, window: timedelta) -> list[Event]:
    """Events that might be the same action (same target or regulator within ``window``) or an
    earlier action against the same target (within ``RELATED_LOOKBACK``), newest first."""
    keys = []
    if target_key:
        keys.append(and_(Event.target_key == target_key, Event.occurred_at >= occurred_at - RELATED_LOOKBACK,
                         Event.occurred_at <= occurred_at + window))
    if regulator:
        keys.append(and_(Event.regulator == regulator, Event.occurred_at >= occurred_at - window,
                         Event.occurred_at <= occurred_at + window))
    if not keys:
        return []
    query = (select(Event).where(or_(*keys)).order_by(Event.occurred_at.desc()).limit(MAX_CANDIDATES)
             .with_for_update())
    return list(await session.scalars(query))


async def get(session: AsyncSession, event_id: str) -> Event | None:
    return await session.get(Event, event_id)


def create(session: AsyncSession, item: Item, *, target_key: str | None, occurred_at: datetime,
           related_event_id: str | None, now: datetime) -> Event:
    event = Event(id=new_id("evt"), title=item.title, summary=item.summary, target_key=target_key,
                  score=item.score, reasons=list(item.reasons or []), occurred_at=occurred_at,
                  first_seen_at=now, updated_at=now, item_count=1, related_event_id=related_event_id,
                  amount_eur=item.amount_eur,
                  **{name: getattr(item, name) for name in FACT_FIELDS})
    session.add(event)
    return event


def attach(event: Event, item: Item, now: datetime) -> list[str]:
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


async def items_of(session: AsyncSession, event_ids: list[str]) -> dict[str, list[Item]]:
    result: dict[str, list[Item]] = {event_id: [] for event_id in event_ids}
    if not event_ids:
        return result
    for item in await session.scalars(select(Item).where(Item.event_id.in_(event_ids))
                                      .order_by(Item.published_at, Item.id)):
        result[item.event_id].append(item)  # type: ignore[index]
    return result
