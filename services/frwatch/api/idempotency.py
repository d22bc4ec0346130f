"""``Idempotency-Key`` on POST: the first response is stored with the change it made (one
transaction) and replayed for a repeat of the same request by the same caller within 24 h.

The same key with a different request is a 422; two identical requests racing each other
get the first one's response (the loser's transaction rolls back on the primary key).
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any, Awaitable, Callable

from aiohttp import web
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from frwatch.api.auth import Principal
from frwatch.api.keys import RUNTIME
from frwatch.api.problems import Problem
from frwatch.db import in_transaction
from frwatch.models import IdempotencyRecord
from frwatch.store import idempotency as idempotency_store

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 200
KEY_TTL = timedelta(hours=24)

Work = Callable[[AsyncSession], Awaitable[tuple[int, dict[str, Any]]]]


def fingerprint(request: web.Request, body: Any) -> str:
    text = json.dumps([request.method, request.path, body], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _replay(record: IdempotencyRecord, request_hash: str) -> web.Response:
    if record.request_hash != request_hash:
        raise Problem(422, f"{HEADER} was already used with a different request", field=HEADER)
    return web.Response(status=record.status, text=record.body, content_type="application/json",
                        headers={"Idempotent-Replayed": "true"})


async def respond(request: web.Request, principal: Principal, body: Any, work: Work) -> web.Response:
    """Run ``work`` in one transaction (again when aborted in a deadlock: ``in_transaction``) and
    answer with its (status, JSON); with an Idempotency-Key, replay the stored answer instead
    when this request was already made."""
    rt = request.app[RUNTIME]
    key = request.headers.get(HEADER)
    if key is None:
        status, payload = await in_transaction(rt.sessions, work)
        return web.json_response(payload, status=status)
    if not 1 <= len(key) <= MAX_KEY_LENGTH:
        raise Problem(400, f"{HEADER}: must be 1 to {MAX_KEY_LENGTH} characters", field=HEADER)
    if not (key.isascii() and key.isprintable()):
        raise Problem(400, f"{HEADER}: must be printable ASCII", field=HEADER)
    request_hash = fingerprint(request, body)
    now = rt.clock()

    async def work_once(session: AsyncSession) -> web.Response:
        record = await idempotency_store.get(session, principal.owner, key, newer_than=now - KEY_TTL)
        if record is not None:
            return _replay(record, request_hash)
        status, payload = await work(session)
        text = json.dumps(payload)
        idempotency_store.add(session, owner=principal.owner, key=key, request_hash=request_hash,
                              status=status, body=text, now=now)
        return web.Response(status=status, text=text, content_type="application/json")

    try:
        return await in_transaction(rt.sessions, work_once)
    except IntegrityError:  # the same key committed by a concurrent request first
        async with rt.sessions() as session:
            record = await idempotency_store.get(session, principal.owner, key, newer_than=now - KEY_TTL)
        if record is None:
            raise Problem(409, f"a request with this {HEADER} is in progress; retry") from None
        return _replay(record, request_hash)
