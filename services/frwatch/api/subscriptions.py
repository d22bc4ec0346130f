"""``/v1/subscriptions``: webhook endpoints of the caller (the admin sees every one).

The signing secret is returned only by create and rotate-secret. ``filters`` in a PATCH replaces
the whole filters object. Enabling a disabled subscription clears its failure history, so its
pending messages are delivered again.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from frwatch.api import idempotency
from frwatch.api.auth import Principal, authenticate
from frwatch.api.keys import RUNTIME
from frwatch.api.problems import Problem
from frwatch.api.query import ACTION_TYPES, PAGE_PARAMS, parse_limit, refuse_unknown, single
from frwatch.api.validation import (Field, boolean, invalid, list_of, number, obj, one_of, read_json,
                                    resolved_public_url, string, validate)
from frwatch.db import in_transaction, write_transaction
from frwatch.models import Subscription
from frwatch.notify.matching import EVENT_TYPES
from frwatch.notify.payload import iso
from frwatch.notify.signing import generate_secret, secret_key
from frwatch.notify.worker import Deliverer
from frwatch.store import subscriptions as subscription_store

DELIVERER = web.AppKey("deliverer", Deliverer)
DEFAULT_LIMIT = 50

FILTER_FIELDS = {
    "jurisdictions": Field(list_of(string(min_length=2, max_length=5, pattern=r"[A-Z]{2}(-[A-Z]{2})?",
                                          normalize=str.upper))),
    "regulators": Field(list_of(string(min_length=1, max_length=100))),
    "action_types": Field(list_of(one_of(*ACTION_TYPES))),
    "targets": Field(list_of(string(min_length=1, max_length=300))),
    "languages": Field(list_of(string(pattern=r"[a-z]{2}", normalize=str.lower))),
    "min_score": Field(number(minimum=0, maximum=1), nullable=True),
}
EMPTY_FILTERS: dict[str, Any] = {"jurisdictions": [], "regulators": [], "action_types": [], "targets": [],
                                 "languages": [], "min_score": None}


def _secret(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise invalid(path, "must be a string")
    try:
        secret_key(value)
    except ValueError as exc:
        raise invalid(path, str(exc)) from None
    return value


FIELDS = {
    "url": Field(string(min_length=1, max_length=2048), required=True),
    "description": Field(string(max_length=1000)),
    "enabled": Field(boolean()),
    "event_types": Field(list_of(one_of(*EVENT_TYPES))),
    "filters": Field(obj(FILTER_FIELDS)),
    "secret": Field(_secret),
}
PATCH_FIELDS = {name: field for name, field in FIELDS.items() if name != "secret"}


def subscription_json(subscription: Subscription) -> dict[str, Any]:
    return {
        "id": subscription.id, "url": subscription.url, "description": subscription.description,
        "enabled": subscription.enabled, "disabled_reason": subscription.disabled_reason,
        "event_types": list(subscription.event_types), "filters": {**EMPTY_FILTERS, **subscription.filters},
        "health": {"consecutive_failures": subscription.consecutive_failures,
                   "failing_since": iso(subscription.failing_since),
                   "circuit_open_until": iso(subscription.circuit_open_until)},
        "previous_secret_expires_at": iso(subscription.previous_secret_expires_at),
        "owner": subscription.owner_id, "created_at": iso(subscription.created_at),
        "updated_at": iso(subscription.updated_at),
    }


async def owned(session: AsyncSession, principal: Principal, subscription_id: str, *,
                for_update: bool = False, missing: str | None = None) -> Subscription:
    """The caller's subscription, or 404 (another integrator's looks the same as a missing one),
    whose detail is ``missing`` when given (what the caller asked for, not this subscription)."""
    subscription = await subscription_store.get(session, subscription_id, owner=principal.key_id,
                                                admin=principal.is_admin, for_update=for_update)
    if subscription is None:
        raise Problem(404, missing or f"no subscription {subscription_id!r}")
    return subscription


async def create(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    refuse_unknown(request.query, ())
    body = await read_json(request)
    values = validate(body, FIELDS)
    await resolved_public_url(request.app[RUNTIME].guard, values["url"], reveal=principal.is_admin)
    secret = values.pop("secret", None) or generate_secret()
    values = {"description": "", "enabled": True, "event_types": [], "filters": {}, **values}
    rt = request.app[RUNTIME]

    async def work(session: AsyncSession) -> tuple[int, dict[str, Any]]:
        subscription = await subscription_store.create(session, owner_id=principal.key_id, secret=secret,
                                                       now=rt.clock(), **values)
        return 201, {**subscription_json(subscription), "secret": secret}

    return await idempotency.respond(request, principal, body, work)


async def list_(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    refuse_unknown(request.query, PAGE_PARAMS)
    limit = single(request.query, "limit", parse_limit) or DEFAULT_LIMIT
    after = single(request.query, "cursor", str)
    async with request.app[RUNTIME].sessions() as session:
        rows = await subscription_store.page(session, owner=principal.key_id, admin=principal.is_admin,
                                             after=after, limit=limit)
    next_cursor = rows[-1].id if len(rows) == limit else None
    return web.json_response({"data": [subscription_json(row) for row in rows], "next_cursor": next_cursor})


async def get(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    refuse_unknown(request.query, ())
    async with request.app[RUNTIME].sessions() as session:
        subscription = await owned(session, principal, request.match_info["id"])
    return web.json_response(subscription_json(subscription))


async def patch(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    refuse_unknown(request.query, ())
    values = validate(await read_json(request), PATCH_FIELDS, partial=True)
    if "url" in values:
        await resolved_public_url(request.app[RUNTIME].guard, values["url"], reveal=principal.is_admin)
    rt = request.app[RUNTIME]
    async with write_transaction(rt.sessions) as session:
        subscription = await owned(session, principal, request.match_info["id"], for_update=True)
        subscription_store.update_fields(subscription, rt.clock(), **values)
        await session.flush()
        return web.json_response(subscription_json(subscription))


async def delete(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    refuse_unknown(request.query, ())

    async def work(session: AsyncSession) -> None:
        await subscription_store.delete(session, await owned(session, principal, request.match_info["id"]))

    await in_transaction(request.app[RUNTIME].sessions, work)  # again if aborted in a deadlock with delivery
    return web.Response(status=204)


async def rotate_secret(request: web.Request) -> web.Response:
    """A new secret; the old one keeps signing (beside it) for the rotation overlap."""
    principal = await authenticate(request)
    refuse_unknown(request.query, ())
    body = validate(await read_json(request), {"secret": Field(_secret)}) if request.can_read_body else {}
    rt = request.app[RUNTIME]

    async def work(session: AsyncSession) -> tuple[int, dict[str, Any]]:
        subscription = await owned(session, principal, request.match_info["id"], for_update=True)
        now = rt.clock()
        secret = body.get("secret") or generate_secret()
        subscription_store.rotate_secret(subscription, secret, now=now,
                                         overlap_until=now + rt.settings.webhook_rotation_overlap)
        return 200, {"secret": secret, "previous_secret_expires_at": iso(subscription.previous_secret_expires_at)}

    return await idempotency.respond(request, principal, body, work)


async def ping(request: web.Request) -> web.Response:
    """Send ``subscription.ping`` now and answer with that attempt's outcome."""
    principal = await authenticate(request)
    refuse_unknown(request.query, ())
    async with request.app[RUNTIME].sessions() as session:
        subscription = await owned(session, principal, request.match_info["id"])
    message_id, result = await request.app[DELIVERER].ping(subscription)
    return web.json_response({"message_id": message_id, "delivered": result.ok, "status_code": result.status_code,
                              "latency_ms": result.latency_ms, "error": result.error,
                              "response_excerpt": result.excerpt})


def setup(app: web.Application) -> None:
    """Routes, and a deliverer for pings: the process's own when ``create_app`` was given one
    (``frwatch run``), else one this app opens on first ping and closes at cleanup."""
    if DELIVERER not in app:
        own = Deliverer(app[RUNTIME])
        app[DELIVERER] = own

        async def close_own(_: web.Application) -> None:
            await own.close()

        app.on_cleanup.append(close_own)
    app.router.add_post("/v1/subscriptions", create)
    app.router.add_get("/v1/subscriptions", list_)
    app.router.add_get("/v1/subscriptions/{id}", get)
    app.router.add_patch("/v1/subscriptions/{id}", patch)
    app.router.add_delete("/v1/subscriptions/{id}", delete)
    app.router.add_post("/v1/subscriptions/{id}/rotate-secret", rotate_secret)
    app.router.add_post("/v1/subscriptions/{id}/ping", ping)
