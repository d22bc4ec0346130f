"""Who may look at the read-only pages (the dashboard and the Atom feed).

The same tokens as the API, presented in one of three ways: ``Authorization: Bearer``; HTTP Basic
with the token as password (what feed readers support); or the HttpOnly cookie the dashboard's
login form sets, so the token never appears in a URL or a log line. With
``FRWATCH_DASHBOARD_PUBLIC`` these pages are open without a token. The cookie is honoured only
here, on GET pages that change nothing, never by the JSON API, so it cannot be used for CSRF.
"""

from __future__ import annotations

import base64
import binascii

from aiohttp import web

from frwatch.api.auth import Principal, accepted, authenticate
from frwatch.api.keys import RUNTIME
from frwatch.api.problems import Problem

COOKIE = "frwatch_token"


def presented_token(request: web.Request) -> str | None:
    """The token from HTTP Basic (password) or the login cookie, if any."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "basic":
        try:
            _, _, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise Problem(401, "malformed Basic credentials") from None
        return password or None
    return request.cookies.get(COOKIE) or None


async def viewer(request: web.Request) -> Principal | None:
    """The caller, or None for an anonymous visitor of a public dashboard; else 401."""
    if request.headers.get("Authorization", "").lower().startswith("bearer "):
        return await authenticate(request)
    token = presented_token(request)
    if token is not None:
        return await accepted(request.app[RUNTIME], token)  # checked as a bearer token is
    if request.app[RUNTIME].settings.dashboard_public:
        return None
    raise Problem(401, "sign in at /login, or send the admin token or an API key as a bearer token",
                  headers={"WWW-Authenticate": 'Bearer, Basic realm="frwatch"'})
