"""SQL for the outbox (messages owed to subscriptions) and the attempt log. Never commits.

Claiming leases due rows (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, then an atomic guarded
UPDATE … RETURNING) so replicas never send the same row at once; the caller commits before
sending, so no row lock is held across HTTP. A worker that dies leaves its lease to expire and
the row is sent again (at-least-once). Per endpoint, rows already leased count against its
slots, so a hanging endpoint never holds more than its own slots, across replicas too: claims
take turns (an advisory lock), so no two count the same free slots.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Collection, NamedTuple, Sequence

from sqlalchemy import (ColumnElement, Integer, String, and_, bindparam, case, delete, func, insert, literal_column, or_,
                        select, true, union_all, update)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from frwatch.ids import new_id
from frwatch.models import DeliveryAttempt, Outbox, Source, Subscription, UTCDateTime
from frwatch.notify.breaker import THRESHOLD
from frwatch.notify.matching import PING
from frwatch.store import locks
from frwatch.store.shapes import POSTGRESQL, bound_list, dialect, none_of, one_of, shape, unnested, with_ids
from frwatch.store.subscriptions import ENDPOINT_COLUMNS, Endpoint

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
CLAIM_MAX = 256  # rows (so endpoints) per claim: on SQLite its statement has one SELECT per endpoint, 500 at most
ANSWERED = "answered"  # the parameter claim_due binds its answered rows as
# a claim holds every replica's turn to claim: a claimer that stops mid-claim that long (a frozen
# pod, a cut connection) has its session ended by PostgreSQL, and the others go on
CLAIM_STALL_LIMIT_MS = 10_000


def add(session: AsyncSession, *, subscription_id: str, event_id: str | None, event_type: str, payload: str,
        now: datetime, lease_owner: str | None = None, lease_until: datetime | None = None) -> Outbox:
    """Queue a message, due now. A caller that sends it itself passes a lease so no worker does."""
    row = Outbox(id=new_id("msg"), subscription_id=subscription_id, event_id=event_id, event_type=event_type,
                 payload=payload, status=PENDING, attempts=0, next_attempt_at=now, created_at=now,
                 lease_owner=lease_owner, lease_until=lease_until)
    session.add(row)
    return row


async def forget_events(session: AsyncSession, event_ids: Sequence[str]) -> None:
    """Events are being deleted: drop the messages still owed about them; those already
    delivered or failed stay in the delivery log, no longer pointing at an event."""
    if event_ids:
        await session.execute(delete(Outbox).where(Outbox.event_id.in_(event_ids), Outbox.status == PENDING))
        await session.execute(update(Outbox).where(Outbox.event_id.in_(event_ids)).values(event_id=None))


async def source_names(session: AsyncSession, source_ids: Sequence[str]) -> dict[str, str]:
    if not source_ids:
        return {}
    rows = await session.execute(select(Source.id, Source.name).where(Source.id.in_(set(source_ids))))
    return {source_id: name for source_id, name in rows}


_OUTBOX = Outbox.__table__
_NOW = bindparam("now", type_=UTCDateTime())


def status_is(status: str) -> ColumnElement[bool]:
    """``status = 'status'`` written into the statement, not bound: the partial indexes hold the
    rows of one status, and a planner uses one only when the statement itself names that status
    (PostgreSQL's generic plans and SQLite never look at a bound value)."""
    return _OUTBOX.c.status == literal_column(f"'{status}'")


def _claimable() -> Any:
    due = _OUTBOX.c
    return and_(status_is(PENDING), due.next_attempt_at <= _NOW, or_(due.lease_until.is_(None), due.lease_until < _NOW))


class Claimed(NamedTuple):
    """A leased message and what its attempt needs of its endpoint (a tuple: a claim builds a
    hundred at a time, three times faster than a frozen dataclass)."""
    id: str
    subscription_id: str
    event_type: str
    payload: str
    attempts: int
    endpoint: Endpoint


async def claim_due(session: AsyncSession, *, now: datetime, worker: str, lease: timedelta, limit: int,
                    per_endpoint: int, answered: Collection[str] = ()) -> list[Claimed]:
    """Lease up to ``limit`` due rows of enabled subscriptions whose circuit is not open, at most
    the free slots of each endpoint (one probe when its circuit is half-open), oldest first.
    ``answered``: rows ``worker`` leased whose endpoint has answered with success, still leased
    until their attempt is recorded; they take no slot. Commit right after. Both statements are built once
    (per dialect; on SQLite, per power of two of endpoints and of answered rows).

    Claims take turns across replicas (``locks.OUTBOX_CLAIM``, held to the commit): each counts
    the slots after the last one's leases are visible, so two never fill the same free slots (or
    both probe a half-open circuit). It costs one round trip per claim of up to ``CLAIM_MAX`` rows."""
    limit = min(limit, CLAIM_MAX)
    name = dialect(session)
    await locks.xact_lock(session, locks.OUTBOX_CLAIM, stall_limit_ms=CLAIM_STALL_LIMIT_MS)
    endpoints = [(Endpoint._make(row[:len(ENDPOINT_COLUMNS)]), row.slots) for row in await session.execute(
        _endpoints_with_room(name), {"now": now, "per_endpoint": per_endpoint, "limit": limit,
                                     ANSWERED: bound_list(answered, name) or [""]})]
    if not endpoints:
        return []
    params: dict[str, Any] = {"now": now, "limit": limit, "worker": worker, "lease_until": now + lease}
    if name == POSTGRESQL:
        statement = _claim_lateral()
        params.update(endpoint_ids=[endpoint.id for endpoint, _ in endpoints],
                      shares=[slots for _, slots in endpoints])
    else:
        arms = shape(len(endpoints))  # a few statement shapes, each prepared once
        statement = _claim_arms(arms)
        params.update({f"share_{n}": 0 for n in range(arms)})
        params.update({f"endpoint_{n}": "" for n in range(arms)})
        for n, (endpoint, slots) in enumerate(endpoints):
            params[f"share_{n}"], params[f"endpoint_{n}"] = slots, endpoint.id
    rows = await session.execute(statement, params)
    by_id = {endpoint.id: endpoint for endpoint, _ in endpoints}
    claimed = sorted(rows, key=lambda row: (row[5], row[0]))  # next_attempt_at, id
    return [Claimed(outbox_id, subscription_id, event_type, payload, attempts, by_id[subscription_id])
            for outbox_id, subscription_id, event_type, payload, attempts, _ in claimed]


@functools.cache
def _endpoints_with_room(dialect_name: str) -> Any:
    """The endpoints that may be sent to now with their free slots, those with the oldest due
    row first, at most ``limit``: the ``limit`` oldest claimable rows all belong to them. Rows
    leased now (by any replica) take slots, but those the claiming worker knows were answered
    with success (bound as ``ANSWERED``): a slot is an HTTP request in flight, and recording an
    answered attempt (batched, a transaction under load) held its slot three times as long as the
    request did. A failed attempt keeps its slot until recorded, when the circuit breaker has
    counted it. Two index probes per enabled subscription, never a scan of the outbox."""
    due, endpoint = _OUTBOX.c, Subscription.__table__.c
    per_endpoint = bindparam("per_endpoint", type_=Integer())
    # a leased row is pending (settling hands the lease back). Counted up to per_endpoint, all that
    # decides whether a slot is free: the LIMIT makes it a plain index scan, which marks the entries
    # of settled rows' old versions dead as it passes them; a bitmap scan visited every one of those
    # on every claim until VACUUM (90 heap pages per endpoint)
    leased = (select(due.id).where(due.subscription_id == endpoint.id, due.lease_until >= _NOW,
                                   none_of(due.id, dialect_name, ANSWERED))
              .limit(per_endpoint).correlate(Subscription.__table__).subquery())
    in_flight = select(func.count()).select_from(leased).scalar_subquery()
    slots = case((endpoint.consecutive_failures >= THRESHOLD, 1), else_=per_endpoint) - in_flight
    oldest = (select(due.next_attempt_at).where(due.subscription_id == endpoint.id, _claimable())
              .order_by(due.next_attempt_at).limit(1).scalar_subquery())
    candidates = (select(*ENDPOINT_COLUMNS, slots.label("slots"), oldest.label("oldest"))
                  .where(endpoint.enabled.is_(True),
                         or_(endpoint.circuit_open_until.is_(None), endpoint.circuit_open_until <= _NOW))
                  .cte("candidates").prefix_with("MATERIALIZED"))  # each probe once per endpoint, not again per use
    return (select(candidates).where(candidates.c.slots > 0, candidates.c.oldest.is_not(None))
            .order_by(candidates.c.oldest).limit(bindparam("limit", type_=Integer())))


def _lease(wanted: Any) -> Any:
    """Lease the rows whose ids ``wanted`` selects (the ``limit`` oldest claimable rows, at most
    each endpoint's share): they are locked skipping those another replica is claiming, and the
    UPDATE checks again that each is still claimable."""
    due = _OUTBOX.c
    limit = bindparam("limit", type_=Integer())
    # the LIMIT keeps SQLite from flattening this into a scan of every due row
    locked = select(due.id).where(due.id.in_(wanted)).limit(limit).with_for_update(skip_locked=True).subquery()
    return (update(_OUTBOX).where(due.id == locked.c.id, _claimable())
            .values(lease_owner=bindparam("worker"), lease_until=bindparam("lease_until"))
            .returning(due.id, due.subscription_id, due.event_type, due.payload, due.attempts, due.next_attempt_at))


def _oldest(shares: Any) -> Any:
    """The ids of the ``limit`` oldest rows of ``shares`` (id, next_attempt_at)."""
    return select(shares.c.id).order_by(shares.c.next_attempt_at, shares.c.id).limit(bindparam("limit", type_=Integer()))


@functools.cache
def _claim_arms(endpoints: int) -> Any:
    """SQLite: each endpoint's share (``share_N`` rows of ``endpoint_N``, N < ``endpoints``; a
    share of 0 takes nothing) is one arm of a UNION ALL, each an index range read, so a long
    backlog is never ranked."""
    due = _OUTBOX.c
    shares = [select(due.id, due.next_attempt_at)
              .where(due.subscription_id == bindparam(f"endpoint_{n}"), _claimable())
              .order_by(due.next_attempt_at, due.id).limit(bindparam(f"share_{n}", type_=Integer())).subquery()
              for n in range(endpoints)]
    return _lease(_oldest(union_all(*(select(share) for share in shares)).subquery()))


@functools.cache
def _claim_lateral() -> Any:
    """PostgreSQL: the same shares as one LATERAL join over the arrays ``endpoint_ids`` and
    ``shares``: one small plan whatever the number of endpoints (a UNION ALL of a hundred arms
    took PostgreSQL about 20 ms to plan, on every claim)."""
    due = _OUTBOX.c
    wanted = func.unnest(bindparam("endpoint_ids", type_=ARRAY(String())),
                         bindparam("shares", type_=ARRAY(Integer()))).table_valued("id", "share").render_derived()
    share = (select(due.id, due.next_attempt_at).where(due.subscription_id == wanted.c.id, _claimable())
             .order_by(due.next_attempt_at, due.id).limit(wanted.c.share).lateral())
    return _lease(_oldest(select(share.c.id, share.c.next_attempt_at).select_from(wanted)
                          .join(share, true()).subquery()))


@functools.cache
def _lock_leased(dialect_name: str) -> Any:
    due = _OUTBOX.c
    return (select(due.id, due.attempts).where(one_of(due.id, dialect_name), due.lease_owner == bindparam("worker"))
            .order_by(due.id).with_for_update())


async def lock_leased(session: AsyncSession, outbox_ids: Sequence[str], worker: str) -> dict[str, int]:
    """The rows ``worker`` still holds the lease of (it may have expired and moved on), locked in
    id order: their attempts so far, by id."""
    if not outbox_ids:
        return {}
    rows = await session.execute(*with_ids(session, _lock_leased, outbox_ids, worker=worker))
    return {outbox_id: attempts for outbox_id, attempts in rows}


@functools.cache
def _existing_ids(dialect_name: str) -> Any:
    return select(_OUTBOX.c.id).where(one_of(_OUTBOX.c.id, dialect_name))


async def existing_ids(session: AsyncSession, outbox_ids: Sequence[str]) -> set[str]:
    """Which of these rows still exist (a row goes with its subscription)."""
    if not outbox_ids:
        return set()
    return set(await session.scalars(*with_ids(session, _existing_ids, outbox_ids)))


@functools.cache
def _settle_delivered(dialect_name: str) -> Any:
    due = _OUTBOX.c
    return (update(_OUTBOX).where(one_of(due.id, dialect_name), due.lease_owner == bindparam("worker"))
            .values(status=DELIVERED, attempts=due.attempts + 1, delivered_at=_NOW, last_error=None, lease_owner=None,
                    lease_until=None).returning(due.id))


async def settle_delivered(session: AsyncSession, outbox_ids: Sequence[str], worker: str, now: datetime) -> set[str]:
    """Mark delivered, in one statement, the rows ``worker`` still holds the lease of (handing it
    back); returns their ids."""
    if not outbox_ids:
        return set()
    return set(await session.scalars(*with_ids(session, _settle_delivered, outbox_ids, worker=worker, now=now)))


@dataclass(frozen=True, slots=True)
class Settlement:
    """A message after a failed attempt: due again after ``retry_in``, or (None) failed for good."""
    outbox_id: str
    attempts: int  # made so far, this one included
    retry_in: timedelta | None
    error: str | None


_SETTLE = (update(_OUTBOX).where(_OUTBOX.c.id == bindparam("b_id"))
           .values(status=bindparam("b_status"), attempts=bindparam("b_attempts"), lease_owner=None, lease_until=None,
                   last_error=bindparam("b_error"),
                   next_attempt_at=func.coalesce(bindparam("b_next", type_=UTCDateTime()), _OUTBOX.c.next_attempt_at)))


async def settle_failed(session: AsyncSession, settlements: Sequence[Settlement], now: datetime) -> None:
    """Write the messages' new states and hand their leases back, in one statement for all."""
    if settlements:
        await session.execute(_SETTLE, [_settled_values(settlement, now) for settlement in settlements])


def _settled_values(settlement: Settlement, now: datetime) -> dict[str, Any]:
    retry_in = settlement.retry_in
    return {"b_id": settlement.outbox_id, "b_attempts": settlement.attempts, "b_error": settlement.error,
            "b_status": FAILED if retry_in is None else PENDING, "b_next": None if retry_in is None else now + retry_in}


_ATTEMPTS = DeliveryAttempt.__table__
_ATTEMPT_COLUMNS = [column for column in _ATTEMPTS.c if column.name != "id"]


@functools.cache
def _add_attempts_unnested() -> Any:
    """PostgreSQL: the attempts bound as one array per column and unnested into rows, one
    statement for all (an executemany binds and executes once per attempt)."""
    rows = unnested(_ATTEMPT_COLUMNS)
    return insert(_ATTEMPTS).from_select([column.name for column in _ATTEMPT_COLUMNS], select(*rows.c))


async def add_attempts(session: AsyncSession, attempts: Sequence[dict[str, Any]]) -> None:
    """Log attempts (``DeliveryAttempt`` columns but ``id``), in one statement for all."""
    if not attempts:
        return
    if dialect(session) == POSTGRESQL:
        await session.execute(_add_attempts_unnested(), {column.name: [attempt[column.name] for attempt in attempts]
                                                         for column in _ATTEMPT_COLUMNS})
    else:
        await session.execute(insert(_ATTEMPTS), list(attempts))


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
    """Send again every message of a subscription created in [since, until), but its pings (each
    answered when it was asked for); returns how many."""
    requeued = await session.scalars(
        update(Outbox).where(Outbox.subscription_id == subscription_id, Outbox.event_type != PING,
                             Outbox.created_at >= since, Outbox.created_at < until,
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
