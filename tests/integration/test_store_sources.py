"""Source sync and leases on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select, update

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
        assert await store.lock_held(s, ["x"], "dead") == set()
        assert await store.lock_held(s, ["x"], "other") == {"x"}
        await store.release_all(s, "other")
    async with sessions() as s:
        source = await store.get(s, "x")
        assert source is not None and source.lease_owner is None


async def test_record_polls_writes_held_rows_only_and_counts(sessions: async_sessionmaker[AsyncSession]) -> None:
    now = utcnow()
    async with sessions() as s, s.begin():
        await store.sync_from_config(s, [spec("ok"), spec("bad"), spec("moved"), spec("stolen"), spec("gone")], now)
        leases = await store.claim_due(s, now=now, worker="me", lease=timedelta(minutes=5), limit=10)
    assert sorted(lease.id for lease in leases) == ["bad", "gone", "moved", "ok", "stolen"]
    later = now + timedelta(minutes=10)
    async with sessions() as s, s.begin():  # the lease of "stolen" expired and another worker took it
        await s.execute(update(Source).where(Source.id == "stolen").values(lease_owner="thief"))
    records = [
        store.PollRecord("ok", {"etag": '"e1"', "last_status": 304, "next_poll_at": later}),
        store.PollRecord("moved", {"etag": None, "last_status": 200, "url": "https://moved.example/new",
                                   "next_poll_at": later}),
        store.PollRecord("bad", {"last_status": 503, "last_error": "HTTP 503", "next_poll_at": later}, failed=True),
        store.PollRecord("stolen", {"last_status": 200, "next_poll_at": later}),
        store.PollRecord("gone", {"last_status": 410, "last_polled_at": now, "enabled": False,
                                  "disabled_reason": "feed is gone (HTTP 410): « Genève » ✓"}, failed=True),
    ]
    async with sessions() as s, s.begin():
        assert await store.lock_held(s, [r.source_id for r in records], "me") == {"ok", "moved", "bad", "gone"}
        await store.record_polls(s, records, "me")
    async with sessions() as s, s.begin():  # a second failure counts on from the first
        await s.execute(update(Source).where(Source.id == "bad").values(lease_owner="me"))
        await store.record_polls(s, [store.PollRecord("bad", {"last_status": 500}, failed=True)], "me")
    async with sessions() as s:
        rows = {src.id: src for src in await store.list_all(s)}
    assert (rows["ok"].etag, rows["ok"].last_status, rows["ok"].polls, rows["ok"].error_count) == ('"e1"', 304, 1, 0)
    assert rows["ok"].lease_owner is None and rows["ok"].next_poll_at == later
    assert rows["moved"].url == "https://moved.example/new" and rows["ok"].url == "https://ok.example/feed"
    assert (rows["bad"].error_count, rows["bad"].polls, rows["bad"].last_status) == (2, 2, 500)
    assert rows["bad"].last_error == "HTTP 503"   # not in the second record: left as it was
    assert rows["stolen"].lease_owner == "thief" and rows["stolen"].polls == 0   # not ours: untouched
    assert (rows["gone"].enabled, rows["gone"].disabled_reason) == (False, "feed is gone (HTTP 410): « Genève » ✓")
    assert (rows["gone"].last_polled_at, rows["gone"].next_poll_at, rows["gone"].error_count) == (now, now, 1)
    async with sessions() as s, s.begin():  # the written next poll compares as a datetime in SQL too
        for at, due in ((later - timedelta(microseconds=1), set()), (later, {"ok", "moved"})):
            claimed = await store.claim_due(s, now=at, worker="me", lease=timedelta(minutes=5), limit=10)
            assert {lease.id for lease in claimed} & {"ok", "moved"} == due

