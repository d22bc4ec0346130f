"""Recording attempts locks endpoints in id order (PostgreSQL: SQLite has one writer at a time)."""

from __future__ import annotations

import asyncio
from typing import AsyncIterator

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from frwatch.models import DeliveryAttempt, Outbox, Subscription
from frwatch.notify.deliver import AttemptResult
from frwatch.notify.worker import Deliverer, Finished
from frwatch.runtime import Runtime, open_runtime
from frwatch.store import outbox as outbox_store
from frwatch.store import subscriptions as subscription_store
from tests.conftest import make_settings, truncate_all

pytestmark = pytest.mark.postgres


@pytest.fixture
async def pg_runtime(pg_database: str) -> AsyncIterator[Runtime]:
    await truncate_all(pg_database)
    async with open_runtime(make_settings(pg_database)) as rt:
        yield rt


async def test_a_batch_with_a_failure_locks_its_endpoints_in_id_order(pg_runtime: Runtime) -> None:
    """A batch where the higher endpoint answered (and had failed before: its health row is
    cleared) and the lower one failed. Recording it must take the lower endpoint's lock first:
    holding the higher one while waiting for the lower is how two replicas recording opposite
    outcomes deadlock."""
    rt, now = pg_runtime, pg_runtime.clock()
    async with rt.sessions() as s, s.begin():
        low, high = sorted([(await subscription_store.create(
            s, owner_id=None, secret="whsec_" + "A" * 44, now=now, url=f"https://{name}.example/hook",
            description="", enabled=True, event_types=[], filters={})).id for name in ("a", "b")])
        await s.execute(update(Subscription).where(Subscription.id == high).values(consecutive_failures=1))
        rows = [outbox_store.add(s, subscription_id=sub, event_id=None, event_type="ping", payload="{}", now=now,
                                 lease_owner=rt.worker, lease_until=now + rt.settings.lease_duration)
                for sub in (low, high)]
    endpoints = {sub.id: subscription_store.endpoint(sub) for sub in [
        await _get(rt, low), await _get(rt, high)]}
    loop = asyncio.get_running_loop()
    batch = [Finished(outbox_store.Claimed(row.id, row.subscription_id, "ping", "{}", 0, endpoints[row.subscription_id]),
                      AttemptResult(500 if row.subscription_id == low else 200, 1.0, error="HTTP 500"
                                    if row.subscription_id == low else None), now, loop.create_future())
             for row in rows]
    async with rt.engine.connect() as holder, rt.engine.connect() as probe:
        await holder.begin()
        await holder.execute(text("SELECT id FROM subscriptions WHERE id = :id FOR UPDATE"), {"id": low})
        recording = asyncio.create_task(Deliverer(rt)._record(batch))
        assert await _someone_waits_for_a_lock(probe), "the recording never waited for the lower endpoint"
        await probe.begin()
        locked = await probe.execute(text("SELECT id FROM subscriptions WHERE id = :id FOR UPDATE SKIP LOCKED"),
                                     {"id": high})
        assert locked.all() == [(high,)], "the higher endpoint was locked while waiting for the lower"
        await probe.rollback()
        await holder.rollback()
        assert await recording == ["retry", "delivered"]


async def test_recording_survives_a_subscription_deleted_meanwhile(pg_runtime: Runtime) -> None:
    """A subscription deleted while a batch with its failed attempt is being recorded. The
    deletion locks the subscription, then its messages; the recording holds the message and
    then needs the subscription's health row. PostgreSQL breaks that deadlock by aborting one:
    either is done again, so the other endpoint's delivery is still recorded (not sent again when
    its lease expires) and the subscription is still deleted."""
    rt, now = pg_runtime, pg_runtime.clock()
    async with rt.sessions() as s, s.begin():
        doomed, other = [(await subscription_store.create(
            s, owner_id=None, secret="whsec_" + "A" * 44, now=now, url=f"https://{name}.example/hook",
            description="", enabled=True, event_types=[], filters={})).id for name in ("a", "b")]
        rows = [outbox_store.add(s, subscription_id=sub, event_id=None, event_type="ping", payload="{}", now=now,
                                 lease_owner=rt.worker, lease_until=now + rt.settings.lease_duration)
                for sub in (doomed, other)]
    endpoints = {sub: subscription_store.endpoint(await _get(rt, sub)) for sub in (doomed, other)}
    loop = asyncio.get_running_loop()
    batch = [Finished(outbox_store.Claimed(row.id, row.subscription_id, "ping", "{}", 0, endpoints[row.subscription_id]),
                      AttemptResult(500, 1.0, error="HTTP 500") if row.subscription_id == doomed
                      else AttemptResult(200, 1.0), now, loop.create_future())
             for row in rows]
    async with rt.engine.connect() as deleting, rt.engine.connect() as probe:
        await deleting.begin()  # as DELETE does: the subscription's row first, then (cascading) its messages
        await deleting.execute(text("SELECT id FROM subscriptions WHERE id = :id FOR UPDATE"), {"id": doomed})
        recording = asyncio.create_task(Deliverer(rt)._record(batch))
        # the recording holds the messages and waits for the subscription
        assert await _someone_waits_for_a_lock(probe), "the recording never waited for the subscription"
        try:
            await deleting.execute(text("DELETE FROM subscriptions WHERE id = :id"), {"id": doomed})
            await deleting.commit()
        except DBAPIError:  # this transaction was the one aborted: the API deletes again
            await deleting.rollback()
            await _delete(rt, doomed)
        outcomes = await recording
    assert outcomes == ["gone", "delivered"] or outcomes == ["retry", "delivered"]
    async with rt.sessions() as s:
        assert await s.get(Subscription, doomed) is None
        assert (await s.get(Outbox, rows[1].id)).status == "delivered"
        assert await s.scalar(select(func.count()).select_from(DeliveryAttempt)
                              .where(DeliveryAttempt.outbox_id == rows[1].id)) == 1


async def test_a_message_is_queued_while_its_endpoint_health_is_locked(pg_runtime: Runtime) -> None:
    """Recording holds endpoints' health rows until it commits; the pipeline queueing a message
    for one of them meanwhile (its foreign key locks the subscription's key) does not wait."""
    rt, now = pg_runtime, pg_runtime.clock()
    async with rt.sessions() as s, s.begin():
        subscription_id = (await subscription_store.create(
            s, owner_id=None, secret="whsec_" + "A" * 44, now=now, url="https://a.example/hook",
            description="", enabled=True, event_types=[], filters={})).id
    async with rt.sessions() as recording, recording.begin():
        await subscription_store.lock(recording, [subscription_id])
        async with rt.sessions() as queueing, queueing.begin():
            await queueing.execute(text("SET LOCAL lock_timeout = '2s'"))
            outbox_store.add(queueing, subscription_id=subscription_id, event_id=None, event_type="ping",
                             payload="{}", now=now)
            await queueing.flush()


async def test_a_claimer_stalled_mid_claim_does_not_stop_the_others(pg_runtime: Runtime,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Claims take turns. A replica frozen while holding the turn (its transaction left idle) has its
    session ended by PostgreSQL after the stall limit, and the next claimer gets its rows."""
    monkeypatch.setattr(outbox_store, "CLAIM_STALL_LIMIT_MS", 300)
    rt, now = pg_runtime, pg_runtime.clock()
    async with rt.sessions() as s, s.begin():
        subscription_id = (await subscription_store.create(
            s, owner_id=None, secret="whsec_" + "A" * 44, now=now, url="https://a.example/hook",
            description="", enabled=True, event_types=[], filters={})).id
        for _ in range(2):
            outbox_store.add(s, subscription_id=subscription_id, event_id=None, event_type="ping", payload="{}",
                             now=now)

    async def claim(session: AsyncSession, worker: str) -> list[str]:
        return [row.id for row in await outbox_store.claim_due(
            session, now=now, worker=worker, lease=rt.settings.lease_duration, limit=10, per_endpoint=1)]

    async with rt.sessions() as frozen:
        await frozen.begin()
        assert len(await claim(frozen, "frozen")) == 1  # ... and it never commits
        async with rt.sessions() as other, other.begin():
            assert len(await asyncio.wait_for(claim(other, "other"), timeout=30)) == 1
        with pytest.raises(DBAPIError):
            await frozen.commit()
    async with rt.sessions() as s:  # the frozen lease went with its session: the one slot is the other's
        assert await s.scalar(select(func.count()).select_from(Outbox).where(Outbox.lease_owner == "other")) == 1


async def _someone_waits_for_a_lock(probe: AsyncConnection) -> bool:
    """Whether a session of this database waits for a lock within 5 s."""
    for _ in range(100):
        waiting = await probe.scalar(text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                          "AND wait_event_type = 'Lock'"))
        await probe.rollback()
        if waiting:
            return True
        await asyncio.sleep(0.05)
    return False


async def _delete(rt: Runtime, subscription_id: str) -> None:
    async with rt.sessions() as s, s.begin():
        await subscription_store.delete(s, await _get(rt, subscription_id))


async def _get(rt: Runtime, subscription_id: str) -> Subscription:
    async with rt.sessions() as s:
        subscription = await subscription_store.get(s, subscription_id, owner=None, admin=True)
        assert subscription is not None
        return subscription
