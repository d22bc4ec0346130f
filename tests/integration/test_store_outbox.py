"""Claiming outbox rows on SQLite and PostgreSQL: oldest first, within each endpoint's free slots."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime, timedelta

from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from frwatch.models import Outbox, Subscription
from frwatch.notify.breaker import THRESHOLD
from frwatch.store import outbox as store
from frwatch.store import queries
from frwatch.store import subscriptions as subscription_store
from frwatch.timeutil import utcnow

LEASE = timedelta(minutes=5)


async def add_endpoint(session: AsyncSession, name: str, now: datetime) -> str:
    subscription = await subscription_store.create(session, owner_id=None, secret="whsec_x", now=now,
                                                   url=f"https://{name}.example/hook", description="",
                                                   enabled=True, event_types=[], filters={})
    return subscription.id


async def queue(session: AsyncSession, subscription_id: str, count: int, start: datetime) -> list[str]:
    """``count`` messages, one second apart from ``start``, flushed so their order is theirs."""
    rows = [store.add(session, subscription_id=subscription_id, event_id=None, event_type="ping",
                      payload="{}", now=start + timedelta(seconds=n)) for n in range(count)]
    await session.flush()
    return [row.id for row in rows]


async def claim(sessions: async_sessionmaker[AsyncSession], worker: str, now: datetime, *,
                limit: int = 50, per_endpoint: int = 4, answered: tuple[str, ...] = ()) -> list[str]:
    async with sessions() as s, s.begin():
        return [row.id for row in await store.claim_due(s, now=now, worker=worker, lease=LEASE, limit=limit,
                                                          per_endpoint=per_endpoint, answered=answered)]


async def test_claim_takes_the_oldest_rows_within_each_endpoints_free_slots(
        sessions: async_sessionmaker[AsyncSession]) -> None:
    start = utcnow() - timedelta(hours=1)
    async with sessions() as s, s.begin():
        busy, quiet, probing, open_, off = [await add_endpoint(s, name, start)
                                            for name in ("busy", "quiet", "probing", "open", "off")]
        busy_rows = await queue(s, busy, 6, start)
        quiet_rows = await queue(s, quiet, 2, start + timedelta(seconds=30))
        probing_rows = await queue(s, probing, 3, start + timedelta(seconds=1.5))
        await queue(s, open_, 2, start)
        await queue(s, off, 2, start)
        later = await queue(s, quiet, 1, utcnow() + timedelta(hours=1))  # not due yet
        await s.execute(update(Subscription).where(Subscription.id == probing)
                        .values(consecutive_failures=THRESHOLD))  # half-open: one probe at a time
        await s.execute(update(Subscription).where(Subscription.id == open_)
                        .values(circuit_open_until=utcnow() + timedelta(minutes=1)))
        await s.execute(update(Subscription).where(Subscription.id == off).values(enabled=False))
    now = utcnow()
    assert await claim(sessions, "other", now, limit=1) == busy_rows[:1]  # another replica's lease takes a slot

    claimed = await claim(sessions, "me", now)

    assert set(claimed) == set(busy_rows[1:4] + quiet_rows + probing_rows[:1])
    assert claimed[:3] == [busy_rows[1], probing_rows[0], busy_rows[2]]  # oldest first
    assert later[0] not in claimed
    assert await claim(sessions, "me", now) == []  # every slot is taken now


async def test_more_rows_leased_than_a_lowered_limit_leave_no_slot(sessions: async_sessionmaker[AsyncSession]) -> None:
    """Leased rows are counted only up to the limit: an endpoint holding more than it (a replica
    with a higher limit, or the limit lowered since) gets nothing, a half-open one holding any gets
    nothing, and one holding fewer gets exactly the rest."""
    start = utcnow() - timedelta(hours=1)
    async with sessions() as s, s.begin():
        over, probing, under = [await add_endpoint(s, name, start) for name in ("over", "probing", "under")]
        over_rows = await queue(s, over, 8, start)
        probing_rows = await queue(s, probing, 4, start)
        under_rows = await queue(s, under, 4, start)
    now = utcnow()
    held = await claim(sessions, "other", now, per_endpoint=6)
    assert set(held) == set(over_rows[:6] + probing_rows + under_rows)
    async with sessions() as s, s.begin():
        await store.release(s, [row for row in held if row in under_rows[1:]], "other")
        await store.release(s, [row for row in held if row in probing_rows[2:]], "other")
        await s.execute(update(Subscription).where(Subscription.id == probing).values(consecutive_failures=THRESHOLD))

    claimed = await claim(sessions, "me", now, per_endpoint=3)

    assert set(claimed) == set(under_rows[1:3])  # "under" holds 1 of 3; "over" 6, "probing" 2 of its 1


async def test_rows_whose_endpoint_answered_take_no_slot_and_stay_leased(
        sessions: async_sessionmaker[AsyncSession]) -> None:
    """The claiming worker names the rows it holds whose endpoint has answered (their attempts not
    yet recorded): they free their slots, but are not claimed again. Other rows, and ids it does
    not hold, still count."""
    start = utcnow() - timedelta(hours=1)
    async with sessions() as s, s.begin():
        endpoint, other = await add_endpoint(s, "e", start), await add_endpoint(s, "other", start)
        rows = await queue(s, endpoint, 6, start)
        other_rows = await queue(s, other, 3, start)
    now = utcnow()
    held = await claim(sessions, "me", now, per_endpoint=2)
    assert set(held) == set(rows[:2] + other_rows[:2])
    assert await claim(sessions, "me", now, per_endpoint=2, answered=("msg_unknown",)) == []

    claimed = await claim(sessions, "me", now, per_endpoint=2, answered=(rows[0], *[f"msg_{n}" for n in range(300)]))

    assert claimed == [rows[2]]  # one slot of "e" freed; rows[0] stays leased, "other" stays full
    assert await claim(sessions, "me", now, per_endpoint=2, answered=(rows[0],)) == []  # rows[2] holds it now
    assert await claim(sessions, "me", now, per_endpoint=2, answered=(rows[0], rows[1], rows[2])) == rows[3:5]


async def test_a_claim_stops_at_its_limit_oldest_first(sessions: async_sessionmaker[AsyncSession]) -> None:
    start = utcnow() - timedelta(hours=1)
    async with sessions() as s, s.begin():
        endpoints = [await add_endpoint(s, f"e{n}", start) for n in range(5)]
        rows = [await queue(s, endpoint, 2, start + timedelta(seconds=10 * n)) for n, endpoint in enumerate(endpoints)]

    claimed = await claim(sessions, "me", utcnow(), limit=3)

    assert claimed == [rows[0][0], rows[0][1], rows[1][0]]


async def test_an_expired_lease_frees_its_slot_and_its_row(sessions: async_sessionmaker[AsyncSession]) -> None:
    start = utcnow() - timedelta(hours=1)
    async with sessions() as s, s.begin():
        endpoint = await add_endpoint(s, "e", start)
        rows = await queue(s, endpoint, 3, start)
    assert await claim(sessions, "dead", start + timedelta(minutes=1), per_endpoint=1) == rows[:1]
    assert await claim(sessions, "me", start + timedelta(minutes=2), per_endpoint=1) == []

    assert await claim(sessions, "me", start + timedelta(minutes=7), per_endpoint=1) == rows[:1]


async def test_concurrent_claims_never_share_a_row(sessions: async_sessionmaker[AsyncSession]) -> None:
    start = utcnow() - timedelta(hours=1)
    async with sessions() as s, s.begin():
        endpoints = [await add_endpoint(s, f"e{n}", start) for n in range(4)]
        rows = [row for endpoint in endpoints for row in await queue(s, endpoint, 15, start)]
    now = utcnow()

    async def claim_all(worker: str) -> list[str]:
        got: list[str] = []
        while batch := await claim(sessions, worker, now, limit=5, per_endpoint=100):
            got += batch
        return got

    claimed = await asyncio.gather(*(claim_all(f"w{n}") for n in range(4)))

    every = [row for batch in claimed for row in batch]
    assert sorted(every) == sorted(rows)  # each row claimed once, none left behind


async def test_claims_take_turns_so_two_never_fill_the_same_free_slots(
        sessions: async_sessionmaker[AsyncSession]) -> None:
    """Two replicas claiming at once: the second counts the endpoint's free slots only once the
    first's leases are committed, so together they lease no more than its slots (and never send
    two probes to a half-open circuit)."""
    start = utcnow() - timedelta(hours=1)
    async with sessions() as s, s.begin():
        endpoint = await add_endpoint(s, "e", start)
        rows = await queue(s, endpoint, 12, start)
    now = utcnow()
    async with sessions() as first, first.begin():
        mine = await store.claim_due(first, now=now, worker="first", lease=LEASE, limit=50, per_endpoint=4)
        second = asyncio.create_task(claim(sessions, "second", now))
        await asyncio.sleep(0.3)  # the second claim goes as far as it can while the first is uncommitted
        assert not second.done()  # it waits for its turn
    assert [row.id for row in mine] == rows[:4]
    assert await second == []


async def test_a_claim_takes_at_most_claim_max_rows(sessions: async_sessionmaker[AsyncSession]) -> None:
    start = utcnow() - timedelta(hours=1)
    async with sessions() as s, s.begin():
        endpoint = await add_endpoint(s, "e", start)
        rows = await queue(s, endpoint, store.CLAIM_MAX + 2, start)

    claimed = await claim(sessions, "me", utcnow(), limit=store.CLAIM_MAX + 2, per_endpoint=store.CLAIM_MAX + 2)

    assert claimed == rows[:store.CLAIM_MAX]


async def test_id_lists_of_any_length_find_their_rows_with_one_statement_on_postgresql(
        sessions: async_sessionmaker[AsyncSession]) -> None:
    """Lists are bound as one array on PostgreSQL (``= ANY``), padded IN lists elsewhere: every
    length finds exactly its rows, and PostgreSQL prepares one statement for all the lengths."""
    start = utcnow() - timedelta(hours=1)
    async with sessions() as s, s.begin():
        ids = await queue(s, await add_endpoint(s, "many", start), 40, start)
    async with sessions() as s:
        for size in range(1, 41):
            wanted = ids[:size] + [f"msg_gone{n}" for n in range(size % 3)]
            assert await store.existing_ids(s, wanted) == set(ids[:size])
        longest = "msg_" + "m" * 36  # as long as an id may be: a longer one is not cut to match it
        await s.execute(update(Outbox).where(Outbox.id == ids[0]).values(id=longest))
        assert await store.existing_ids(s, [longest, longest + "x"]) == {longest}
        assert await store.existing_ids(s, [longest + "x"]) == set()
        if s.get_bind().dialect.name == "postgresql":
            assert await s.scalar(text("SELECT count(*) FROM pg_prepared_statements "
                                       "WHERE statement LIKE 'SELECT outbox.id %'")) == 1


async def test_subscription_health_counts_each_endpoints_pending_and_failed_messages(
        sessions: async_sessionmaker[AsyncSession]) -> None:
    start = utcnow() - timedelta(hours=1)
    async with sessions() as s, s.begin():
        mixed, idle = await add_endpoint(s, "mixed", start), await add_endpoint(s, "idle", start)
        ids = await queue(s, mixed, 6, start)
        await s.execute(update(Outbox).where(Outbox.id.in_(ids[:2])).values(status=store.FAILED))
        await s.execute(update(Outbox).where(Outbox.id.in_(ids[2:3])).values(status=store.DELIVERED))
        await queue(s, idle, 1, start)
        await s.execute(update(Outbox).where(Outbox.subscription_id == idle).values(status=store.DELIVERED))
    async with sessions() as s:
        health = {row.subscription.id: (row.pending, row.failed)
                  for row in await queries.subscription_health(s, None, everyone=True)}
        assert health == {mixed: (3, 2), idle: (0, 0)}
        assert (await queries.outbox_backlog(s)).pending == 3


async def test_claims_read_the_partial_indexes_whatever_the_values_bound(
        sessions: async_sessionmaker[AsyncSession]) -> None:
    """The claim's statements name the status they read, so planners use the indexes that hold
    only pending and leased rows: SQLite never plans with bound values, and PostgreSQL's generic
    plan (forced here) does not either."""
    async with sessions() as s:
        conn = await s.connection()
        postgres = conn.dialect.name == "postgresql"
        plans = []
        endpoints = store._endpoints_with_room(conn.dialect.name).params(  # values to render SQLite's IN list
            {store.ANSWERED: ["msg_x"], "per_endpoint": 4, "limit": 8, "now": None})
        for statement in (endpoints, store._claim_lateral() if postgres else store._claim_arms(2)):
            sql = str(statement.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True}))
            if postgres:
                raw = (await conn.get_raw_connection()).driver_connection
                await raw.execute("SET plan_cache_mode = force_generic_plan")
                await raw.execute(f"PREPARE claim_plan AS {sql}")
                count = len({int(n) for n in re.findall(r"\$(\d+)", sql)})
                rows = await raw.fetch(f"EXPLAIN EXECUTE claim_plan({', '.join(['NULL'] * count)})")
                await raw.execute("DEALLOCATE claim_plan")
                plans.append("\n".join(row[0] for row in rows))
            else:
                rows = await conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, (None,) * sql.count("?"))
                plans.append("\n".join(str(row[-1]) for row in rows))
        endpoints_plan, claim_plan = plans
        assert "ix_outbox_leased" in endpoints_plan and "ix_outbox_pending" in endpoints_plan, endpoints_plan
        assert "ix_outbox_pending" in claim_plan, claim_plan


async def test_a_subscriptions_messages_are_found_by_index_history_included(
        sessions: async_sessionmaker[AsyncSession]) -> None:
    """Deleting a subscription cascades to every message it has (delivered ones too), and
    requeue_range reads them by creation time: both by an index, never a scan of the outbox."""
    async with sessions() as s:
        conn = await s.connection()
        queries_by_subscription = ["DELETE FROM outbox WHERE subscription_id = {s}",
                                   "SELECT id FROM outbox WHERE subscription_id = {s} AND created_at >= {t} "
                                   "AND created_at < {t}"]
        for query in queries_by_subscription:
            if conn.dialect.name == "postgresql":
                await conn.exec_driver_sql("SET enable_seqscan = off")  # any index that serves wins
                sql = query.format(s="'sub_x'", t="'2026-01-01T00:00:00Z'")
                plan = "\n".join(row[0] for row in await conn.exec_driver_sql(f"EXPLAIN {sql}"))
                assert "Seq Scan" not in plan and "ix_outbox_subscription_created" in plan, plan
            else:
                sql = query.format(s="?", t="?")
                rows = await conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, (None,) * sql.count("?"))
                plan = "\n".join(str(row[-1]) for row in rows)
                assert "SEARCH outbox USING" in plan and "INDEX ix_outbox_subscription_created" in plan, plan
        await conn.rollback()
