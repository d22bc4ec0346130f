"""A deliverer killed mid-send loses nothing: the row is sent again once its lease expires."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import timedelta

from sqlalchemy import select

from frwatch.models import DeliveryAttempt, Outbox
from frwatch.notify.worker import deliver_due
from frwatch.runtime import open_runtime
from tests.conftest import make_settings
from tests.webhooks import FakeClock, WebhookReceiver, add_subscription, seed_event

LEASE = timedelta(seconds=30)

# A worker process: claims what is due and sends it to a receiver that never answers.
WORKER = """
import asyncio, ipaddress, sys
from datetime import timedelta
from frwatch.notify.worker import deliver_due
from frwatch.runtime import open_runtime
from frwatch.settings import Settings

async def main():
    settings = Settings.from_env({}, database_url=sys.argv[1], lease_duration=timedelta(seconds=30),
                                 webhook_timeout=timedelta(seconds=120), log_format="text",
                                 allow_private_networks=(ipaddress.ip_network("127.0.0.0/8"),))
    async with open_runtime(settings) as rt:
        await deliver_due(rt)

asyncio.run(main())
"""


async def test_killed_mid_send_is_delivered_after_restart(db_url: str) -> None:
    settings = make_settings(db_url, lease_duration=LEASE)
    async with open_runtime(settings) as rt, WebhookReceiver() as receiver:
        receiver.hang("/hook")
        _, secret = await add_subscription(rt, receiver.url())
        await seed_event(rt)
        worker = await asyncio.create_subprocess_exec(sys.executable, "-c", WORKER, db_url, env=dict(os.environ))
        try:
            await receiver.wait_for(1, timeout=30)  # the attempt is in flight
        finally:
            worker.send_signal(signal.SIGKILL)
            await worker.wait()
        async with rt.sessions() as session:
            [row] = await session.scalars(select(Outbox))
            assert row.status == "pending" and row.lease_owner is not None and row.attempts == 0
            assert list(await session.scalars(select(DeliveryAttempt))) == []

        receiver.respond("/hook", 200)
        assert await deliver_due(rt) == 0  # still leased by the dead worker
        rt.clock = FakeClock(rt.clock() + LEASE + timedelta(seconds=1))
        assert await deliver_due(rt) == 1
        first, second = receiver.received
        assert first.id == second.id  # the same message: the receiver can dedup
        receiver.verify(secret)
        async with rt.sessions() as session:
            [row] = await session.scalars(select(Outbox).execution_options(populate_existing=True))
        assert row.status == "delivered" and row.attempts == 1
