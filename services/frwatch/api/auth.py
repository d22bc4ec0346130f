"""Bearer-token authentication: the admin token from settings, or an integrator's API key.

API keys are random ``frw_`` strings shown once; only their SHA-256 is stored, so a stolen
database does not give working keys.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from aiohttp import web

from frwatch.api.keys import RUNTIME
from frwatch.api.problems import Problem
from frwatch.runtime import Runtime
from frwatch.storable import encodable
from frwatch.store import api_keys as key_store

KEY_PREFIX = "frw_"


@dataclass(frozen=True)
class Principal:
    """Who is calling. ``key_id`` is None for the admin."""

    is_admin: bool
    key_id: str | None

    @property
    def owner(self) -> str:
        """Scope of what this caller owns (idempotency keys, subscriptions)."""
        return self.key_id or "admin"


ADMIN = Principal(is_admin=True, key_id=None)
PRINCIPAL = web.RequestKey("principal", Principal)


def new_api_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def principal_for_token(runtime: Runtime, token: str) -> Principal | None:
    """The admin or the integrator ``token`` belongs to; None when it is unknown or revoked."""
    if not encodable(token):
        return None
    admin = runtime.settings.admin_token
    if admin and hmac.compare_digest(token.encode(), admin.encode()):
        return ADMIN
    async with runtime.sessions() as session:
        key = await key_store.find_active(session, hash_key(token))
    return None if key is None else Principal(is_admin=False, key_id=key.id)


async def authenticate(request: web.Request) -> Principal:
    """The bearer token's caller, or a 401 problem. Cached on the request."""
    cached = request.get(PRINCIPAL)
    if cached is not None:
        return cached
    token = _bearer(request)
    if token is None:
        raise Problem(401, "missing bearer token: send 'Authorization: Bearer <token>'")
    principal = request[PRINCIPAL] = await accepted(request.app[RUNTIME], token)
    return principal


async def accepted(runtime: Runtime, token: str) -> Principal:
    """The caller ``token`` belongs to, or a 401 problem when it is unknown or revoked."""
    principal = await principal_for_token(runtime, token)
    if principal is None:
        raise Problem(401, "invalid or revoked token")
    return principal


async def require_admin(request: web.Request) -> Principal:
    principal = await authenticate(request)
    if not principal.is_admin:
        raise Problem(403, "this route needs the admin token")
    return principal
