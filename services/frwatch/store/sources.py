"""SQL for sources: config sync, CRUD, due-source leases and poll bookkeeping.

Store code never commits; the caller owns the transaction. Claiming uses
``FOR UPDATE SKIP LOCKED`` on PostgreSQL and an atomic guarded UPDATE everywhere, so two
processes never hold the same source.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Sequence

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from frwatch.models import Item, Source
from frwatch.sources_config import SourceSpec

SPEC_FIELDS = ("name", "url", "kind", "regulator", "jurisdiction", "language", "enabled")


@dataclass
class SyncReport:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    disabled: list[str] = field(default_factory=list)


def _spec_values(spec: SourceSpec) -> dict[str, Any]:
    values = {name: getattr(spec, name) for name in SPEC_FIELDS}
    values["poll_interval_s"] = int(spec.poll_interval.total_seconds()) if spec.poll_interval else None
    return values


def new_source(spec: SourceSpec, *, origin: str, now: datetime) -> Source:
    return Source(id=spec.id, origin=origin, created_at=now, updated_at=now, next_poll_at=now,
                  error_count=0, polls=0, dedup_mode="guid", **_spec_values(spec))


def apply_spec(source: Source, spec: SourceSpec, now: datetime) -> bool:
    """Update ``source`` from ``spec``; True if anything changed. A new URL starts fresh."""
    changed = False
    for name, value in _spec_values(spec).items():
        if getattr(source, name) != value:
            if name == "url":
                source.etag = source.last_modified = source.body_hash = None
                source.next_poll_at = now
            if name == "enabled" and value:
                source.disabled_reason = None
                source.next_poll_at = now
            setattr(source, name, value)
            changed = True
    if changed:
        source.updated_at = now
    return changed


async def sync_from_config(session: AsyncSession, specs: Sequence[SourceSpec], now: datetime) -> SyncReport:
    """Make the table match the sources file: add and change; a config source no longer in the
    file is disabled, never deleted, so its items stay. Sources added by API or CLI are left alone."""
    report = SyncReport()
    existing = {s.id: s for s in await session.scalars(select(Source))}
    for spec in specs:
        source = existing.get(spec.id)
        if source is None:
            session.add(new_source(spec, origin="config", now=now))
            report.added.append(spec.id)
        elif apply_spec(source, spec, now):
            report.changed.append(spec.id)
    wanted = {spec.id for spec in specs}
    for source in existing.values():
        if source.origin == "config" and source.id not in wanted and source.enabled:
            source.enabled = False
            source.disabled_reason = "removed from the sources file"
            source.updated_at = now
            report.disabled.append(source.id)
    await session.flush()
    return report


async def get(session: AsyncSession, source_id: str) -> Source | None:
    return await session.get(Source, source_id)


async def list_all(session: AsyncSession) -> list[Source]:
    return list(await session.scalars(select(Source).order_by(Source.id)))


async def add(session: AsyncSession, spec: SourceSpec, *, origin: str, now: datetime) -> Source:
    source = new_source(spec, origin=origin, now=now)
    session.add(source)
    await session.flush()
    return source


async def item_count(session: AsyncSession, source_id: str) -> int:
    return await session.scalar(select(func.count()).select_from(Item).where(Item.source_id == source_id)) or 0


async def remove(session: AsyncSession, source: Source, *, purge: bool, now: datetime) -> str:
    """Delete a source without items, or with ``purge`` its items too; otherwise disable it.
    Returns 'deleted' or 'disabled'."""
    if purge or await item_count(session, source.id) == 0:
        await session.execute(delete(Item).where(Item.source_id == source.id))
        await session.delete(source)
        await session.flush()
        return "deleted"
    source.enabled = False
    source.disabled_reason = "removed by an operator"
    source.updated_at = now
    await session.flush()
    return "disabled"


def _claimable(now: datetime, due_by: datetime) -> Any:
    return and_(Source.enabled.is_(True), Source.next_poll_at <= due_by,
                or_(Source.lease_until.is_(None), Source.lease_until < now))


async def claim_due(session: AsyncSession, *, now: datetime, worker: str, lease: timedelta,
                    limit: int, due_by: datetime | None = None) -> list[Source]:
    """Lease up to ``limit`` sources due by ``due_by`` (default now) to ``worker``.
    Commit right after, before fetching."""
    due_by = due_by or now
    candidates = (select(Source.id).where(_claimable(now, due_by)).order_by(Source.next_poll_at)
                  .limit(limit).with_for_update(skip_locked=True))
    ids = list(await session.scalars(candidates))
    if not ids:
        return []
    claimed = await session.scalars(
        update(Source).where(Source.id.in_(ids), _claimable(now, due_by))
        .values(lease_owner=worker, lease_until=now + lease).returning(Source.id))
    claimed_ids = list(claimed)
    return list(await session.scalars(select(Source).where(Source.id.in_(claimed_ids))
                                      .order_by(Source.next_poll_at).execution_options(populate_existing=True)))


async def lock_for_result(session: AsyncSession, source_id: str, worker: str) -> Source | None:
    """The source, if this worker still holds its lease (it may have expired and moved on)."""
    return await session.scalar(select(Source).where(Source.id == source_id, Source.lease_owner == worker)
                                .with_for_update().execution_options(populate_existing=True))


async def lock_many_for_result(session: AsyncSession, source_ids: Sequence[str], worker: str) -> dict[str, Source]:
    """``lock_for_result`` for many sources in one query (locked in id order, so two writers never
    deadlock): those whose lease this worker still holds, by id."""
    if not source_ids:
        return {}
    rows = await session.scalars(select(Source).where(Source.id.in_(source_ids), Source.lease_owner == worker)
                                 .order_by(Source.id).with_for_update().execution_options(populate_existing=True))
    return {source.id: source for source in rows}


async def release_all(session: AsyncSession, worker: str) -> None:
    """Give back every lease this worker holds (graceful shutdown) so another replica can poll at once."""
    await session.execute(update(Source).where(Source.lease_owner == worker)
                          .values(lease_owner=None, lease_until=None))


def spec_of(source: Source) -> SourceSpec:
    interval = timedelta(seconds=source.poll_interval_s) if source.poll_interval_s else None
    return SourceSpec(id=source.id, name=source.name, url=source.url, kind=source.kind,
                      regulator=source.regulator, jurisdiction=source.jurisdiction, language=source.language,
                      enabled=source.enabled, poll_interval=interval)
