"""``db.in_transaction`` runs a transaction again when PostgreSQL aborts it to break a deadlock,
and only then. ``db.write_transaction``s of one process take turns on SQLite, and only there."""

from __future__ import annotations

import asyncio
import contextlib
from typing import AsyncIterator

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from frwatch.db import create_engine, in_transaction, session_factory, write_transaction
from frwatch.models import Subscription
from frwatch.store import subscriptions as subscription_store
from frwatch.timeutil import utcnow
from tests.conftest import truncate_all

SECRET = "whsec_" + "A" * 44


@pytest.fixture
async def pg_sessions(pg_database: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    await truncate_all(pg_database)
    engine = create_engine(pg_database)
    yield session_factory(engine)
    await engine.dispose()


async def _subscriptions(sessions: async_sessionmaker[AsyncSession], count: int) -> list[str]:
    async with sessions() as s, s.begin():
        return [(await subscription_store.create(s, owner_id=None, secret=SECRET, now=utcnow(), url=f"https://{n}.example/",
                                                 description="", enabled=True, event_types=[], filters={})).id
                for n in range(count)]


@pytest.mark.postgres
async def test_both_transactions_of_a_deadlock_commit(pg_sessions: async_sessionmaker[AsyncSession]) -> None:
    """Two transactions update the same two rows in opposite orders, each holding its first row
    when it asks for the second: PostgreSQL aborts one, which runs again once the other commits."""
    first, second = await _subscriptions(pg_sessions, 2)
    both_hold_one = asyncio.Barrier(2)
    runs: list[str] = []

    def writer(name: str, order: tuple[str, str]):  # type: ignore[no-untyped-def]
        async def work(session: AsyncSession) -> None:
            runs.append(name)
            for n, subscription_id in enumerate(order):
                await session.execute(text("UPDATE subscriptions SET description = description || :name WHERE id = :id"),
                                      {"name": name, "id": subscription_id})
                if n == 0 and runs.count(name) == 1:
                    await both_hold_one.wait()
        return work

    await asyncio.wait_for(asyncio.gather(in_transaction(pg_sessions, writer("a", (first, second))),
                                          in_transaction(pg_sessions, writer("b", (second, first)))), 30)
    assert sorted(runs) in (["a", "a", "b"], ["a", "b", "b"])  # one of them ran twice
    async with pg_sessions() as s:
        descriptions = (await s.scalars(select(Subscription.description).order_by(Subscription.id))).all()
    assert [sorted(description) for description in descriptions] == [["a", "b"], ["a", "b"]]


async def test_other_errors_are_not_run_again(sessions: async_sessionmaker[AsyncSession]) -> None:
    """A transaction that breaks a constraint fails at once, on both backends."""
    await _subscriptions(sessions, 1)
    runs = 0

    async def work(session: AsyncSession) -> None:
        nonlocal runs
        runs += 1
        await session.execute(text("INSERT INTO subscriptions SELECT * FROM subscriptions"))

    with pytest.raises(IntegrityError):
        await in_transaction(sessions, work)
    assert runs == 1


async def test_write_transactions_of_a_process_take_turns_on_sqlite_only(
        sessions: async_sessionmaker[AsyncSession]) -> None:
    """A second write transaction begins only once the first one, which has written, has
    committed, on SQLite (where it would otherwise wait in SQLite's busy handler): it reads the
    first one's row as committed. On PostgreSQL it begins at once, reads the row as it was, and
    writes a row of its own meanwhile."""
    first, second = await _subscriptions(sessions, 2)
    first_wrote, second_began = asyncio.Event(), asyncio.Event()
    seen_by_second: list[str] = []

    async def writer(name: str, subscription_id: str) -> None:
        async with write_transaction(sessions) as session:
            if name == "b":
                seen_by_second.append(await session.scalar(
                    select(Subscription.description).where(Subscription.id == first)) or "")
                second_began.set()
            await session.execute(text("UPDATE subscriptions SET description = :name WHERE id = :id"),
                                  {"name": name, "id": subscription_id})
            if name == "a":
                first_wrote.set()
                with contextlib.suppress(TimeoutError):  # holds its write until b began, or 1 s
                    await asyncio.wait_for(second_began.wait(), 1)

    async def second_writer() -> None:
        await first_wrote.wait()
        await writer("b", second)

    await asyncio.wait_for(asyncio.gather(writer("a", first), second_writer()), 30)
    assert seen_by_second == (["a"] if sessions.kw["bind"].dialect.name == "sqlite" else [""])
    async with sessions() as s:
        descriptions = dict((await s.execute(select(Subscription.id, Subscription.description))).all())
    assert descriptions == {first: "a", second: "b"}


async def test_a_write_transaction_opened_inside_another_of_the_same_task_does_not_wait_for_it(
        sessions: async_sessionmaker[AsyncSession]) -> None:
    """The inner transaction would otherwise wait for the outer one's turn, which waits for it."""
    (subscription_id,) = await _subscriptions(sessions, 1)

    async def nested() -> int:
        async with write_transaction(sessions) as outer:
            async with write_transaction(sessions) as inner:
                count = await inner.scalar(select(func.count()).select_from(Subscription))
            await outer.execute(text("UPDATE subscriptions SET description = 'outer' WHERE id = :id"),
                                {"id": subscription_id})
        return count or 0

    assert await asyncio.wait_for(nested(), 30) == 1
    async with sessions() as s:
        assert await s.scalar(select(Subscription.description)) == "outer"
