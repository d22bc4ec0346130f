"""Attempt log, redelivery and replay through the API; resent messages keep their webhook-id."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from frwatch.notify.worker import deliver_due
from frwatch.runtime import Runtime
from tests.conftest import ADMIN_HEADERS
from tests.integration.test_subscriptions_api import create, new_key, problem
from tests.webhooks import FakeClock, WebhookReceiver, seed_event


async def test_attempts_are_listed_newest_first_with_pages(api: Any, runtime: Runtime) -> None:
    clock = runtime.clock = FakeClock()
    async with WebhookReceiver() as receiver:
        receiver.respond_seq("/hook", [500, 200])
        sub = await create(api, ADMIN_HEADERS, url=receiver.url())
        await seed_event(runtime)
        await deliver_due(runtime)
        clock.advance(minutes=1)
        await deliver_due(runtime)
    path = f"/v1/subscriptions/{sub['id']}/deliveries"
    first = await (await api.get(f"{path}?limit=1", headers=ADMIN_HEADERS)).json()
    [newest] = first["data"]
    assert newest["status_code"] == 200 and newest["message_status"] == "delivered"
    assert newest["event_type"] == "enforcement.detected" and newest["latency_ms"] >= 0
    rest = await (await api.get(f"{path}?limit=1&cursor={first['next_cursor']}", headers=ADMIN_HEADERS)).json()
    [oldest] = rest["data"]
    assert oldest["status_code"] == 500 and oldest["error"] == "HTTP 500"
    assert oldest["message_id"] == newest["message_id"]
    assert (await problem(await api.get(f"{path}?cursor=abc", headers=ADMIN_HEADERS), 400))["field"] == "cursor"


async def test_redeliver_resends_with_the_same_webhook_id(api: Any, runtime: Runtime) -> None:
    alice, bob = await new_key(api, "alice"), await new_key(api, "bob")
    async with WebhookReceiver() as receiver:
        sub = await create(api, alice, url=receiver.url())
        await seed_event(runtime)
        await deliver_due(runtime)
        [attempt] = (await (await api.get(f"/v1/subscriptions/{sub['id']}/deliveries", headers=alice)).json())["data"]
        message_id = attempt["message_id"]
        # another integrator's message, by its id or its attempt's, looks exactly like a missing one
        for other in (message_id, str(attempt["id"])):
            hidden = await problem(await api.post(f"/v1/deliveries/{other}/redeliver", headers=bob), 404)
            assert hidden["detail"] == f"no delivery {other!r}" and sub["id"] not in str(hidden)
        await problem(await api.post("/v1/deliveries/msg_nope/redeliver", headers=alice), 404)
        response = await api.post(f"/v1/deliveries/{message_id}/redeliver", headers=alice)
        queued = await response.json()
        assert response.status == 202 and queued["status"] == "pending" and queued["attempts"] == 0
        assert await deliver_due(runtime) == 1
        by_attempt = await api.post(f"/v1/deliveries/{attempt['id']}/redeliver", headers=alice)
        assert by_attempt.status == 202 and (await by_attempt.json())["id"] == message_id
        assert await deliver_due(runtime) == 1
        bodies = receiver.verify(sub["secret"])
    assert [r.id for r in receiver.received] == [message_id] * 3
    assert bodies[0] == bodies[1] == bodies[2]


async def test_replay_requeues_a_time_range(api: Any, runtime: Runtime) -> None:
    clock = runtime.clock = FakeClock()
    async with WebhookReceiver() as receiver:
        sub = await create(api, ADMIN_HEADERS, url=receiver.url())
        start = clock()
        for _ in range(3):
            await seed_event(runtime)
            clock.advance(hours=1)
        assert await deliver_due(runtime) == 3
        ping = await api.post(f"/v1/subscriptions/{sub['id']}/ping", headers=ADMIN_HEADERS)
        assert ping.status == 200  # a ping in the range: a replay sends events again, never old pings
        clock.advance(minutes=1)
        path = f"/v1/subscriptions/{sub['id']}/replay"
        since, until = (start + timedelta(minutes=30)).isoformat(), (start + timedelta(hours=2)).isoformat()
        response = await api.post(path, json={"since": since, "until": until}, headers=ADMIN_HEADERS)
        assert response.status == 202 and (await response.json())["requeued"] == 1
        assert await deliver_due(runtime) == 1
        everything = await api.post(path, json={"since": start.isoformat()}, headers=ADMIN_HEADERS)
        assert (await everything.json())["requeued"] == 3
        assert await deliver_due(runtime) == 3
    ids = [r.id for r in receiver.received if r.json["type"] != "subscription.ping"]
    assert len(ids) == 7 and len(set(ids)) == 3
    assert len(receiver.received) == 8  # the ping, once
    found = await problem(await api.post(path, json={"since": until, "until": since}, headers=ADMIN_HEADERS), 422)
    assert found["field"] == "since"
    found = await problem(await api.post(path, json={"since": "yesterday"}, headers=ADMIN_HEADERS), 422)
    assert found["field"] == "since"
    # in UTC this is before year 1 (was a 500 from OverflowError)
    found = await problem(await api.post(path, json={"since": "0001-01-01T00:00:00+01:00"}, headers=ADMIN_HEADERS),
                          422)
    assert found["field"] == "since"
    assert (await problem(await api.post(path, json={}, headers=ADMIN_HEADERS), 422))["field"] == "since"


async def test_non_ascii_digits_in_a_delivery_id_are_a_404(api: Any) -> None:
    """str.isdigit() accepts "²" and "١٢"; int() refuses the first (was a 500) and reads the
    second as 12, so neither may be taken for an attempt id."""
    for delivery_id in ("²", "١٢", "𝟙"):
        await problem(await api.post(f"/v1/deliveries/{delivery_id}/redeliver", headers=ADMIN_HEADERS), 404)
