"""SQL for items and their revisions. Never commits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping, Sequence

from sqlalchemy import bindparam, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from frwatch.classify import Verdict
from frwatch.models import Item, ItemRevision

VERDICT_FIELDS = ("is_enforcement", "score", "action_type", "regulator", "jurisdiction", "target",
                  "amount", "currency", "amount_eur", "reasons")


@dataclass(frozen=True, slots=True)
class Known:
    """A stored item as de-duplication sees it (plain values: most entries of a feed are known and
    unchanged, and loading them as ORM rows would cost more than the rest of their poll)."""
    id: int
    dedup_key: str
    content_hash: str


async def find_known(session: AsyncSession, wanted: Mapping[str, tuple[Sequence[str], Sequence[str]]]
                     ) -> dict[str, tuple[dict[str, Known], dict[str, Known]]]:
    """For each source of ``wanted`` ({source id: (dedup keys, content hashes)}), its items stored
    under one of its keys, and (the oldest one) with one of its hashes, in one query:
    {source id: ({dedup key: item}, {content hash: item})}."""
    keys = {key for source_keys, _ in wanted.values() for key in source_keys}
    hashes = {text_hash for _, source_hashes in wanted.values() for text_hash in source_hashes}
    if not keys and not hashes:
        return {}
    rows = await session.execute(select(Item.source_id, Item.id, Item.dedup_key, Item.content_hash)
                                 .where(Item.source_id.in_(sorted(wanted)),
                                        or_(Item.dedup_key.in_(sorted(keys)), Item.content_hash.in_(sorted(hashes))))
                                 .order_by(Item.id))
    wanted_sets = {source_id: (set(source_keys), set(source_hashes))
                   for source_id, (source_keys, source_hashes) in wanted.items()}
    found: dict[str, tuple[dict[str, Known], dict[str, Known]]] = {}
    for source_id, *values in rows:
        known = Known(*values)
        source_keys, source_hashes = wanted_sets[source_id]
        by_key, by_content = found.setdefault(source_id, ({}, {}))
        if known.dedup_key in source_keys:
            by_key[known.dedup_key] = known
        if known.content_hash in source_hashes:
            by_content.setdefault(known.content_hash, known)
    return found


async def load(session: AsyncSession, item_ids: Sequence[int]) -> dict[int, Item]:
    """Items by id, as ORM rows (to be revised)."""
    if not item_ids:
        return {}
    return {item.id: item for item in await session.scalars(select(Item).where(Item.id.in_(item_ids)))}


async def rekey(session: AsyncSession, new_keys: Sequence[tuple[int, str]]) -> None:
    """Store items (by id) under new dedup keys: the same text came back under another key."""
    if new_keys:
        await session.execute(update(Item.__table__).where(Item.__table__.c.id == bindparam("b_id")),
                              [{"b_id": item_id, "dedup_key": key} for item_id, key in new_keys])


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
