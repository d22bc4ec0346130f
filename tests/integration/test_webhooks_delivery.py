"""Outbox → signed POST → attempt log, against real receivers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta

import pytest
from aiohttp import web
from sqlalchemy import select

from frwatch.metrics import REGISTRY
from frwatch.models import DeliveryAttempt, Event, Outbox, Subscription
from frwatch.notify import worker
from frwatch.notify.enqueue import EventChange, enqueue_event_changes
from frwatch.notify.matching import DETECTED, UPDATED
from frwatch.notify.worker import Deliverer, deliver_due
from frwatch.runtime import Runtime, open_runtime
from tests.conftest import make_settings
from tests.webhooks import FakeClock, WebhookReceiver, add_subscription, ensure_source, seed_event


async def rows(rt: Runtime, model: type, **where: object) -> list:
    async with rt.sessions() as session:
        query = select(model).filter_by(**where)
        return list(await session.scalars(query))


def delivered_count() -> float:
    return REGISTRY.get_sample_value("frwatch_deliveries_total", {"outcome": "delivered"}) or 0


async def test_event_is_delivered_signed_with_the_documented_body(runtime: Runtime) -> None:
    before = delivered_count()
    async with WebhookReceiver() as receiver:
        sub_id, secret = await add_subscription(runtime, receiver.url())
        event_id, written = await seed_event(runtime, items=2)
        assert written == 1
        assert await deliver_due(runtime) == 1
        [body] = receiver.verify(secret)
    [message] = await rows(runtime, Outbox)
    assert receiver.received[0].id == message.id
    assert message.status == "delivered" and message.attempts == 1
    assert body["type"] == DETECTED and body["timestamp"].endswith("Z")
    event = body["data"]["event"]
    assert event["id"] == event_id
    assert set(event) >= {"id", "title", "summary", "regulator", "jurisdiction", "target", "action_type", "amount",
                          "currency", "score", "reasons", "first_seen"}
    facts = (event["regulator"], event["jurisdiction"], event["amount"], event["currency"])
    assert facts == ("ICO", "GB", 7552800.0, "GBP")
    assert len(body["data"]["items"]) == 2
    assert set(body["data"]["items"][0]) >= {"id", "title", "link", "source", "language", "published"}
    assert body["data"]["items"][0]["source"] == "Test Regulator feed"
    [attempt] = await rows(runtime, DeliveryAttempt)
    assert attempt.status_code == 200 and attempt.response_excerpt == "ok" and attempt.error is None
    assert attempt.outbox_id == message.id and attempt.latency_ms >= 0
    assert delivered_count() == before + 1


async def test_only_matching_subscriptions_get_a_message(runtime: Runtime) -> None:
    url = "http://127.0.0.1:9/never-called"
    wanted = [
        await add_subscription(runtime, url),
        await add_subscription(runtime, url, filters={"jurisdictions": ["GB"], "min_score": 0.9}),
        await add_subscription(runtime, url, filters={"regulators": ["ico"], "targets": ["clearview"],
                                                      "languages": ["en", "fr"], "action_types": ["fine"]}),
        await add_subscription(runtime, url, event_types=[DETECTED]),
    ]
    unwanted = [
        await add_subscription(runtime, url, filters={"jurisdictions": ["FR"]}),
        await add_subscription(runtime, url, filters={"min_score": 0.95}),
        await add_subscription(runtime, url, filters={"languages": ["de"]}),
        await add_subscription(runtime, url, event_types=[UPDATED]),
        await add_subscription(runtime, url, enabled=False),
    ]
    _, written = await seed_event(runtime)
    assert written == len(wanted)
    owed = {row.subscription_id for row in await rows(runtime, Outbox)}
    assert owed == {sub_id for sub_id, _ in wanted}
    assert not owed & {sub_id for sub_id, _ in unwanted}


async def test_us_filter_matches_state_jurisdictions(runtime: Runtime) -> None:
    await add_subscription(runtime, "http://127.0.0.1:9/x", filters={"jurisdictions": ["US"]})
    assert (await seed_event(runtime, jurisdiction="US-IL"))[1] == 1
    assert (await seed_event(runtime, jurisdiction="GB"))[1] == 0


async def test_changes_of_one_event_coalesce_and_detected_wins(runtime: Runtime) -> None:
    await add_subscription(runtime, "http://127.0.0.1:9/x")
    event_id, _ = await seed_event(runtime)
    async with runtime.sessions() as session, session.begin():
        event = await session.get(Event, event_id)
        assert event is not None
        changes = [EventChange(event, UPDATED), EventChange(event, DETECTED), EventChange(event, UPDATED)]
        assert await enqueue_event_changes(session, changes, runtime.clock()) == 1
    types = sorted(row.event_type for row in await rows(runtime, Outbox))
    assert types == [DETECTED, DETECTED]  # one from seeding, one for the three coalesced changes


async def test_outbox_rows_share_the_callers_transaction(runtime: Runtime) -> None:
    await add_subscription(runtime, "http://127.0.0.1:9/x")
    now = runtime.clock()
    async with runtime.sessions() as session:
        async with session.begin():
            source = await ensure_source(session, now)
            event = Event(id="evt_rollback", title="t", summary="s", score=0.9, reasons=[], occurred_at=now,
                          first_seen_at=now, updated_at=now, item_count=0)
            session.add(event)
            await session.flush()
            assert await enqueue_event_changes(session, [EventChange(event, DETECTED)], now) == 1
            await session.rollback()
    assert source is not None
    assert await rows(runtime, Outbox) == [] and await rows(runtime, Event) == []


async def test_failures_follow_the_schedule_then_the_message_fails(runtime: Runtime) -> None:
    clock = runtime.clock = FakeClock()
    schedule = runtime.settings.webhook_retry_schedule
    async with WebhookReceiver() as receiver:
        receiver.respond("/hook", 500, body=b"boom")
        await add_subscription(runtime, receiver.url())
        await seed_event(runtime)
        for step in schedule:
            assert await deliver_due(runtime) == 1
            [message] = await rows(runtime, Outbox)
            delay = message.next_attempt_at - clock()
            assert message.status == "pending" and step * 0.8 <= delay <= step * 1.2
            assert await deliver_due(runtime) == 0  # not due yet
            clock.now = message.next_attempt_at
        assert await deliver_due(runtime) == 1
        assert len(receiver.received) == len(schedule) + 1
        assert len({r.id for r in receiver.received}) == 1  # webhook-id stable across retries
    [message] = await rows(runtime, Outbox)
    assert message.status == "failed" and message.attempts == len(schedule) + 1
    attempts = await rows(runtime, DeliveryAttempt)
    assert len(attempts) == len(schedule) + 1
    assert {(a.status_code, a.error, a.response_excerpt) for a in attempts} == {(500, "HTTP 500", "boom")}
    assert await deliver_due(runtime) == 0


@pytest.mark.parametrize("status", [429, 503])
async def test_retry_after_is_honoured(runtime: Runtime, status: int) -> None:
    clock = runtime.clock = FakeClock()
    async with WebhookReceiver() as receiver:
        receiver.respond("/hook", status, headers={"Retry-After": "600"})
        await add_subscription(runtime, receiver.url())
        await seed_event(runtime)
        await deliver_due(runtime)
    [message] = await rows(runtime, Outbox)
    assert message.next_attempt_at - clock() == timedelta(seconds=600)


async def test_410_disables_the_subscription_and_re_enabling_resumes(runtime: Runtime) -> None:
    from frwatch.store import subscriptions as subscription_store

    async with WebhookReceiver() as receiver:
        receiver.respond_seq("/hook", [410, 200])
        sub_id, secret = await add_subscription(runtime, receiver.url())
        await seed_event(runtime)
        await deliver_due(runtime)
        [subscription] = await rows(runtime, Subscription)
        assert not subscription.enabled and "410" in (subscription.disabled_reason or "")
        assert (await seed_event(runtime))[1] == 0  # a disabled subscription is owed nothing new
        runtime.clock = FakeClock(runtime.clock() + timedelta(hours=1))
        assert await deliver_due(runtime) == 0  # its pending message waits
        async with runtime.sessions() as session, session.begin():
            subscription = await subscription_store.get(session, sub_id, owner=None, admin=True)
            assert subscription is not None
            subscription_store.update_fields(subscription, runtime.clock(), enabled=True)
        assert await deliver_due(runtime) == 1
    [message] = await rows(runtime, Outbox)
    assert message.status == "delivered" and message.attempts == 2
    [subscription] = await rows(runtime, Subscription)
    assert subscription.enabled and subscription.disabled_reason is None


async def test_endpoint_failing_for_days_is_disabled(runtime: Runtime) -> None:
    from sqlalchemy import update

    runtime.clock = FakeClock()
    async with WebhookReceiver() as receiver:
        receiver.respond("/hook", 502)
        sub_id, _ = await add_subscription(runtime, receiver.url())
        await seed_event(runtime)
        async with runtime.sessions() as session, session.begin():
            await session.execute(update(Subscription).values(
                failing_since=runtime.clock() - runtime.settings.webhook_disable_after))
        await deliver_due(runtime)
    [subscription] = await rows(runtime, Subscription)
    assert not subscription.enabled and "failing" in (subscription.disabled_reason or "")


async def test_redirects_are_not_followed_and_answers_are_capped(runtime: Runtime) -> None:
    async with WebhookReceiver() as receiver:
        receiver.respond("/moved", 302, headers={"Location": receiver.url("/elsewhere")})
        receiver.respond("/big", 500, body=b"y" * 100_000)
        await add_subscription(runtime, receiver.url("/moved"))
        await add_subscription(runtime, receiver.url("/big"))
        await seed_event(runtime)
        assert await deliver_due(runtime) == 2
        assert receiver.on("/elsewhere") == []
    attempts = {a.status_code: a for a in await rows(runtime, DeliveryAttempt)}
    assert attempts[302].error == "HTTP 302"
    assert len(attempts[500].response_excerpt or "") == 2048


async def test_connections_are_kept_alive_unless_an_answer_is_left_unread(runtime: Runtime) -> None:
    async def endless(request: web.Request) -> web.StreamResponse:
        """200, then an answer that goes on until the test ends."""
        response = web.StreamResponse()
        await response.prepare(request)
        await response.write(b"y" * 4096)
        await long.release.wait()
        return response

    async with WebhookReceiver() as short, WebhookReceiver() as long:  # two servers: two connection pools
        long.behaviours["/hook"] = endless
        await add_subscription(runtime, short.url())
        await add_subscription(runtime, long.url())
        for _ in range(3):  # one after the other: each round is sent and recorded before the next
            await seed_event(runtime)
            assert await deliver_due(runtime) == 2
        small, big = short.received, long.received
    assert len(small) == len(big) == 3
    assert len({r.peer for r in small}) == 1   # a short answer is read to its end: the connection is reused
    assert len({r.peer for r in big}) == 3     # an answer still coming after the excerpt is cut off with its connection


async def test_a_hanging_endpoint_times_out(db_url: str) -> None:
    settings = make_settings(db_url, webhook_timeout=timedelta(seconds=0.5))
    async with open_runtime(settings) as rt, WebhookReceiver() as receiver:
        receiver.hang("/hook")
        await add_subscription(rt, receiver.url())
        await seed_event(rt)
        assert await deliver_due(rt) == 1
    [attempt] = await rows(rt, DeliveryAttempt)
    assert attempt.status_code is None and attempt.error == "timed out"


async def test_url_guard_is_applied_at_connect(db_url: str) -> None:
    """A name resolving to loopback is refused when loopback is not allowed: nothing is sent."""
    async with open_runtime(make_settings(db_url, allow_private_networks=())) as rt, WebhookReceiver() as receiver:
        await add_subscription(rt, receiver.url(host="localhost"))
        await add_subscription(rt, receiver.url(host="127.0.0.1"))
        await seed_event(rt)
        assert await deliver_due(rt) == 2
        assert receiver.received == []
    errors = [a.error or "" for a in await rows(rt, DeliveryAttempt)]
    assert len(errors) == 2 and all("refused" in error for error in errors)


async def test_circuit_opens_after_repeated_failures_then_probes_once(runtime: Runtime) -> None:
    from frwatch.notify.breaker import BASE_COOLDOWN, THRESHOLD

    clock = runtime.clock = FakeClock()
    slots = runtime.settings.webhook_per_endpoint
    total = THRESHOLD + slots + 3
    async with WebhookReceiver() as receiver:
        receiver.respond("/hook", 500)
        await add_subscription(runtime, receiver.url())
        for _ in range(total):
            await seed_event(runtime)
        await deliver_due(runtime)
        [subscription] = await rows(runtime, Subscription)
        # at most the attempts already in flight when it tripped get through; the rest wait. Their
        # failures do not lengthen the first period
        assert THRESHOLD < len(receiver.received) <= THRESHOLD + slots - 1
        assert (subscription.circuit_open_until, subscription.circuit_opens) == (clock() + BASE_COOLDOWN, 1)
        assert await deliver_due(runtime) == 0
        for opens in (2, 3):  # each failed probe doubles the period
            hits = len(receiver.received)
            clock.now = subscription.circuit_open_until + timedelta(seconds=1)
            assert await deliver_due(runtime) == 1 and len(receiver.received) == hits + 1
            [subscription] = await rows(runtime, Subscription)
            assert (subscription.circuit_open_until, subscription.circuit_opens) == (
                clock() + BASE_COOLDOWN * 2 ** (opens - 1), opens)
        hits = len(receiver.received)
        clock.now = subscription.circuit_open_until + timedelta(seconds=1)
        receiver.hang("/hook")
        deliverer = Deliverer(runtime)
        try:
            sending = asyncio.create_task(deliverer.deliver_due())
            await receiver.wait_for(hits + 1)
            await asyncio.sleep(0.3)
            assert len(receiver.received) == hits + 1  # half-open: a single probe
            receiver.release.set()  # the probe succeeds: the circuit closes and everything due goes
            assert await sending == total
        finally:
            await deliverer.close()
    assert {row.status for row in await rows(runtime, Outbox)} == {"delivered"}
    [subscription] = await rows(runtime, Subscription)
    assert (subscription.consecutive_failures, subscription.circuit_open_until, subscription.circuit_opens) == (
        0, None, 0)


async def test_many_reports_are_summarised_not_dropped(runtime: Runtime) -> None:
    async with WebhookReceiver() as receiver:
        _, secret = await add_subscription(runtime, receiver.url())
        await seed_event(runtime, items=1500, title_length=300)
        await deliver_due(runtime)
        [body] = receiver.verify(secret)
    assert len(receiver.received[0].body.encode()) <= 256 * 1024
    data = body["data"]
    assert data["items_omitted"] > 0 and len(data["items"]) + data["items_omitted"] == 1500


async def test_deleting_a_subscription_mid_send_is_harmless(runtime: Runtime) -> None:
    from frwatch.store import subscriptions as subscription_store

    async with WebhookReceiver() as receiver:
        receiver.hang("/hook")
        sub_id, _ = await add_subscription(runtime, receiver.url())
        await seed_event(runtime)
        sending = asyncio.create_task(deliver_due(runtime))
        await receiver.wait_for(1)
        async with runtime.sessions() as session, session.begin():
            subscription = await subscription_store.get(session, sub_id, owner=None, admin=True)
            assert subscription is not None
            await subscription_store.delete(session, subscription)
        receiver.release.set()
        assert await sending == 1
    assert await rows(runtime, Outbox) == [] and await rows(runtime, DeliveryAttempt) == []


async def test_rows_claimed_ahead_of_a_free_slot_are_handed_back_at_close(db_url: str) -> None:
    """Claims run ahead of sending: rows waiting for a slot are leased, and released like those in flight."""
    settings = make_settings(db_url, webhook_concurrency=2, webhook_per_endpoint=4)
    async with open_runtime(settings) as rt, WebhookReceiver() as receiver:
        receiver.hang("/hook")
        await add_subscription(rt, receiver.url())
        for _ in range(4):
            await seed_event(rt)
        deliverer = Deliverer(rt)
        sending = asyncio.create_task(deliverer.deliver_due())
        try:
            await receiver.wait_for(2)
            leased = [row for row in await rows(rt, Outbox) if row.lease_owner == rt.worker]
            assert len(leased) == 4  # two sending, two waiting for a slot
        finally:
            await deliverer.close()
        assert await sending == 2
        assert len(receiver.received) == 2
    assert all(row.status == "pending" and row.lease_owner is None and row.attempts == 0
               for row in await rows(rt, Outbox))


async def test_an_answered_attempt_frees_its_endpoints_slot_before_it_is_recorded(
        db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A slot is an HTTP request in flight: with one slot per endpoint and recording held back,
    every message still goes out one after another; each is recorded once recording resumes."""
    recording = asyncio.Event()
    record = Deliverer._record

    async def held_record(self: Deliverer, batch: list) -> list[str]:
        await recording.wait()
        return await record(self, batch)

    monkeypatch.setattr(Deliverer, "_record", held_record)
    settings = make_settings(db_url, webhook_concurrency=4, webhook_per_endpoint=1)
    async with open_runtime(settings) as rt, WebhookReceiver() as receiver:
        await add_subscription(rt, receiver.url())
        for _ in range(3):
            await seed_event(rt)
        sending = asyncio.create_task(deliver_due(rt))
        try:
            await receiver.wait_for(3)  # none of them recorded yet
            assert [row.status for row in await rows(rt, Outbox)] == ["pending"] * 3
        finally:
            recording.set()
        assert await sending == 3
    assert [row.status for row in await rows(rt, Outbox)] == ["delivered"] * 3
    assert len(receiver.received) == 3


async def test_the_last_attempt_in_flight_is_recorded_at_once(runtime: Runtime,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Attempts are recorded in batches, a finished one waiting up to ``RECORD_AFTER_S`` for
    others; when no other attempt is in flight or queued there is none to wait for, and the batch
    is written at once (here the wait is an hour: deliver_due returns only if it was not waited)."""
    monkeypatch.setattr(worker, "RECORD_AFTER_S", 3600)
    deliverer = Deliverer(runtime)
    async with WebhookReceiver() as receiver:
        await add_subscription(runtime, receiver.url())
        for _ in range(3):
            await seed_event(runtime)
        sending = asyncio.create_task(deliverer.deliver_due())
        done, _ = await asyncio.wait({sending}, timeout=30)
        deliverer._record_now.set()  # a recorder still waiting goes now, so a failure ends here
        await deliverer.close()
        assert done, "the last attempts waited for the batch timer"
        assert sending.result() == 3
    assert [row.status for row in await rows(runtime, Outbox)] == ["delivered"] * 3
    assert len(await rows(runtime, DeliveryAttempt)) == 3


async def test_unusual_answers_are_recorded_beside_every_other_attempt(runtime: Runtime) -> None:
    """A binary answer (NUL, which PostgreSQL refuses in text) and Retry-After values no reader
    takes (5,000 digits; a date past datetime's range in UTC) are recorded as the failures they
    are, in the batch that also records a healthy endpoint's success; none is left leased."""
    async with WebhookReceiver() as receiver:
        receiver.respond("/binary", 500, body=b"\x00\x01binary\x00")
        receiver.respond("/long-wait", 503, headers={"Retry-After": "9" * 5000})
        receiver.respond("/far-date", 429, headers={"Retry-After": "Fri, 31 Dec 9999 23:59:59 -0100"})
        for path in ("/binary", "/long-wait", "/far-date", "/hook"):
            await add_subscription(runtime, receiver.url(path))
        await seed_event(runtime)
        assert await deliver_due(runtime) == 4
    attempts = {a.status_code: a for a in await rows(runtime, DeliveryAttempt)}
    assert sorted(attempts) == [200, 429, 500, 503]
    assert attempts[500].response_excerpt == "\ufffd\x01binary\ufffd"
    messages = await rows(runtime, Outbox)
    assert sorted((m.status, m.attempts) for m in messages) == [("delivered", 1)] + [("pending", 1)] * 3
    assert all(m.lease_until is None for m in messages)


async def test_stop_claiming_holds_until_started_again(runtime: Runtime) -> None:
    """Shutdown's first step: the deliverer claims nothing more, also in a drain's next round
    (each round used to allow claiming again), until ``start``."""
    async with WebhookReceiver() as receiver:
        await add_subscription(runtime, receiver.url())
        await seed_event(runtime, items=3)
        deliverer = Deliverer(runtime)
        await deliverer.start()
        deliverer.stop_claiming()
        assert await deliverer.deliver_due(limit=100) == 0
        assert await deliverer.drain() == 0 and receiver.received == []
        await deliverer.start()
        assert await deliverer.drain() >= 1 and receiver.received
        await deliverer.close()


async def test_a_ping_failing_on_a_disabled_subscription_keeps_its_reason(runtime: Runtime) -> None:
    from frwatch.store import subscriptions as subscription_store

    async with WebhookReceiver() as receiver:
        receiver.respond("/hook", 410)
        sub_id, _ = await add_subscription(runtime, receiver.url())
        async with runtime.sessions() as session, session.begin():
            assert await subscription_store.disable(session, sub_id, "failing since Monday", runtime.clock())
            assert not await subscription_store.disable(session, sub_id, "again", runtime.clock())
        [subscription] = await rows(runtime, Subscription)
        deliverer = Deliverer(runtime)
        _, result = await deliverer.ping(subscription)  # sent whether enabled or not
        await deliverer.close()
    assert result.status_code == 410
    [subscription] = await rows(runtime, Subscription)
    assert not subscription.enabled and subscription.disabled_reason == "failing since Monday"


async def test_rows_are_not_claimed_so_far_ahead_that_their_lease_ends_in_the_queue(db_url: str) -> None:
    """Lease 3 s, attempts of up to 1 s, one sender: rows claimed ahead would wait past their
    lease (another replica then claims and sends them too); the deliverer claims at most one row
    ahead here, so no webhook-id is sent twice by two replicas."""
    settings = make_settings(db_url, lease_duration=timedelta(seconds=3), webhook_timeout=timedelta(seconds=1),
                             webhook_concurrency=1)
    async with open_runtime(settings) as rt, WebhookReceiver() as receiver:
        for n in range(5):
            receiver.hang(f"/slow{n}")  # each attempt is cut off by the 1 s timeout
            await add_subscription(rt, receiver.url(f"/slow{n}"))
        await seed_event(rt)
        first = Deliverer(rt)
        second = Deliverer(dataclasses.replace(rt, worker="replica-b"))
        draining = asyncio.create_task(first.deliver_due(limit=100))
        await asyncio.sleep(3.5)  # past the lease of any row the first claimed at the start
        await second.deliver_due(limit=100)
        await draining
        await first.close()
        await second.close()
        receiver.release.set()
    ids = [r.id for r in receiver.received]
    assert len(ids) == 5 and len(set(ids)) == 5, ids
