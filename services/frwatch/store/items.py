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


PARAMS_PER_QUERY = 10_000  # bound values per lookup: PostgreSQL takes at most 32,767 in one statement


async def find_known(session: AsyncSession, wanted: Mapping[str, tuple[Sequence[str], Sequence[str]]]
                     ) -> dict[str, tuple[dict[str, Known], dict[str, Known]]]:
    """For each source of ``wanted`` ({source id: (dedup keys, content hashes)}), its items stored
    under one of its keys, and (the oldest one) with one of its hashes, in as few queries as the
    bound-value limit allows (usually one): {source id: ({dedup key: item}, {content hash: item})}."""
    wanted_sets = {source_id: (set(keys), set(hashes)) for source_id, (keys, hashes) in wanted.items()}
    values = [(source_id, is_key, value) for source_id, (keys, hashes) in wanted.items()
              for is_key, batch in ((True, keys), (False, hashes)) for value in batch]
    found: dict[str, tuple[dict[str, Known], dict[str, Known]]] = {}
    for start in range(0, len(values), PARAMS_PER_QUERY):
        chunk = values[start:start + PARAMS_PER_QUERY]
        keys = sorted({value for _, is_key, value in chunk if is_key})
        hashes = sorted({value for _, is_key, value in chunk if not is_key})
        rows = await session.execute(select(Item.source_id, Item.id, Item.dedup_key, Item.content_hash)
                                     .where(Item.source_id.in_(sorted({source_id for source_id, _, _ in chunk})),
                                            or_(Item.dedup_key.in_(keys), Item.content_hash.in_(hashes))))
        for source_id, *columns in rows:
            known = Known(*columns)
            source_keys, source_hashes = wanted_sets[source_id]
            by_key, by_content = found.setdefault(source_id, ({}, {}))
            if known.dedup_key in source_keys:
                by_key[known.dedup_key] = known
            if known.content_hash in source_hashes and (
                    known.content_hash not in by_content or known.id < by_content[known.content_hash].id):
                by_content[known.content_hash] = known
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
