"""SQL for the outbox (messages owed to subscriptions) and the attempt log. Never commits.

Claiming leases due rows (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, then an atomic guarded
UPDATE … RETURNING) so replicas never send the same row at once; the caller commits before
sending, so no row lock is held across HTTP. A worker that dies leaves its lease to expire and
the row is sent again (at-least-once). Per endpoint, rows already leased count against its
slots, so a hanging endpoint never holds more than its own slots, across replicas too.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Sequence

from sqlalchemy import and_, case, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from frwatch.ids import new_id
from frwatch.models import DeliveryAttempt, Outbox, Source, Subscription
from frwatch.notify.breaker import THRESHOLD

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"


def add(session: AsyncSession, *, subscription_id: str, event_id: str | None, event_type: str, payload: str,
        now: datetime, lease_owner: str | None = None, lease_until: datetime | None = None) -> Outbox:
    """Queue a message, due now. A caller that sends it itself passes a lease so no worker does."""
    row = Outbox(id=new_id("msg"), subscription_id=subscription_id, event_id=event_id, event_type=event_type,
                 payload=payload, status=PENDING, attempts=0, next_attempt_at=now, created_at=now,
                 lease_owner=lease_owner, lease_until=lease_until)
    session.add(row)
    return row


async def source_names(session: AsyncSession, source_ids: Sequence[str]) -> dict[str, str]:
    if not source_ids:
        return {}
    rows = await session.execute(select(Source.id, Source.name).where(Source.id.in_(set(source_ids))))
    return {source_id: name for source_id, name in rows}


def _claimable(now: datetime) -> Any:
    return and_(Outbox.status == PENDING, Outbox.next_attempt_at <= now,
                or_(Outbox.lease_until.is_(None), Outbox.lease_until < now))


async def claim_due(session: AsyncSession, *, now: datetime, worker: str, lease: timedelta, limit: int,
                    per_endpoint: int) -> list[tuple[Outbox, Subscription]]:
    """Lease up to ``limit`` due rows of enabled subscriptions whose circuit is not open, at most
    the free slots of each endpoint (one probe when its circuit is half-open). Commit right after."""
    in_flight = (select(Outbox.subscription_id, func.count().label("n"))
                 .where(Outbox.status == PENDING, Outbox.lease_until >= now)
                 .group_by(Outbox.subscription_id).subquery())
    slots = (case((Subscription.consecutive_failures >= THRESHOLD, 1), else_=per_endpoint)
             - func.coalesce(in_flight.c.n, 0))
    rank = func.row_number().over(partition_by=Outbox.subscription_id,
                                  order_by=(Outbox.next_attempt_at, Outbox.id))
    ranked = (select(Outbox.id, Outbox.next_attempt_at, rank.label("rank"), slots.label("slots"))
              .join(Subscription, Subscription.id == Outbox.subscription_id)
              .outerjoin(in_flight, in_flight.c.subscription_id == Outbox.subscription_id)
              .where(_claimable(now), Subscription.enabled.is_(True),
                     or_(Subscription.circuit_open_until.is_(None), Subscription.circuit_open_until <= now))
              .subquery())
    wanted = (select(ranked.c.id).where(ranked.c.rank <= ranked.c.slots)
              .order_by(ranked.c.next_attempt_at, ranked.c.id).limit(limit))
    ids = list(await session.scalars(select(Outbox.id).where(Outbox.id.in_(wanted))
                                     .with_for_update(skip_locked=True)))
    if not ids:
        return []
    claimed = list(await session.scalars(
        update(Outbox).where(Outbox.id.in_(ids), _claimable(now))
        .values(lease_owner=worker, lease_until=now + lease).returning(Outbox.id)))
    rows = await session.execute(
        select(Outbox, Subscription).join(Subscription, Subscription.id == Outbox.subscription_id)
        .where(Outbox.id.in_(claimed)).order_by(Outbox.next_attempt_at, Outbox.id)
        .execution_options(populate_existing=True))
    return [(outbox, subscription) for outbox, subscription in rows]


async def lock_leased_many(session: AsyncSession, outbox_ids: Sequence[str], worker: str) -> dict[str, Outbox]:
    """The rows ``worker`` still holds the lease of (it may have expired and moved on), locked in
    id order, by id."""
    if not outbox_ids:
        return {}
    rows = await session.scalars(select(Outbox).where(Outbox.id.in_(outbox_ids), Outbox.lease_owner == worker)
                                 .order_by(Outbox.id).with_for_update().execution_options(populate_existing=True))
    return {row.id: row for row in rows}


async def existing_ids(session: AsyncSession, outbox_ids: Sequence[str]) -> set[str]:
    """Which of these rows still exist (a row goes with its subscription)."""
    if not outbox_ids:
        return set()
    return set(await session.scalars(select(Outbox.id).where(Outbox.id.in_(outbox_ids))))


def settle(row: Outbox, *, now: datetime, delivered: bool, retry_in: timedelta | None, error: str | None) -> None:
    """After an attempt: delivered, due again after ``retry_in``, or failed for good."""
    row.attempts += 1
    row.lease_owner = row.lease_until = None
    row.last_error = error
    if delivered:
        row.status, row.delivered_at = DELIVERED, now
    elif retry_in is None:
        row.status = FAILED
    else:
        row.next_attempt_at = now + retry_in


def add_attempt(session: AsyncSession, **values: Any) -> DeliveryAttempt:
    attempt = DeliveryAttempt(**values)
    session.add(attempt)
    return attempt


async def release(session: AsyncSession, outbox_ids: Sequence[str], worker: str) -> None:
    """Give leases back (shutdown) so the rows are sent at once by whoever claims next."""
    if outbox_ids:
        await session.execute(update(Outbox).where(Outbox.id.in_(outbox_ids), Outbox.lease_owner == worker)
                              .values(lease_owner=None, lease_until=None))


def _requeue_values(now: datetime) -> dict[str, Any]:
    return dict(status=PENDING, attempts=0, next_attempt_at=now, delivered_at=None)


async def requeue(session: AsyncSession, outbox_id: str, now: datetime) -> bool:
    """Send one message again from the start of its retry schedule (same ``webhook-id``).
    False when it is being sent right now."""
    requeued = await session.scalars(
        update(Outbox).where(Outbox.id == outbox_id, or_(Outbox.lease_until.is_(None), Outbox.lease_until < now))
        .values(**_requeue_values(now)).returning(Outbox.id))
    return requeued.first() is not None


async def requeue_range(session: AsyncSession, subscription_id: str, *, since: datetime, until: datetime,
                        now: datetime) -> int:
    """Send again every message of a subscription created in [since, until); returns how many."""
    requeued = await session.scalars(
        update(Outbox).where(Outbox.subscription_id == subscription_id, Outbox.created_at >= since,
                             Outbox.created_at < until,
                             or_(Outbox.lease_until.is_(None), Outbox.lease_until < now))
        .values(**_requeue_values(now)).returning(Outbox.id))
    return len(requeued.all())


async def get(session: AsyncSession, outbox_id: str) -> Outbox | None:
    return await session.get(Outbox, outbox_id)


async def get_attempt(session: AsyncSession, attempt_id: int) -> DeliveryAttempt | None:
    return await session.get(DeliveryAttempt, attempt_id)


async def attempts_page(session: AsyncSession, subscription_id: str, *, before: int | None,
                        limit: int) -> list[tuple[DeliveryAttempt, Outbox]]:
    """Newest first; ``before`` is the last attempt id of the previous page."""
    query = (select(DeliveryAttempt, Outbox).join(Outbox, Outbox.id == DeliveryAttempt.outbox_id)
             .where(DeliveryAttempt.subscription_id == subscription_id)
             .order_by(DeliveryAttempt.id.desc()).limit(limit))
    if before is not None:
        query = query.where(DeliveryAttempt.id < before)
    return [(attempt, row) for attempt, row in await session.execute(query)]
