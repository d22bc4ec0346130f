"""The deliverer: claims due outbox rows, sends them concurrently, records every attempt.

One ``Deliverer`` per process sends over the runtime's ``ClientSession`` (the process's only one;
its connector checks every address with the URL guard). ``deliver_due`` keeps claiming while slots free up, so a fast
endpoint is served at full speed while a hanging one holds only its own slots (see
``store.outbox.claim_due``). Up to ``webhook_concurrency`` senders take the claimed rows one after
another; a sender ends when none is left. Finished attempts are recorded together, every
``RECORD_AFTER_S`` or ``RECORD_BATCH`` attempts, or at once when no other attempt is in flight or
waiting, in one transaction: the attempt log, each message's next state (delivered, retry later,
failed) and the endpoints' health; each attempt is counted and logged once its outcome is known.
A crash before that transaction leaves the rows leased, so they are sent again when the lease
expires (at-least-once).
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict, deque
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Sequence

from frwatch import metrics
from frwatch.db import in_transaction, write_transaction
from frwatch.models import Subscription
from frwatch.notify import breaker
from frwatch.notify.backoff import retry_delay
from frwatch.notify.deliver import AttemptResult, Message, send
from frwatch.notify.matching import PING
from frwatch.notify.payload import ping_body
from frwatch.notify.signing import active_secrets
from frwatch.store import outbox as outbox_store
from frwatch.store import subscriptions as subscription_store
from frwatch.store.outbox import Claimed, Settlement

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from frwatch.runtime import Runtime
    from frwatch.settings import Settings

log = logging.getLogger("frwatch.notify")

RECORD_AFTER_S = 0.05  # a finished attempt waits at most this long to be recorded with others …
RECORD_BATCH = 100  # … or until this many are waiting, or until no other attempt is in flight or queued
DRAIN_ROUND = 10_000  # attempts started by one ``deliver_due`` of ``drain``
CLAIM_AFTER_S = 0.05  # a claim comes at most this long after the previous one (sooner when worth it: see deliver_due)
CLAIM_AHEAD = 12  # claimed rows waiting for a free slot: up to this many times ``webhook_concurrency``


def claim_ahead(settings: Settings) -> int:
    """``CLAIM_AHEAD``, or fewer when a claimed row could wait in the queue past its lease:
    behind ``ahead`` rows per sender, each an attempt of up to ``webhook_timeout``, a row waits at
    most (ahead + 1) timeouts, which must end before the lease does (else another replica may
    claim and send it too)."""
    return max(0, min(CLAIM_AHEAD, settings.lease_duration // settings.webhook_timeout - 2))


@dataclass
class Finished:
    """An attempt made and not yet recorded; ``outcome``, when its caller waits for one, is set once it is."""
    row: Claimed
    result: AttemptResult
    attempted_at: datetime
    outcome: asyncio.Future[str] | None = None


class Deliverer:
    """Process-lifetime delivery state: ``start()`` once, ``drain()`` (or ``deliver_due()``) every
    tick and on ``wake()``, ``close()`` at shutdown (releases leases still in flight)."""

    def __init__(self, rt: Runtime):
        self.rt = rt
        self._senders: set[asyncio.Task[None]] = set()
        self._sending: set[str] = set()  # outbox ids of the attempts in flight
        self._recorder: asyncio.Task[None] | None = None
        self._finished: list[Finished] = []
        self._answered: set[str] = set()  # outbox ids of the attempts answered 2xx and not yet recorded
        self._record_now = asyncio.Event()
        self._unrecorded = 0  # attempts taken by a sender (or a ping) and not yet recorded
        self._changed = asyncio.Event()  # for ``deliver_due``: a slot freed, an attempt finished, a claim ended
        self._finished_count = 0  # attempts finished (recorded, or crashed, or cancelled) so far
        self._taken = 0  # claimed rows taken by a sender so far
        self._work_queued = asyncio.Event()
        self._queued: deque[Claimed] = deque()  # claimed, waiting for a free slot
        self._claiming: asyncio.Task[int] | None = None
        self._ahead = claim_ahead(rt.settings)  # claimed rows waiting per sender, at most
        self._closing = False

    async def start(self) -> None:
        """Allow claiming (again, after ``stop_claiming`` or ``close``); idempotent."""
        self._closing = False

    async def deliver_due(self, *, limit: int = 100) -> int:
        """Claim, send and record until nothing is due or ``limit`` attempts were started, then
        wait for them. Returns the number of attempts made. One bad row is logged, never raised.

        Claiming runs beside sending, one claim at a time, and ahead of it: up to ``CLAIM_AHEAD``
        (fewer when the lease is short: ``claim_ahead``) times ``webhook_concurrency`` claimed rows
        wait (leased, so holding their endpoint's slots) for a free slot, which therefore never
        waits for a claim's round trips, and each claim's round trips serve many rows. Claims nothing once ``stop_claiming`` (or ``close``) was
        called, until ``start`` is: a drain's next round must not undo a shutdown."""
        settings = self.rt.settings
        poll = settings.tick_interval.total_seconds()
        loop = asyncio.get_running_loop()
        taken_before, claimed = self._taken, 0
        claim_at, found, finished_at_claim = 0.0, True, -1
        while True:
            self._changed.clear()
            if self._claiming is not None and self._claiming.done():
                got, self._claiming = self._claiming.result(), None
                claimed, found, claim_at = claimed + got, got > 0, loop.time() + CLAIM_AFTER_S
            self._start_senders()
            want = min(limit - claimed, (1 + self._ahead) * settings.webhook_concurrency
                       - len(self._sending) - len(self._queued))
            idle = not self._unrecorded and (not self._queued or self._closing)
            # a claim costs round trips whatever its size. Worth one now: after a claim that found
            # rows, or once an attempt was recorded since (freeing its endpoint's slot), when idle
            # or a quarter of the slots is free; else after CLAIM_AFTER_S
            worth = found or self._finished_count != finished_at_claim
            can_claim = self._claiming is None and want > 0 and not self._closing
            if can_claim and (loop.time() >= claim_at
                              or worth and (idle or want >= settings.webhook_concurrency // 4)):
                finished_at_claim, can_claim = self._finished_count, False
                self._claiming = asyncio.create_task(self._claim(want))
                self._claiming.add_done_callback(lambda _: self._changed.set())
            elif self._claiming is None and idle:
                return self._taken - taken_before
            # a claim not yet worth it is due at claim_at; anything else wakes us with _changed
            await self._wait_for_change(min(poll, claim_at - loop.time()) if can_claim else poll)

    async def _wait_for_change(self, timeout: float) -> None:
        """Until a slot frees, an attempt is recorded, a claim ends, or ``timeout`` seconds pass."""
        try:
            async with asyncio.timeout(timeout):
                await self._changed.wait()
        except TimeoutError:
            pass

    def _start_senders(self) -> None:
        """Start senders for the claimed rows waiting, up to ``webhook_concurrency`` (none once closing)."""
        if self._closing:
            return
        for _ in range(min(self.rt.settings.webhook_concurrency - len(self._senders), len(self._queued))):
            sender = asyncio.create_task(self._send_queued())
            self._senders.add(sender)
            sender.add_done_callback(self._sender_ended)

    def wake(self) -> None:
        """Messages were just queued: ``wait_for_work`` returns now instead of at the next tick."""
        self._work_queued.set()

    async def wait_for_work(self, timeout: float) -> None:
        """Until ``wake`` is called (or was, since the last wait) or ``timeout`` seconds pass."""
        try:
            await asyncio.wait_for(self._work_queued.wait(), timeout)
        except TimeoutError:
            pass
        self._work_queued.clear()

    async def drain(self) -> int:
        """Deliver until nothing is deliverable now (``frwatch run --once``, the worker's delivery
        loop); returns attempts made. Rounds are large: each ends by waiting for its last attempts
        to be recorded, which small rounds would pay every ``deliver_due`` limit of attempts."""
        total = 0
        while made := await self.deliver_due(limit=DRAIN_ROUND):
            total += made
        return total

    async def ping(self, subscription: Subscription) -> tuple[str, AttemptResult]:
        """Send ``subscription.ping`` now (enabled or not), record it; returns its message id and outcome."""
        now = self.rt.clock()
        async with write_transaction(self.rt.sessions) as session:
            row = outbox_store.add(session, subscription_id=subscription.id, event_id=None, event_type=PING,
                                   payload=ping_body(subscription.id, now), now=now, lease_owner=self.rt.worker,
                                   lease_until=now + self.rt.settings.lease_duration)
        claimed = Claimed(row.id, subscription.id, PING, row.payload, 0, subscription_store.endpoint(subscription))
        result = await self._send(claimed, now)
        outcome: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._unrecorded += 1
        self._record_soon(Finished(claimed, result, now, outcome))
        await asyncio.shield(outcome)
        return row.id, result

    def stop_claiming(self) -> None:
        """Graceful shutdown, first step: attempts in flight go on, no new rows are claimed."""
        self._closing = True

    async def release_leases(self) -> None:
        """Stop claiming, cancel attempts in flight and hand their rows back for immediate retry.
        An attempt already answered is recorded first (its row is then no longer leased)."""
        self._closing = True
        if self._claiming is not None:
            await asyncio.gather(self._claiming, return_exceptions=True)
        senders = list(self._senders)
        outbox_ids = list(self._sending) + [row.id for row in self._queued]
        self._queued.clear()
        for sender in senders:
            sender.cancel()
        await asyncio.gather(*senders, return_exceptions=True)
        if self._recorder is not None:
            await asyncio.gather(self._recorder, return_exceptions=True)
        if outbox_ids:
            async with write_transaction(self.rt.sessions) as session:
                await outbox_store.release(session, outbox_ids, self.rt.worker)
            log.info("webhook leases released", extra={"count": len(outbox_ids), "worker": self.rt.worker})

    async def close(self) -> None:
        """Release what is still in flight (the HTTP session is the runtime's to close)."""
        await self.release_leases()

    async def _claim(self, limit: int) -> int:
        """Claim up to ``limit`` rows onto the queue; returns how many."""
        settings = self.rt.settings

        async def claim() -> list[Claimed]:
            async with write_transaction(self.rt.sessions) as session:
                return await outbox_store.claim_due(session, now=self.rt.clock(), worker=self.rt.worker,
                                                    lease=settings.lease_duration, limit=limit,
                                                    per_endpoint=settings.webhook_per_endpoint,
                                                    answered=self._answered)  # copied as it is bound

        try:  # shielded: a transaction cut off by cancellation can leave SQLite locked
            rows = await asyncio.shield(claim())
        except Exception:  # the database may be back next tick; attempts in flight still finish
            log.exception("webhook claim failed", extra={"worker": self.rt.worker})
            return 0
        self._queued.extend(rows)
        return len(rows)

    async def _send_queued(self) -> None:
        """A sender: takes claimed rows one after another until none is waiting (or closing). One
        task per row would cost a task, a future and two wake-ups more per webhook."""
        while self._queued and not self._closing:
            row = self._queued.popleft()
            self._taken += 1
            self._unrecorded += 1
            self._sending.add(row.id)
            attempted_at = self.rt.clock()
            try:
                result = await self._send(row, attempted_at)
            except Exception:  # the row keeps its lease and is retried when it expires
                log.exception("webhook attempt crashed", extra={"outbox_id": row.id, "attempt": row.attempts + 1})
                self._done_with(1)
                continue
            except asyncio.CancelledError:  # release_leases hands the row back
                self._done_with(1)
                raise
            finally:
                self._sending.discard(row.id)
                self._changed.set()  # the HTTP part is over: its slot serves the next row
            self._record_soon(Finished(row, result, attempted_at))

    def _sender_ended(self, sender: asyncio.Task[None]) -> None:
        self._senders.discard(sender)
        self._changed.set()

    def _done_with(self, attempts: int) -> None:
        """``attempts`` are over: recorded, or never to be (crashed, cancelled, not recorded)."""
        self._unrecorded -= attempts
        self._finished_count += attempts
        self._changed.set()

    async def _send(self, row: Claimed, now: datetime) -> AttemptResult:
        endpoint = row.endpoint
        message = Message(id=row.id, url=endpoint.url, body=row.payload,
                          secrets=active_secrets(endpoint.secret, endpoint.previous_secret,
                                                 endpoint.previous_secret_expires_at, now))
        settings = self.rt.settings
        return await send(self.rt.http, self.rt.guard, message, now=now, timeout=settings.webhook_timeout,
                          user_agent=settings.user_agent)

    def _record_soon(self, finished: Finished) -> None:
        """Queue the attempt for the next batch. The batch is written by its own task, so a
        cancelled sender never cuts a transaction; ``release_leases`` waits for it."""
        self._finished.append(finished)
        if finished.result.ok:  # a failure holds its slot until recorded: the circuit breaker counts it first
            self._answered.add(finished.row.id)
        if len(self._finished) >= RECORD_BATCH or not (self._sending or self._queued):
            self._record_now.set()  # a full batch, or no attempt left to wait for
        if self._recorder is None or self._recorder.done():
            self._recorder = asyncio.create_task(self._record_batches())

    async def _record_batches(self) -> None:
        """Record what has finished, batch after batch, until nothing is waiting; then count and
        log each attempt by its outcome."""
        while self._finished:
            try:
                await asyncio.wait_for(self._record_now.wait(), RECORD_AFTER_S)
            except TimeoutError:
                pass
            self._record_now.clear()
            batch, self._finished = self._finished, []
            try:
                outcomes = await self._record(batch)
            except Exception as exc:  # the rows keep their leases and are sent again when they expire
                log.exception("webhook attempts not recorded", extra={"count": len(batch), "worker": self.rt.worker})
                for finished in batch:
                    if finished.outcome is not None:
                        finished.outcome.set_exception(exc)
                        finished.outcome.exception()  # retrieved here: a cancelled caller no longer waits
            else:
                for finished, outcome in zip(batch, outcomes):
                    _report(finished, outcome)
                    if finished.outcome is not None:
                        finished.outcome.set_result(outcome)
            finally:
                self._answered.difference_update(finished.row.id for finished in batch)
                self._done_with(len(batch))

    async def _record(self, batch: Sequence[Finished]) -> list[str]:
        """Store the attempts, settle the messages and the endpoints' health in one transaction.
        Returns each attempt's outcome: delivered, retry, failed, disabled (the endpoint), lease_lost
        or gone. Only rows this worker still holds are settled (the failed ones locked in id order,
        to read their attempt counts). Run again when PostgreSQL aborts it in a deadlock (with a
        subscription being deleted, which locks the subscription before its messages): a batch
        left unrecorded would be sent again to every endpoint in it once the leases expire."""
        now, worker = self.rt.clock(), self.rt.worker

        async def record(session: AsyncSession) -> tuple[set[str], set[str], dict[str, Settlement], list[int]]:
            delivered = await outbox_store.settle_delivered(
                session, [finished.row.id for finished in batch if finished.result.ok], worker, now)
            failed = await outbox_store.lock_leased(
                session, [finished.row.id for finished in batch if not finished.result.ok], worker)
            settlements = {finished.row.id: self._settlement(finished, failed[finished.row.id])
                           for finished in batch if finished.row.id in failed}
            await outbox_store.settle_failed(session, list(settlements.values()), now)
            held = delivered | set(failed)
            present = held | await outbox_store.existing_ids(
                session, [finished.row.id for finished in batch if finished.row.id not in held])
            kept = [index for index, finished in enumerate(batch) if finished.row.id in present]
            await outbox_store.add_attempts(session, [_attempt_values(batch[index]) for index in kept])
            disabled = await self._record_health(session, [batch[index] for index in kept], now)
            return present, delivered, settlements, [kept[index] for index in disabled]

        present, delivered, settlements, disabled = await in_transaction(self.rt.sessions, record)
        outcomes = [self._outcome(finished, present, delivered, settlements) for finished in batch]
        for index in disabled:
            outcomes[index] = "disabled"
        return outcomes

    def _settlement(self, finished: Finished, attempts: int) -> Settlement:
        """A failed attempt's message (``attempts`` made before this one): retried later or failed."""
        row, result = finished.row, finished.result
        retry_in = None if row.event_type == PING else retry_delay(
            attempts + 1, self.rt.settings.webhook_retry_schedule, retry_after=result.retry_after)
        return Settlement(row.id, attempts + 1, retry_in=retry_in, error=result.error)

    def _outcome(self, finished: Finished, present: set[str], delivered: set[str],
                 settlements: dict[str, Settlement]) -> str:
        outbox_id = finished.row.id
        if outbox_id in delivered:
            return "delivered"
        if outbox_id in settlements:
            return "failed" if settlements[outbox_id].retry_in is None else "retry"
        if outbox_id in present:
            log.warning("webhook lease lost", extra={"outbox_id": outbox_id, "worker": self.rt.worker})
            return "lease_lost"
        log.info("webhook message gone", extra={"outbox_id": outbox_id})  # deleted with its subscription
        return "gone"

    async def _record_health(self, session: AsyncSession, batch: Sequence[Finished], now: datetime) -> list[int]:
        """Update the endpoints' failure counts and circuits, in the order the attempts finished;
        returns the indexes (in ``batch``) of the attempts that disabled their endpoint.
        Endpoints that only succeeded are cleared in one statement."""
        by_endpoint: dict[str, list[int]] = defaultdict(list)
        for index, finished in enumerate(batch):
            by_endpoint[finished.row.subscription_id].append(index)
        healthy = [sub for sub, indexes in by_endpoint.items() if all(batch[i].result.ok for i in indexes)]
        if len(healthy) < len(by_endpoint):  # endpoints updated one by one below: locked first, in id order
            await subscription_store.lock(session, sorted(by_endpoint))
        await subscription_store.record_success(session, sorted(healthy))
        disabled = []
        for subscription_id in sorted(set(by_endpoint) - set(healthy)):
            for index in by_endpoint[subscription_id]:
                if batch[index].result.ok:
                    await subscription_store.record_success(session, [subscription_id])
                elif await self._record_failure(session, batch[index], now):
                    disabled.append(index)
        return disabled

    async def _record_failure(self, session: AsyncSession, finished: Finished, now: datetime) -> bool:
        """Count one failure, open the circuit or disable the endpoint; True when this attempt disabled it."""
        subscription_id = finished.row.subscription_id
        health = await subscription_store.record_failure(session, subscription_id, now)
        if health is None:
            return False
        verdict = breaker.after_failure(health, now, attempted_at=finished.attempted_at,
                                        status_code=finished.result.status_code,
                                        disable_after=self.rt.settings.webhook_disable_after)
        if verdict.disable_reason:  # a ping fails on a subscription already disabled: it keeps its first reason
            if not await subscription_store.disable(session, subscription_id, verdict.disable_reason, now):
                return False
            log.warning("subscription disabled", extra={"subscription_id": subscription_id,
                                                        "reason": verdict.disable_reason})
            return True
        if verdict.circuit_open_until:
            await subscription_store.open_circuit(session, subscription_id, verdict.circuit_open_until,
                                                  verdict.circuit_opens)
            log.warning("circuit opened", extra={"subscription_id": subscription_id,
                                                 "failures": health.consecutive_failures,
                                                 "opens": verdict.circuit_opens,
                                                 "until": verdict.circuit_open_until.isoformat()})
        return False


def _report(finished: Finished, outcome: str) -> None:
    """Count and log an attempt once recorded."""
    row, result = finished.row, finished.result
    metrics.DELIVERIES.labels(outcome=outcome).inc()
    metrics.DELIVERY_SECONDS.observe(result.latency_ms / 1000)
    fields = {"outbox_id": row.id, "subscription_id": row.subscription_id, "attempt": row.attempts + 1,
              "status_code": result.status_code, "latency_ms": result.latency_ms, "outcome": outcome}
    if result.ok:
        log.info("webhook delivered", extra=fields)
    else:
        log.warning("webhook attempt failed", extra={**fields, "error": result.error})


def _attempt_values(finished: Finished) -> dict[str, Any]:
    result = finished.result
    return dict(outbox_id=finished.row.id, subscription_id=finished.row.subscription_id,
                attempted_at=finished.attempted_at, status_code=result.status_code, latency_ms=result.latency_ms,
                error=result.error, response_excerpt=result.excerpt)


async def deliver_due(rt: Runtime, *, limit: int = 100) -> int:
    """One-shot delivery with a temporary deliverer; a long-running process keeps one ``Deliverer``."""
    deliverer = Deliverer(rt)
    try:
        return await deliverer.deliver_due(limit=limit)
    finally:
        await deliverer.close()
