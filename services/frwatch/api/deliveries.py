"""Delivery attempts and resending: the attempt log of a subscription, redelivery of one
message, and replay of a time range. Resent messages keep their ``webhook-id``."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from frwatch.api import idempotency
from frwatch.api.auth import Principal, authenticate
from frwatch.api.keys import RUNTIME
from frwatch.api.problems import Problem
from frwatch.api.query import PAGE_PARAMS, parse_limit, parse_row_id, refuse_unknown, single
from frwatch.api.subscriptions import DEFAULT_LIMIT, owned
from frwatch.api.validation import Field, invalid, read_json, timestamp, validate
from frwatch.models import DeliveryAttempt, Outbox
from frwatch.notify.payload import iso
from frwatch.store import outbox as outbox_store

REPLAY_FIELDS = {"since": Field(timestamp(), required=True), "until": Field(timestamp())}


def attempt_json(attempt: DeliveryAttempt, message: Outbox) -> dict[str, Any]:
    return {
        "id": attempt.id, "message_id": message.id, "event_type": message.event_type, "event_id": message.event_id,
        "message_status": message.status, "attempted_at": iso(attempt.attempted_at),
        "status_code": attempt.status_code, "latency_ms": attempt.latency_ms, "error": attempt.error,
        "response_excerpt": attempt.response_excerpt,
    }


def message_json(message: Outbox) -> dict[str, Any]:
    return {"id": message.id, "subscription_id": message.subscription_id, "event_type": message.event_type,
            "event_id": message.event_id, "status": message.status, "attempts": message.attempts,
            "next_attempt_at": iso(message.next_attempt_at), "created_at": iso(message.created_at)}


async def list_attempts(request: web.Request) -> web.Response:
    """Newest first; ``cursor`` is the ``next_cursor`` of the previous page."""
    principal = await authenticate(request)
    refuse_unknown(request.query, PAGE_PARAMS)
    limit = single(request.query, "limit", parse_limit) or DEFAULT_LIMIT
    before = single(request.query, "cursor", parse_row_id)
    async with request.app[RUNTIME].sessions() as session:
        subscription = await owned(session, principal, request.match_info["id"])
        rows = await outbox_store.attempts_page(session, subscription.id, before=before, limit=limit)
    next_cursor = str(rows[-1][0].id) if len(rows) == limit else None
    return web.json_response({"data": [attempt_json(a, m) for a, m in rows], "next_cursor": next_cursor})


async def owned_message(session: AsyncSession, principal: Principal, delivery_id: str) -> Outbox:
    """A message by its id (``msg_…``), or by the id of one of its attempts; 404 if not the caller's."""
    try:
        attempt = await outbox_store.get_attempt(session, parse_row_id(delivery_id))
    except ValueError:  # not an attempt id: a message id
        attempt = None
    message = await outbox_store.get(session, attempt.outbox_id if attempt else delivery_id)
    missing = f"no delivery {delivery_id!r}"
    if message is None:
        raise Problem(404, missing)
    # another integrator's message answers as a missing one does: its 404 must not name its subscription
    await owned(session, principal, message.subscription_id, missing=missing)
    return message


async def redeliver(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    refuse_unknown(request.query, ())
    rt = request.app[RUNTIME]

    async def work(session: AsyncSession) -> tuple[int, dict[str, Any]]:
        message = await owned_message(session, principal, request.match_info["id"])
        if not await outbox_store.requeue(session, message.id, rt.clock()):
            raise Problem(409, "this message is being delivered right now; try again shortly")
        await session.refresh(message)
        return 202, message_json(message)

    return await idempotency.respond(request, principal, None, work)


async def replay(request: web.Request) -> web.Response:
    """Queue again every message of the subscription created in [since, until), but its pings."""
    principal = await authenticate(request)
    refuse_unknown(request.query, ())
    body = await read_json(request)
    values = validate(body, REPLAY_FIELDS)
    rt = request.app[RUNTIME]

    async def work(session: AsyncSession) -> tuple[int, dict[str, Any]]:
        subscription = await owned(session, principal, request.match_info["id"])
        now = rt.clock()
        until = values.get("until") or now
        if values["since"] >= until:
            raise invalid("since", "must be before until")
        count = await outbox_store.requeue_range(session, subscription.id, since=values["since"], until=until,
                                                 now=now)
        return 202, {"requeued": count, "since": iso(values["since"]), "until": iso(until)}

    return await idempotency.respond(request, principal, body, work)


def setup(app: web.Application) -> None:
    app.router.add_get("/v1/subscriptions/{id}/deliveries", list_attempts)
    app.router.add_post("/v1/subscriptions/{id}/replay", replay)
    app.router.add_post("/v1/deliveries/{id}/redeliver", redeliver)
