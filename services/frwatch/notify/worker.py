"""The deliverer: claims due outbox rows, sends them concurrently, records every attempt.

One ``Deliverer`` per process sends over the runtime's ``ClientSession`` (the process's only one;
its connector checks every address with the URL guard). ``deliver_due`` keeps claiming while slots free up, so a fast
endpoint is served at full speed while a hanging one holds only its own slots (see
``store.outbox.claim_due``). Each attempt is recorded in its own transaction: the attempt log,
the message's next state (delivered, retry later, failed) and the endpoint's health.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any, Coroutine, TypeVar

from frwatch import metrics
from frwatch.models import Outbox, Subscription
from frwatch.notify import breaker
from frwatch.notify.backoff import retry_delay
from frwatch.notify.deliver import AttemptResult, Message, send
from frwatch.notify.matching import PING
from frwatch.notify.payload import ping_body
from frwatch.notify.signing import active_secrets
from frwatch.store import outbox as outbox_store
from frwatch.store import subscriptions as subscription_store

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from frwatch.runtime import Runtime

log = logging.getLogger("frwatch.notify")
T = TypeVar("T")


class Deliverer:
    """Process-lifetime delivery state: ``start()`` once, ``deliver_due()`` every tick (or
    ``drain()`` for a one-shot run), ``close()`` at shutdown (releases leases still in flight)."""

    def __init__(self, rt: Runtime):
        self.rt = rt
        self._in_flight: dict[asyncio.Task[AttemptResult | None], str] = {}
        self._recording: set[asyncio.Future[Any]] = set()
        self._closing = False

    async def start(self) -> None:
        """Allow claiming (again, after ``stop_claiming`` or ``close``); idempotent."""
        self._closing = False

    async def deliver_due(self, *, limit: int = 100) -> int:
        """Claim, send and record until nothing is due or ``limit`` attempts were started, then
        wait for them. Returns the number of attempts made. One bad row is logged, never raised."""
        await self.start()
        settings = self.rt.settings
        poll = settings.tick_interval.total_seconds()
        pending: set[asyncio.Task[AttemptResult | None]] = set()
        started = 0
        while True:
            room = min(limit - started, settings.webhook_concurrency - len(self._in_flight))
            claims = await self._claim(room) if room > 0 and not self._closing else []
            pending.update(self._spawn(row, subscription) for row, subscription in claims)
            started += len(claims)
            if not pending:
                return started
            _, pending = await asyncio.wait(pending, timeout=poll, return_when=asyncio.FIRST_COMPLETED)

    async def drain(self) -> int:
        """Deliver until nothing is deliverable now (``frwatch run --once``); returns attempts made."""
        total = 0
        while made := await self.deliver_due():
            total += made
        return total

    async def ping(self, subscription: Subscription) -> tuple[str, AttemptResult]:
        """Send ``subscription.ping`` now (enabled or not), record it; returns its message id and outcome."""
        now = self.rt.clock()
        async with self.rt.sessions() as session, session.begin():
            row = outbox_store.add(session, subscription_id=subscription.id, event_id=None, event_type=PING,
                                   payload=ping_body(subscription.id, now), now=now, lease_owner=self.rt.worker,
                                   lease_until=now + self.rt.settings.lease_duration)
        return row.id, await self._attempt(row, subscription)

    def stop_claiming(self) -> None:
        """Graceful shutdown, first step: attempts in flight go on, no new rows are claimed."""
        self._closing = True

    async def release_leases(self) -> None:
        """Stop claiming, cancel attempts in flight and hand their rows back for immediate retry.
        An attempt already answered is recorded first (its row is then no longer leased)."""
        self._closing = True
        tasks = list(self._in_flight)
        outbox_ids = list(self._in_flight.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.gather(*self._recording, return_exceptions=True)
        if outbox_ids:
            async with self.rt.sessions() as session, session.begin():
                await outbox_store.release(session, outbox_ids, self.rt.worker)
            log.info("webhook leases released", extra={"count": len(outbox_ids), "worker": self.rt.worker})

    async def close(self) -> None:
        """Release what is still in flight (the HTTP session is the runtime's to close)."""
        await self.release_leases()

    async def _claim(self, limit: int) -> list[tuple[Outbox, Subscription]]:
        settings = self.rt.settings

        async def claim() -> list[tuple[Outbox, Subscription]]:
            async with self.rt.sessions() as session, session.begin():
                return await outbox_store.claim_due(session, now=self.rt.clock(), worker=self.rt.worker,
                                                    lease=settings.lease_duration, limit=limit,
                                                    per_endpoint=settings.webhook_per_endpoint)

        try:  # shielded: a transaction cut off by cancellation can leave SQLite locked
            return await asyncio.shield(claim())
        except Exception:  # the database may be back next tick; attempts in flight still finish
            log.exception("webhook claim failed", extra={"worker": self.rt.worker})
            return []

    def _spawn(self, row: Outbox, subscription: Subscription) -> asyncio.Task[AttemptResult | None]:
        task = asyncio.create_task(self._guarded(row, subscription))
        self._in_flight[task] = row.id
        task.add_done_callback(lambda done: self._in_flight.pop(done, None))
        return task

    async def _guarded(self, row: Outbox, subscription: Subscription) -> AttemptResult | None:
        try:
            return await self._attempt(row, subscription)
        except Exception:  # the row keeps its lease and is retried when it expires
            log.exception("webhook attempt crashed", extra={"outbox_id": row.id, "attempt": row.attempts + 1})
            return None

    async def _attempt(self, row: Outbox, subscription: Subscription) -> AttemptResult:
        settings = self.rt.settings
        now = self.rt.clock()
        message = Message(id=row.id, url=subscription.url, body=row.payload,
                          secrets=active_secrets(subscription.secret, subscription.previous_secret,
                                                 subscription.previous_secret_expires_at, now))
        result = await send(self.rt.http, self.rt.guard, message, now=now, timeout=settings.webhook_timeout,
                            user_agent=settings.user_agent)
        outcome = await self._shielded(self._record(row, result, attempted_at=now))
        metrics.DELIVERIES.labels(outcome=outcome).inc()
        metrics.DELIVERY_SECONDS.observe(result.latency_ms / 1000)
        fields = {"outbox_id": row.id, "subscription_id": row.subscription_id, "attempt": row.attempts + 1,
                  "status_code": result.status_code, "latency_ms": result.latency_ms, "outcome": outcome}
        if result.ok:
            log.info("webhook delivered", extra=fields)
        else:
            log.warning("webhook attempt failed", extra={**fields, "error": result.error})
        return result

    async def _shielded(self, work: Coroutine[Any, Any, T]) -> T:
        """Finish a transaction even if the caller is cancelled; ``release_leases`` waits for it."""
        future = asyncio.ensure_future(work)
        self._recording.add(future)
        future.add_done_callback(self._recording.discard)
        return await asyncio.shield(future)

    async def _record(self, row: Outbox, result: AttemptResult, *, attempted_at: datetime) -> str:
        """Store the attempt, settle the message and the endpoint's health in one transaction.
        Returns the outcome: delivered, retry, failed, disabled (the endpoint), lease_lost or gone."""
        now = self.rt.clock()
        async with self.rt.sessions() as session, session.begin():
            leased = await outbox_store.lock_leased(session, row.id, self.rt.worker)
            if leased is None and await outbox_store.get(session, row.id) is None:
                log.info("webhook message gone", extra={"outbox_id": row.id})  # deleted with its subscription
                return "gone"
            outbox_store.add_attempt(session, outbox_id=row.id, subscription_id=row.subscription_id,
                                     attempted_at=attempted_at, status_code=result.status_code,
                                     latency_ms=result.latency_ms, error=result.error,
                                     response_excerpt=result.excerpt)
            if leased is None:
                log.warning("webhook lease lost", extra={"outbox_id": row.id, "worker": self.rt.worker})
                outcome = "lease_lost"
            else:
                retry_in = None if result.ok or row.event_type == PING else retry_delay(
                    leased.attempts + 1, self.rt.settings.webhook_retry_schedule, retry_after=result.retry_after)
                outbox_store.settle(leased, now=now, delivered=result.ok, retry_in=retry_in, error=result.error)
                outcome = "delivered" if result.ok else "failed" if retry_in is None else "retry"
            disabled = await self._record_health(session, row.subscription_id, result, now)
        return "disabled" if disabled else outcome

    async def _record_health(self, session: AsyncSession, subscription_id: str, result: AttemptResult,
                             now: datetime) -> bool:
        """Update the endpoint's failure count and circuit; True when this attempt disabled it."""
        if result.ok:
            await subscription_store.record_success(session, subscription_id)
            return False
        state = await subscription_store.record_failure(session, subscription_id, now)
        if state is None:
            return False
        failures, failing_since = state
        verdict = breaker.after_failure(failures, failing_since, now, status_code=result.status_code,
                                        disable_after=self.rt.settings.webhook_disable_after)
        if verdict.disable_reason:
            await subscription_store.disable(session, subscription_id, verdict.disable_reason, now)
            log.warning("subscription disabled", extra={"subscription_id": subscription_id,
                                                        "reason": verdict.disable_reason})
            return True
        if verdict.circuit_open_until:
            await subscription_store.set_circuit(session, subscription_id, verdict.circuit_open_until)
            log.warning("circuit opened", extra={"subscription_id": subscription_id, "failures": failures,
                                                 "until": verdict.circuit_open_until.isoformat()})
        return False


async def deliver_due(rt: Runtime, *, limit: int = 100) -> int:
    """One-shot delivery with a temporary deliverer; a long-running process keeps one ``Deliverer``."""
    deliverer = Deliverer(rt)
    try:
        return await deliverer.deliver_due(limit=limit)
    finally:
        await deliverer.close()
