"""Source sync and leases on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select

from frwatch.models import Item, Source
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from frwatch.sources_config import SourceSpec
from frwatch.store import sources as store
from frwatch.timeutil import utcnow


def spec(source_id: str, **kw: object) -> SourceSpec:
    values: dict[str, object] = dict(id=source_id, name=source_id.upper(), url=f"https://{source_id}.example/feed",
                                     kind="news")
    values.update(kw)
    return SourceSpec(**values)  # type: ignore[arg-type]


async def test_sync_adds_changes_and_disables_never_deletes(sessions: async_sessionmaker[AsyncSession]) -> None:
    now = utcnow()
    async with sessions() as s, s.begin():
        report = await store.sync_from_config(s, [spec("a"), spec("b"), spec("c")], now)
        assert sorted(report.added) == ["a", "b", "c"]
        await store.add(s, spec("manual"), origin="cli", now=now)
        s.add(Item(source_id="c", dedup_key="k", title="t", summary="s", content_hash="h", published_at=now,
                   first_seen_at=now, updated_at=now, reasons=[]))
    async with sessions() as s, s.begin():
        report = await store.sync_from_config(s, [spec("a"), spec("b", name="Bee", url="https://b.example/new")], now)
    assert report.added == [] and report.changed == ["b"] and report.disabled == ["c"]
    async with sessions() as s:
        rows = {src.id: src for src in await store.list_all(s)}
        items = list(await s.scalars(select(Item)))
    assert set(rows) == {"a", "b", "c", "manual"}          # nothing deleted
    assert rows["c"].enabled is False and "removed" in rows["c"].disabled_reason
    assert rows["manual"].enabled is True                   # CLI sources are not the file's to disable
    assert rows["b"].name == "Bee" and rows["b"].url == "https://b.example/new"
    assert len(items) == 1                                  # c's item kept
    async with sessions() as s, s.begin():           # back in the file → enabled again
        report = await store.sync_from_config(s, [spec("a"), spec("b", name="Bee", url="https://b.example/new"), spec("c")], now)
    assert report.changed == ["c"]


async def test_claims_are_exclusive_across_concurrent_workers(sessions: async_sessionmaker[AsyncSession]) -> None:
    now = utcnow()
    async with sessions() as s, s.begin():
        await store.sync_from_config(s, [spec(f"s{i}") for i in range(30)], now)

    async def claim(worker: str) -> list[str]:
        got: list[str] = []
        while True:
            async with sessions() as s, s.begin():
                batch = await store.claim_due(s, now=now, worker=worker, lease=timedelta(minutes=5), limit=4)
            if not batch:
                return got
            got += [src.id for src in batch]

    results = await asyncio.gather(*(claim(f"w{i}") for i in range(3)))
    claimed = [sid for got in results for sid in got]
    assert sorted(claimed) == sorted(f"s{i}" for i in range(30))   # each exactly once
    async with sessions() as s:
        owners = {src.lease_owner for src in await s.scalars(select(Source))}
    assert owners <= {"w0", "w1", "w2"} and None not in owners


async def test_expired_lease_is_claimed_again_and_old_holder_loses_it(sessions: async_sessionmaker[AsyncSession]) -> None:
    now = utcnow()
    async with sessions() as s, s.begin():
        await store.sync_from_config(s, [spec("x")], now)
        first = await store.claim_due(s, now=now, worker="dead", lease=timedelta(minutes=5), limit=10)
    assert [src.id for src in first] == ["x"]
    async with sessions() as s, s.begin():
        assert await store.claim_due(s, now=now + timedelta(minutes=1), worker="other",
                                     lease=timedelta(minutes=5), limit=10) == []
        again = await store.claim_due(s, now=now + timedelta(minutes=6), worker="other",
                                      lease=timedelta(minutes=5), limit=10)
    assert [src.id for src in again] == ["x"]
    async with sessions() as s, s.begin():
        assert await store.lock_for_result(s, "x", "dead") is None
        assert await store.lock_for_result(s, "x", "other") is not None
        await store.release_all(s, "other")
    async with sessions() as s:
        source = await store.get(s, "x")
        assert source is not None and source.lease_owner is None
