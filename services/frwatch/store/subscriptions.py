"""SQL for webhook subscriptions and their endpoint health. Never commits.

Reads are scoped by owner: ``owner=None`` means the admin (sees every subscription); an
integrator's key id sees only its own, so another's id looks like a missing one.
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any, NamedTuple, Sequence

from sqlalchemy import Select, func, literal, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from frwatch.ids import new_id
from frwatch.models import Subscription, UTCDateTime
from frwatch.notify.breaker import Health
from frwatch.store.shapes import one_of, with_ids

_HEALTHY: dict[str, Any] = dict(consecutive_failures=0, failing_since=None, circuit_open_until=None,
                                circuit_opens=0)


class Endpoint(NamedTuple):
    """What sending to a subscription needs: where, and the secrets to sign with (a tuple, like
    ``outbox.Claimed``: a claim builds one per endpoint with room)."""
    id: str
    url: str
    secret: str
    previous_secret: str | None
    previous_secret_expires_at: datetime | None


_TABLE = Subscription.__table__
_columns = _TABLE.c
ENDPOINT_COLUMNS = (_columns.id, _columns.url, _columns.secret, _columns.previous_secret,
                    _columns.previous_secret_expires_at)


def endpoint(subscription: Subscription) -> Endpoint:
    return Endpoint._make(getattr(subscription, column.key) for column in ENDPOINT_COLUMNS)


def _scoped(owner: str | None, *, admin: bool) -> Select[Subscription]:
    query = select(Subscription)
    return query if admin else query.where(Subscription.owner_id == owner)


async def create(session: AsyncSession, *, owner_id: str | None, secret: str, now: datetime,
                 **fields: Any) -> Subscription:
    subscription = Subscription(id=new_id("sub"), owner_id=owner_id, secret=secret, created_at=now,
                                updated_at=now, **_HEALTHY, **fields)
    session.add(subscription)
    await session.flush()
    return subscription


async def get(session: AsyncSession, subscription_id: str, *, owner: str | None, admin: bool,
              for_update: bool = False) -> Subscription | None:
    query = _scoped(owner, admin=admin).where(Subscription.id == subscription_id)
    if for_update:
        query = query.with_for_update()
    return await session.scalar(query)


async def page(session: AsyncSession, *, owner: str | None, admin: bool, after: str | None,
               limit: int) -> list[Subscription]:
    """Oldest first (ids sort by creation); ``after`` is the last id of the previous page."""
    query = _scoped(owner, admin=admin).order_by(Subscription.id).limit(limit)
    if after:
        query = query.where(Subscription.id > after)
    return list(await session.scalars(query))


async def list_enabled(session: AsyncSession) -> list[Subscription]:
    return list(await session.scalars(select(Subscription).where(Subscription.enabled.is_(True))
                                      .order_by(Subscription.id)))


def update_fields(subscription: Subscription, now: datetime, **fields: Any) -> None:
    """Apply a PATCH. Enabling a subscription clears its failure history so delivery resumes."""
    if fields.get("enabled") and not subscription.enabled:
        subscription.disabled_reason = None
        for name, value in _HEALTHY.items():
            setattr(subscription, name, value)
    for name, value in fields.items():
        setattr(subscription, name, value)
    subscription.updated_at = now


def rotate_secret(subscription: Subscription, new_secret: str, *, overlap_until: datetime, now: datetime) -> None:
    subscription.previous_secret = subscription.secret
    subscription.previous_secret_expires_at = overlap_until
    subscription.secret = new_secret
    subscription.updated_at = now


async def delete(session: AsyncSession, subscription: Subscription) -> None:
    await session.delete(subscription)
    await session.flush()


@functools.cache
def _lock(dialect_name: str) -> Any:
    return (select(_columns.id).where(one_of(_columns.id, dialect_name)).order_by(_columns.id)
            .with_for_update(key_share=True))


async def lock(session: AsyncSession, subscription_ids: Sequence[str]) -> None:
    """Lock these endpoints' rows in id order. A transaction that updates several endpoints one
    by one locks them all first, so two replicas never each hold one the other waits for.
    The lock is PostgreSQL's FOR NO KEY UPDATE (health columns only change): a message queued
    meanwhile for one of them (its foreign key takes KEY SHARE) does not wait for it."""
    if subscription_ids:
        await session.execute(*with_ids(session, _lock, subscription_ids))


@functools.cache
def _record_success(dialect_name: str) -> Any:
    with_history = (select(_columns.id).where(one_of(_columns.id, dialect_name), or_(
        _columns.consecutive_failures > 0, _columns.failing_since.is_not(None),
        _columns.circuit_open_until.is_not(None), _columns.circuit_opens > 0))
                    .order_by(_columns.id).with_for_update(key_share=True))
    return update(_TABLE).where(_columns.id.in_(with_history.scalar_subquery())).values(**_HEALTHY)


async def record_success(session: AsyncSession, subscription_ids: Sequence[str]) -> None:
    """Mark endpoints healthy again. Writes (and locks, in id order) only rows with a failure
    history, so the usual case, a healthy endpoint answering, costs no row update."""
    if subscription_ids:
        await session.execute(*with_ids(session, _record_success, subscription_ids))


async def record_failure(session: AsyncSession, subscription_id: str, now: datetime) -> Health | None:
    """Count a failure atomically (replicas share the row); returns the endpoint's health after
    it, or None when the subscription is gone."""
    since = func.coalesce(Subscription.failing_since, literal(now, UTCDateTime()))
    row = (await session.execute(
        update(Subscription).where(Subscription.id == subscription_id)
        .values(consecutive_failures=Subscription.consecutive_failures + 1, failing_since=since)
        .returning(Subscription.consecutive_failures, Subscription.failing_since,
                   Subscription.circuit_open_until, Subscription.circuit_opens))).first()
    return None if row is None else Health(row[0], row[1] or now, row[2], row[3])


async def open_circuit(session: AsyncSession, subscription_id: str, open_until: datetime, opens: int) -> None:
    await session.execute(update(Subscription).where(Subscription.id == subscription_id)
                          .values(circuit_open_until=open_until, circuit_opens=opens))


async def disable(session: AsyncSession, subscription_id: str, reason: str, now: datetime) -> bool:
    """Disable an enabled subscription; False when it already was (its first reason stays)."""
    result = await session.execute(update(Subscription)
                                   .where(Subscription.id == subscription_id, Subscription.enabled.is_(True))
                                   .values(enabled=False, disabled_reason=reason, updated_at=now))
    return bool(result.rowcount)
