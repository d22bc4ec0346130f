"""SQL for items and their revisions. Never commits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Sequence

from sqlalchemy import insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from frwatch.classify import Verdict
from frwatch.models import Item, ItemRevision

VERDICT_FIELDS = ("is_enforcement", "score", "action_type", "regulator", "jurisdiction", "target",
                  "amount", "currency", "amount_eur", "reasons")


async def find_known(session: AsyncSession, source_id: str, keys: Sequence[str],
                     hashes: Sequence[str]) -> tuple[dict[str, Item], dict[str, Item]]:
    """A source's items stored under one of ``keys``, and (the oldest one) with one of the content
    ``hashes``, in one query: ({dedup key: item}, {content hash: item})."""
    if not keys and not hashes:
        return {}, {}
    rows = await session.scalars(select(Item).where(Item.source_id == source_id,
                                                    or_(Item.dedup_key.in_(keys), Item.content_hash.in_(hashes)))
                                 .order_by(Item.id))
    by_key: dict[str, Item] = {}
    by_content: dict[str, Item] = {}
    wanted_keys, wanted_hashes = set(keys), set(hashes)
    for item in rows:
        if item.dedup_key in wanted_keys:
            by_key[item.dedup_key] = item
        if item.content_hash in wanted_hashes:
            by_content.setdefault(item.content_hash, item)
    return by_key, by_content


def verdict_values(verdict: Verdict) -> dict[str, Any]:
    return {name: getattr(verdict, name) for name in VERDICT_FIELDS}


@dataclass
class NewItem:
    """An item not stored yet: the columns of ``Item`` (but its id), written by ``insert_new``.
    Cheaper than an ORM object, and its event is known before it is written."""
    source_id: str
    dedup_key: str
    guid: str | None
    link: str | None
    title: str
    summary: str
    language: str | None
    content_hash: str
    published_at: datetime
    first_seen_at: datetime
    updated_at: datetime
    is_enforcement: bool
    score: float
    action_type: str | None
    regulator: str | None
    jurisdiction: str | None
    target: str | None
    amount: float | None
    currency: str | None
    amount_eur: float | None
    reasons: list[Any]
    revision: int = 1
    event_id: str | None = None


async def insert_new(session: AsyncSession, items: Sequence[NewItem]) -> None:
    """Write new items in one statement (flush pending ORM changes first: their events)."""
    if items:
        await session.execute(insert(Item.__table__), [vars(item) for item in items])  # Core: no ORM bulk bookkeeping


def revise(session: AsyncSession, item: Item, *, title: str, summary: str, link: str | None,
           content_hash: str, verdict: Verdict, now: datetime) -> None:
    """Keep the old text as a revision, then store the new text and verdict on the item."""
    session.add(ItemRevision(item_id=item.id, revision=item.revision, title=item.title, summary=item.summary,
                             link=item.link, content_hash=item.content_hash, recorded_at=now))
    item.title, item.summary, item.link, item.content_hash = title, summary, link, content_hash
    item.revision += 1
    item.updated_at = now
    for name, value in verdict_values(verdict).items():
        setattr(item, name, value)
