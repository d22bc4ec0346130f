"""The HTML dashboard at ``/``: latest events with filters, and the health of sources and
subscriptions. Server-rendered (Jinja2, autoescaped), no JavaScript, no build step.

Access is that of the read-only pages (``api/viewer.py``): a token through the login form's
HttpOnly cookie, or nobody with ``FRWATCH_DASHBOARD_PUBLIC``. A public visitor sees events and
source health but no subscriptions; an integrator sees its own subscriptions, the admin all.
Nothing secret is rendered: no feed or webhook URLs, no signing secrets, no tokens. The CSP
allows no script at all and only the shipped stylesheet (by hash).
"""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web
from multidict import MultiDict

from frwatch.api.atom import safe_link
from frwatch.api.auth import Principal, principal_for_token
from frwatch.api.keys import RUNTIME
from frwatch.api.problems import Problem
from frwatch.api.query import ACTION_TYPES, EVENT_PARAMS, PAGE_PARAMS, encode_cursor, parse_filters, parse_page, \
    refuse_unknown
from frwatch.api.sources import source_status
from frwatch.api.viewer import COOKIE, viewer
from frwatch.models import Event, Subscription
from frwatch.store import queries
from frwatch.store import sources as source_store

FORM = "application/x-www-form-urlencoded"
TEMPLATES = Path(__file__).parent / "templates"
CSS = (TEMPLATES / "dashboard.css").read_text(encoding="utf-8")
_CSS_HASH = base64.b64encode(hashlib.sha256(CSS.encode()).digest()).decode()
SECURITY_HEADERS = {
    "Content-Security-Policy": f"default-src 'none'; style-src 'sha256-{_CSS_HASH}'; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # "no-referrer" would make form posts send "Origin: null"
    "Cache-Control": "no-store",
}


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "—"


def _amount(event: Event) -> str:
    return "—" if event.amount is None else f"{event.amount:,.0f} {event.currency or ''}".strip()


ENV = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                         undefined=jinja2.StrictUndefined)
ENV.filters.update(when=_when, amount=_amount)


def page(template: str, **context: Any) -> web.Response:
    html = ENV.get_template(template).render(css=CSS, **context)
    return web.Response(text=html, content_type="text/html", charset="utf-8", headers=SECURITY_HEADERS)


def redirect(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location, "Cache-Control": "no-store"})


def subscription_status(subscription: Subscription) -> str:
    """disabled, failing (failures since the last success) or ok."""
    if not subscription.enabled:
        return "disabled"
    return "failing" if subscription.failing_since or subscription.consecutive_failures else "ok"


def who(principal: Principal | None) -> str:
    if principal is None:
        return "public view"
    return "admin" if principal.is_admin else f"API key {principal.key_id}"


async def dashboard(request: web.Request) -> web.Response:
    try:
        principal = await viewer(request)
    except Problem as exc:
        if exc.status_code != 401:
            raise
        response = redirect("/login?failed" if COOKIE in request.cookies else "/login")
        response.del_cookie(COOKIE, path="/")
        return response
    # an empty form field means "any", not an invalid value
    params = MultiDict((name, value) for name, value in request.query.items() if value.strip())
    refuse_unknown(params, EVENT_PARAMS + PAGE_PARAMS)
    filters, event_page = parse_filters(params), parse_page(params)
    async with request.app[RUNTIME].sessions() as session:
        listing = await queries.list_events(session, filters, event_page)
        ids = [event.id for event in listing.rows]
        sources = await queries.event_sources(session, ids)
        links = await queries.first_links(session, ids)
        all_sources = await source_store.list_all(session)
        subscriptions = None if principal is None else [
            {"subscription": row.subscription, "status": subscription_status(row.subscription),
             "pending": row.pending, "failed": row.failed}
            for row in await queries.subscription_health(session, principal.key_id, everyone=principal.is_admin)]
    older = str(request.rel_url.update_query(cursor=encode_cursor(listing.next))) if listing.next else None
    return page(
        "dashboard.html", who=who(principal), signed_in=COOKIE in request.cookies, action_types=ACTION_TYPES,
        form={name: params.get(name, "") for name in EVENT_PARAMS}, older=older,
        events=[{"event": event, "sources": sources[event.id], "link": safe_link(links.get(event.id))}
                for event in listing.rows],
        sources=[{"name": s.name, "kind": s.kind, "status": source_status(s), "last_polled_at": s.last_polled_at,
                  "last_status": s.last_status, "error_count": s.error_count, "next_poll_at": s.next_poll_at}
                 for s in all_sources],
        subscriptions=subscriptions,
    )


async def login_form(request: web.Request) -> web.Response:
    return page("login.html", failed="failed" in request.query,
                public=request.app[RUNTIME].settings.dashboard_public)


def _same_origin(request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    return origin is None or origin == f"{request.scheme}://{request.host}"


async def login(request: web.Request) -> web.Response:
    """Check the token like a bearer token, then keep it in an HttpOnly, SameSite=Strict cookie."""
    if not _same_origin(request):
        raise Problem(403, "sign-in must come from this dashboard's own form")
    if request.content_type != FORM:
        raise Problem(415, f"send the sign-in form as {FORM}")
    token = str((await request.post()).get("token", "")).strip()
    if not token or await principal_for_token(request.app[RUNTIME], token) is None:
        return redirect("/login?failed")
    response = redirect("/")
    response.set_cookie(COOKIE, token, httponly=True, samesite="Strict", secure=request.secure, path="/")
    return response


async def logout(request: web.Request) -> web.Response:
    if not _same_origin(request):
        raise Problem(403, "sign-out must come from this dashboard's own form")
    response = redirect("/login")
    response.del_cookie(COOKIE, path="/")
    return response


def setup(app: web.Application) -> None:
    app.router.add_get("/", dashboard)
    app.router.add_get("/login", login_form)
    app.router.add_post("/login", login)
    app.router.add_post("/logout", logout)
