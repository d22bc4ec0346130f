"""``/v1/api-keys`` (admin): integrator keys. The key is shown once; only its hash is stored."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from frwatch.api.auth import hash_key, new_api_key, require_admin
from frwatch.api.keys import RUNTIME
from frwatch.api.problems import Problem
from frwatch.api.query import refuse_unknown
from frwatch.api.validation import Field, read_json, string, validate
from frwatch.db import write_transaction
from frwatch.models import ApiKey
from frwatch.notify.payload import iso
from frwatch.store import api_keys as key_store

PREFIX_CHARS = 12  # "frw_" + 8: enough to tell keys apart in a listing, useless to an attacker
FIELDS = {"name": Field(string(min_length=1, max_length=200), required=True)}


def key_json(key: ApiKey) -> dict[str, Any]:
    return {"id": key.id, "name": key.name, "prefix": key.prefix, "created_at": iso(key.created_at),
            "revoked_at": iso(key.revoked_at)}


async def create(request: web.Request) -> web.Response:
    await require_admin(request)
    refuse_unknown(request.query, ())
    values = validate(await read_json(request), FIELDS)
    rt = request.app[RUNTIME]
    token = new_api_key()
    async with write_transaction(rt.sessions) as session:
        key = await key_store.create(session, name=values["name"], key_hash=hash_key(token),
                                     prefix=token[:PREFIX_CHARS], now=rt.clock())
    return web.json_response({**key_json(key), "key": token}, status=201)


async def list_(request: web.Request) -> web.Response:
    await require_admin(request)
    refuse_unknown(request.query, ())
    async with request.app[RUNTIME].sessions() as session:
        keys = await key_store.list_all(session)
    return web.json_response({"data": [key_json(key) for key in keys]})


async def revoke(request: web.Request) -> web.Response:
    """Revoke (not delete): the key stops working; its subscriptions stay, visible to the admin."""
    await require_admin(request)
    refuse_unknown(request.query, ())
    rt = request.app[RUNTIME]
    async with write_transaction(rt.sessions) as session:
        key = await key_store.get(session, request.match_info["id"])
        if key is None:
            raise Problem(404, f"no API key {request.match_info['id']!r}")
        if key.revoked_at is None:
            key.revoked_at = rt.clock()
    return web.Response(status=204)


def setup(app: web.Application) -> None:
    app.router.add_post("/v1/api-keys", create)
    app.router.add_get("/v1/api-keys", list_)
    app.router.add_delete("/v1/api-keys/{id}", revoke)
