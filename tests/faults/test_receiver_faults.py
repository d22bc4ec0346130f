"""Webhook receivers that misbehave (issue 6 §3), against real endpoints on 127.0.0.1.

Each fault alone: what the attempt log says and what happens to the message. Then all faults at
once over several events, with the clock moved through the retries: every owed message ends
delivered, and a receiver sees a ``webhook-id`` again only after an attempt frwatch could not
know was accepted (timeout, reset) — at-least-once, never more.

Already covered (not repeated): 5xx retry schedule then failure, Retry-After, 410 disabling,
disabling after days of failure, redirects not followed and capped excerpts, a hanging endpoint,
the circuit breaker (tests/integration/test_webhooks_delivery.py); a dead endpoint not slowing
the others (test_webhooks_isolation.py); a worker killed mid-send (test_delivery_crash.py).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import timedelta

from aiohttp import web
from frwatch.models import DeliveryAttempt, Outbox
from frwatch.notify.worker import deliver_due

from tests.faults.support import black_hole, fault_runtime, free_port, rows
from tests.webhooks import WebhookReceiver, add_subscription, seed_event

Behaviour = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def endless(request: web.Request, status: int = 200) -> web.StreamResponse:
    """Headers at once, then a body that never ends."""
    response = web.StreamResponse(status=status)
    await response.prepare(request)
    try:
        while True:
            await response.write(b"z" * 65536)
            await asyncio.sleep(0.001)
    except (ConnectionError, RuntimeError):
        return response


def slow(seconds: float) -> Behaviour:
    async def answer(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(seconds)
        return web.Response(text="accepted late")
    return answer


async def reset(request: web.Request) -> web.StreamResponse:
    """Read the message, then drop the connection without answering."""
    assert request.transport is not None
    request.transport.abort()
    return web.Response(text="never sent")


async def endless_500(request: web.Request) -> web.StreamResponse:
    return await endless(request, 500)


CASES = {
    # name: (behaviour or special URL, delivered?, attempt status, error contains, max seconds)
    "refused": (None, False, None, "Cannot connect", 1.0),
    "black-hole": (None, False, None, "timed out", 2.0),
    "never-ending-200": (endless, True, 200, None, 1.0),
    "never-ending-500": (endless_500, False, 500, "HTTP 500", 1.0),
    "slow-within-timeout": (slow(0.6), True, 200, None, 1.5),
    "slow-past-timeout": (slow(3), False, None, "timed out", 2.0),
    "reset": (reset, False, None, "", 1.0),
    "504": (None, False, 504, "HTTP 504", 1.0),
}


async def test_each_receiver_fault_is_logged_and_retried_or_delivered(db_url: str) -> None:
    """One subscription per fault, one event: all attempts run at once, each bounded by the 1 s
    webhook timeout, and each ends as documented in ``CASES``."""
    async with WebhookReceiver() as receiver, fault_runtime(db_url) as rt:
        with black_hole() as hole:
            ids = {}
            for case, (behaviour, *_rest) in CASES.items():
                if case == "refused":
                    url = f"http://127.0.0.1:{free_port()}/hook"
                elif case == "black-hole":
                    url = f"http://127.0.0.1:{hole}/hook"
                else:
                    url = receiver.url(f"/{case}")
                    if case == "504":
                        receiver.respond("/504", 504)
                    else:
                        assert behaviour is not None
                        receiver.behaviours[f"/{case}"] = behaviour
                ids[(await add_subscription(rt, url))[0]] = case
            await seed_event(rt)
            started = time.monotonic()
            assert await deliver_due(rt) == len(CASES)
            elapsed = time.monotonic() - started
        attempts = {ids[a.subscription_id]: a for a in await rows(rt, DeliveryAttempt)}
        messages = {ids[m.subscription_id]: m for m in await rows(rt, Outbox)}
    assert elapsed < 2.5, f"one round of attempts took {elapsed:.1f}s"
    for case, (_, delivered, status, error, limit) in CASES.items():
        attempt, message = attempts[case], messages[case]
        assert attempt.latency_ms / 1000 < limit, (case, attempt.latency_ms)
        assert attempt.status_code == status, (case, attempt.error)
        if delivered:
            assert message.status == "delivered" and attempt.error is None, case
        else:
            assert message.status == "pending" and message.next_attempt_at > rt.clock(), case  # retried later
            assert attempt.error is not None and (error or "") in attempt.error, (case, attempt.error)
        assert len(attempt.response_excerpt or "") <= 2048  # a huge answer is never read whole
        assert message.lease_owner is None


class Flaky:
    """Per message: the first ``failures`` deliveries get ``fault``, later ones 200. Counts the
    deliveries this receiver accepted (answered 2xx) per webhook-id."""

    def __init__(self, fault: Behaviour, failures: int):
        self.fault, self.failures = fault, failures
        self.seen: Counter[str] = Counter()
        self.accepted: Counter[str] = Counter()

    async def __call__(self, request: web.Request) -> web.StreamResponse:
        webhook_id = request.headers["webhook-id"]
        self.seen[webhook_id] += 1
        if self.seen[webhook_id] <= self.failures:
            return await self.fault(request)
        self.accepted[webhook_id] += 1
        return web.Response(text="ok")


def status(code: int, **headers: str) -> Behaviour:
    async def answer(request: web.Request) -> web.StreamResponse:
        return web.Response(status=code, headers=headers)
    return answer


async def test_all_faults_at_once_nothing_lost_nothing_accepted_twice(db_url: str) -> None:
    endpoints = {
        "/ok": Flaky(status(200), 0),
        "/5xx": Flaky(status(503), 3),
        "/429": Flaky(status(429, **{"Retry-After": "2"}), 1),
        "/timeout": Flaky(slow(3), 2),
        "/reset": Flaky(reset, 2),
        "/endless-500": Flaky(endless_500, 1),
        "/slow-ok": Flaky(slow(0.5), 0),
    }
    async with WebhookReceiver() as receiver, fault_runtime(
            db_url, webhook_retry_schedule=(timedelta(seconds=5),) * 8) as rt:
        for path, behaviour in endpoints.items():
            receiver.behaviours[path] = behaviour
            await add_subscription(rt, receiver.url(path))
        for n in range(3):
            await seed_event(rt, target=f"Company {n}")
        owed = len(await rows(rt, Outbox))
        assert owed == 3 * len(endpoints)
        for _ in range(12):
            await deliver_due(rt)
            pending = [m for m in await rows(rt, Outbox) if m.status != "delivered"]
            if not pending:
                break
            rt.clock.advance(minutes=2)  # type: ignore[attr-defined]  # past any retry or open circuit
        messages = await rows(rt, Outbox)
    assert [m.status for m in messages] == ["delivered"] * owed  # nothing lost, nothing failed
    for path, flaky in endpoints.items():
        assert len(flaky.accepted) == 3, path  # every event reached every endpoint …
        assert set(flaky.accepted.values()) == {1}, path  # … and was accepted exactly once
        assert all(seen == flaky.failures + 1 for seen in flaky.seen.values()), (path, flaky.seen)
    attempts = Counter(m.id for m in messages for _ in range(m.attempts))
    assert sum(attempts.values()) == sum(sum(f.seen.values()) for f in endpoints.values())
