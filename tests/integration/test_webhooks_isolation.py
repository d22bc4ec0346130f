"""A dead endpoint holds only its own slots: another endpoint gets every message on time."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

from sqlalchemy import select

from frwatch.models import Outbox
from frwatch.notify.worker import Deliverer
from frwatch.runtime import open_runtime
from tests.conftest import make_settings
from tests.webhooks import WebhookReceiver, add_subscription, seed_event


async def test_a_dead_endpoint_does_not_slow_the_others(db_url: str) -> None:
    settings = make_settings(db_url, webhook_timeout=timedelta(seconds=60), tick_interval=timedelta(seconds=0.2))
    slots = settings.webhook_per_endpoint
    async with open_runtime(settings) as rt, WebhookReceiver() as receiver:
        receiver.hang("/dead")
        dead_id, _ = await add_subscription(rt, receiver.url("/dead"), filters={"regulators": ["CNIL"]})
        _, secret = await add_subscription(rt, receiver.url("/fast"), filters={"regulators": ["ICO"]})
        for _ in range(10):  # older, so claimed first
            await seed_event(rt, regulator="CNIL")
        for _ in range(20):
            await seed_event(rt, regulator="ICO")
        deliverer = Deliverer(rt)
        sending = asyncio.create_task(deliverer.deliver_due())
        try:
            started = time.monotonic()
            await receiver.wait_for(20, "/fast", timeout=5)
            assert time.monotonic() - started < 2
            assert len(receiver.on("/dead")) == slots

            for _ in range(5):  # new messages while the dead endpoint still hangs
                await seed_event(rt, regulator="ICO")
            started = time.monotonic()
            await receiver.wait_for(25, "/fast", timeout=5)
            assert time.monotonic() - started < 1.5
            assert len(receiver.on("/dead")) == slots
            assert len(receiver.verify(secret, "/fast")) == 25
        finally:
            await deliverer.close()  # cancels the hanging attempts and hands their rows back
        assert await sending == 20 + 5 + slots
        async with rt.sessions() as session:
            dead = list(await session.scalars(select(Outbox).where(Outbox.subscription_id == dead_id)))
        assert len(dead) == 10
        assert all(row.status == "pending" and row.lease_owner is None and row.attempts == 0 for row in dead)
