"""Read-side SQL: filtered, keyset-paginated listings of events and items, and the figures the
dashboard and ``/metrics`` show. Never writes, never commits.

Listings are ordered newest first by ``(first_seen_at, id)``; a page ends at a cursor holding the
last row's pair, and the next page starts strictly after it. Rows inserted meanwhile are newer, so
they land before the cursor and never shift or repeat what is still to come.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, Sequence, TypeVar

from sqlalchemy import Select, and_, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from frwatch.models import Event, Item, ItemRevision, Outbox, Source, Subscription
from frwatch.store import outbox as outbox_store

T = TypeVar("T")


@dataclass(frozen=True)
class Cursor:
    """Where a page ended: the last row's ``first_seen_at`` and id."""

    seen: datetime
    id: str | int


@dataclass(frozen=True)
class Page:
    limit: int
    after: Cursor | None = None


@dataclass(frozen=True)
class Filters:
    """What event and item listings filter on; empty means "any".

    ``since``/``until`` bound ``first_seen_at`` (when frwatch detected the row, the listing
    order), so a poller can ask for what is new since its last visit. ``jurisdictions`` ``US``
    also matches ``US-CA``; regulators match case-insensitively, targets and ``q`` terms as
    case-insensitive substrings; an event matches ``languages`` when any report is in one of them.
    """

    since: datetime | None = None
    until: datetime | None = None
    jurisdictions: tuple[str, ...] = ()
    regulators: tuple[str, ...] = ()
    action_types: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    min_score: float | None = None
    q: str | None = None
    # items only
    sources: tuple[str, ...] = ()
    enforcement: bool | None = None
    event_id: str | None = None


@dataclass
class Listing(Generic[T]):
    """One page of rows and the cursor of the next page (None on the last)."""

    rows: list[T] = field(default_factory=list)
    next: Cursor | None = None


@dataclass(frozen=True)
class SourceRef:
    id: str
    name: str


def _verdict_conditions(model: type[Event] | type[Item], filters: Filters) -> list[Any]:
    """Conditions on the columns events and items share (the classifier's facts)."""
    conditions: list[Any] = []
    if filters.since is not None:
        conditions.append(model.first_seen_at >= filters.since)
    if filters.until is not None:
        conditions.append(model.first_seen_at <= filters.until)
    if filters.jurisdictions:
        conditions.append(or_(*(or_(model.jurisdiction == code, model.jurisdiction.startswith(code + "-"))
                                for code in filters.jurisdictions)))
    if filters.regulators:
        conditions.append(func.lower(model.regulator).in_([name.lower() for name in filters.regulators]))
    if filters.action_types:
        conditions.append(model.action_type.in_(filters.action_types))
    if filters.targets:
        conditions.append(or_(*(model.target.icontains(target, autoescape=True) for target in filters.targets)))
    if filters.min_score is not None:
        conditions.append(model.score >= filters.min_score)
    return conditions


def _text_conditions(q: str | None, columns: Sequence[Any]) -> list[Any]:
    """Every word of ``q`` must occur in one of ``columns``."""
    terms = (q or "").split()
    return [or_(*(column.icontains(term, autoescape=True) for column in columns)) for term in terms]


def _after(model: type[Event] | type[Item], cursor: Cursor | None) -> list[Any]:
    if cursor is None:
        return []
    return [or_(model.first_seen_at < cursor.seen, and_(model.first_seen_at == cursor.seen, model.id < cursor.id))]


async def _page(session: AsyncSession, query: Select[Any], model: type[Event] | type[Item], page: Page,
                key: Any) -> Listing[Any]:
    """Run ``query`` for one page (fetching one row more to know whether another page follows)."""
    query = query.where(*_after(model, page.after)).order_by(model.first_seen_at.desc(), model.id.desc())
    rows = list((await session.execute(query.limit(page.limit + 1))).all())
    listing = Listing(rows=rows[:page.limit])
    if len(rows) > page.limit:
        last = key(listing.rows[-1])
        listing.next = Cursor(last.first_seen_at, last.id)
    return listing


def event_conditions(filters: Filters) -> list[Any]:
    conditions = _verdict_conditions(Event, filters)
    if filters.languages:
        conditions.append(exists().where(Item.event_id == Event.id, Item.language.in_(filters.languages)))
    conditions += _text_conditions(filters.q, (Event.title, Event.summary, Event.target, Event.regulator))
    return conditions


async def list_events(session: AsyncSession, filters: Filters, page: Page) -> Listing[Event]:
    listing = await _page(session, select(Event).where(*event_conditions(filters)), Event, page,
                          key=lambda row: row[0])
    listing.rows = [row[0] for row in listing.rows]
    return listing


async def get_event(session: AsyncSession, event_id: str) -> Event | None:
    return await session.get(Event, event_id)


async def event_sources(session: AsyncSession, event_ids: Sequence[str]) -> dict[str, list[SourceRef]]:
    """The sources that reported each event, by name."""
    result: dict[str, list[SourceRef]] = {event_id: [] for event_id in event_ids}
    if not event_ids:
        return result
    rows = await session.execute(
        select(Item.event_id, Source.id, Source.name).join(Source, Source.id == Item.source_id)
        .where(Item.event_id.in_(event_ids)).distinct().order_by(Item.event_id, Source.name))
    for event_id, source_id, name in rows:
        result[event_id].append(SourceRef(source_id, name))
    return result


async def event_reports(session: AsyncSession, event_id: str, *, limit: int) -> list[tuple[Item, str]]:
    """The first ``limit`` items of an event with their source's name, oldest first."""
    rows = await session.execute(
        select(Item, Source.name).join(Source, Source.id == Item.source_id)
        .where(Item.event_id == event_id).order_by(Item.published_at, Item.id).limit(limit))
    return [(item, name) for item, name in rows]


async def first_links(session: AsyncSession, event_ids: Sequence[str]) -> dict[str, str | None]:
    """The link of each event's earliest report (the Atom entry's and dashboard row's link); one
    row per event is read, however many reports it has."""
    if not event_ids:
        return {}
    rank = func.row_number().over(partition_by=Item.event_id, order_by=(Item.published_at, Item.id))
    ranked = (select(Item.event_id, Item.link, rank.label("rank"))
              .where(Item.event_id.in_(event_ids)).subquery())
    rows = await session.execute(select(ranked.c.event_id, ranked.c.link).where(ranked.c.rank == 1))
    return {event_id: link for event_id, link in rows}


def item_conditions(filters: Filters) -> list[Any]:
    conditions = _verdict_conditions(Item, filters)
    if filters.languages:
        conditions.append(Item.language.in_(filters.languages))
    if filters.sources:
        conditions.append(Item.source_id.in_(filters.sources))
    if filters.enforcement is not None:
        conditions.append(Item.is_enforcement.is_(filters.enforcement))
    if filters.event_id is not None:
        conditions.append(Item.event_id == filters.event_id)
    conditions += _text_conditions(filters.q, (Item.title, Item.summary))
    return conditions


async def list_items(session: AsyncSession, filters: Filters, page: Page) -> Listing[tuple[Item, str]]:
    """Items of every verdict (near-misses included) with their source's name."""
    query = (select(Item, Source.name).join(Source, Source.id == Item.source_id)
             .where(*item_conditions(filters)))
    listing = await _page(session, query, Item, page, key=lambda row: row[0])
    listing.rows = [(item, name) for item, name in listing.rows]
    return listing


async def get_item(session: AsyncSession, item_id: int) -> tuple[Item, str] | None:
    row = (await session.execute(select(Item, Source.name).join(Source, Source.id == Item.source_id)
                                 .where(Item.id == item_id))).first()
    return None if row is None else (row[0], row[1])


async def item_revisions(session: AsyncSession, item_id: int) -> list[ItemRevision]:
    return list(await session.scalars(select(ItemRevision).where(ItemRevision.item_id == item_id)
                                      .order_by(ItemRevision.revision)))


@dataclass(frozen=True)
class OutboxBacklog:
    """Messages still owed (pending) and when the oldest of them was queued."""

    pending: int
    oldest_created_at: datetime | None


async def outbox_backlog(session: AsyncSession) -> OutboxBacklog:
    count, oldest = (await session.execute(
        select(func.count(), func.min(Outbox.created_at)).where(outbox_store.status_is(outbox_store.PENDING)))).one()
    return OutboxBacklog(pending=count, oldest_created_at=oldest)


async def source_states(session: AsyncSession) -> dict[str, int]:
    """How many sources are disabled, failing (errors since the last success) and ok."""
    failing = Source.error_count > 0
    rows = await session.execute(select(Source.enabled, failing, func.count()).group_by(Source.enabled, failing))
    counts = {"ok": 0, "failing": 0, "disabled": 0}
    for enabled, is_failing, count in rows:
        counts["disabled" if not enabled else "failing" if is_failing else "ok"] += count
    return counts


@dataclass(frozen=True)
class SubscriptionHealth:
    subscription: Subscription
    pending: int
    failed: int


async def subscription_health(session: AsyncSession, owner_id: str | None, *,
                              everyone: bool = False) -> list[SubscriptionHealth]:
    """Subscriptions of one owner (None: the admin's own), or ``everyone``'s, with how many
    messages each is owed and how many failed for good."""
    query = select(Subscription).order_by(Subscription.created_at, Subscription.id)
    if not everyone:
        query = query.where(Subscription.owner_id.is_(None) if owner_id is None else Subscription.owner_id == owner_id)
    subscriptions = list(await session.scalars(query))
    if not subscriptions:
        return []
    counts: dict[tuple[str, str], int] = {}
    for status in (outbox_store.PENDING, outbox_store.FAILED):  # each status by its own partial index
        rows = await session.execute(
            select(Outbox.subscription_id, func.count())
            .where(Outbox.subscription_id.in_([s.id for s in subscriptions]), outbox_store.status_is(status))
            .group_by(Outbox.subscription_id))
        counts.update({(sub_id, status): n for sub_id, n in rows})
    return [SubscriptionHealth(s, counts.get((s.id, outbox_store.PENDING), 0), counts.get((s.id, outbox_store.FAILED), 0))
            for s in subscriptions]
