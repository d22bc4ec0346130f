"""``/v1/sources`` (admin only): the feeds with their polling health; add, change, remove.

Sources added here are ``origin: api`` and left alone by the sources-file sync. Only http(s)
URLs are accepted: a ``file://`` feed would let an API caller read the server's disk, so those
belong in the sources file. A new URL starts with fresh caching state and is polled at once.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

from aiohttp import web
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from frwatch.api import idempotency
from frwatch.api.auth import require_admin
from frwatch.api.keys import RUNTIME
from frwatch.api.problems import Problem
from frwatch.api.query import parse_bool, refuse_unknown, single
from frwatch.api.validation import (Field, boolean, invalid, one_of, read_json, resolved_public_url, string,
                                   validate)
from frwatch.db import write_transaction
from frwatch.errors import UrlRefused
from frwatch.models import Source
from frwatch.notify.payload import iso
from frwatch.sources_config import ID_PATTERN, JURISDICTION, KINDS, LANGUAGE, SourceSpec
from frwatch.store import sources as source_store
from frwatch.timeutil import format_duration, parse_duration
from frwatch.urlguard import UrlGuard

MAX_INTERVAL = timedelta(days=30)
_PRINTABLE = r"[^\x00-\x1f\x7f]+"


def _interval(value: Any, path: str) -> timedelta:
    if not isinstance(value, str):
        raise invalid(path, "must be a duration string such as 15m or 2h")
    try:
        interval: timedelta | None = parse_duration(value)
    except ValueError as exc:
        raise invalid(path, str(exc)) from None
    except OverflowError:  # more days than a timedelta holds
        interval = None
    if interval is None or not timedelta(seconds=1) <= interval <= MAX_INTERVAL:
        raise invalid(path, f"must be between 1s and {format_duration(MAX_INTERVAL)}")
    return interval


def _url_check(guard: UrlGuard) -> Any:
    base = string(min_length=1, max_length=2048, pattern=_PRINTABLE)

    def check(value: Any, path: str) -> str:
        url = base(value, path)
        try:
            guard.check_url(url)
        except UrlRefused as exc:
            raise invalid(path, f"{exc} (file:// feeds can only be set in the sources file)") from None
        return url

    return check


async def _resolvable_url(guard: UrlGuard, url: str) -> None:
    """A host that resolves to a refused address is refused now (422), like a subscription's; one
    that does not resolve at the moment is accepted (a feed's DNS may be down for a while): every
    poll checks the addresses it connects to anyway."""
    await resolved_public_url(guard, url, unresolvable_ok=True)


def source_fields(guard: UrlGuard) -> dict[str, Field]:
    return {
        "id": Field(string(min_length=1, max_length=64, pattern=ID_PATTERN.pattern.strip("^$")), required=True),
        "name": Field(string(min_length=1, max_length=300, pattern=_PRINTABLE), required=True),
        "url": Field(_url_check(guard), required=True),
        "kind": Field(one_of(*KINDS), required=True),
        "regulator": Field(string(min_length=1, max_length=100, pattern=_PRINTABLE), nullable=True),
        "jurisdiction": Field(string(pattern=JURISDICTION.pattern.strip("^$"), normalize=str.upper), nullable=True),
        "language": Field(string(pattern=LANGUAGE.pattern.strip("^$"), normalize=str.lower), nullable=True),
        "enabled": Field(boolean()),
        "poll_interval": Field(_interval, nullable=True),
    }


def source_status(source: Source) -> str:
    """disabled, never_polled, failing (errors since the last success) or ok."""
    if not source.enabled:
        return "disabled"
    if source.last_polled_at is None:
        return "never_polled"
    return "failing" if source.error_count else "ok"


def source_json(source: Source) -> dict[str, Any]:
    interval = timedelta(seconds=source.poll_interval_s) if source.poll_interval_s else None
    return {
        "id": source.id, "name": source.name, "url": source.url, "kind": source.kind,
        "regulator": source.regulator, "jurisdiction": source.jurisdiction, "language": source.language,
        "enabled": source.enabled, "poll_interval": format_duration(interval) if interval else None,
        "origin": source.origin, "disabled_reason": source.disabled_reason,
        "created_at": iso(source.created_at), "updated_at": iso(source.updated_at),
        "health": {
            "status": source_status(source), "last_polled_at": iso(source.last_polled_at),
            "last_success_at": iso(source.last_success_at), "last_status": source.last_status,
            "last_error": source.last_error, "error_count": source.error_count, "polls": source.polls,
            "next_poll_at": iso(source.next_poll_at),
        },
    }


async def _get_or_404(session: AsyncSession, source_id: str) -> Source:
    source = await source_store.get(session, source_id) if ID_PATTERN.match(source_id) else None
    if source is None:
        raise Problem(404, f"no source {source_id!r}")
    return source


async def list_sources(request: web.Request) -> web.Response:
    await require_admin(request)
    refuse_unknown(request.query, ())
    async with request.app[RUNTIME].sessions() as session:
        sources = await source_store.list_all(session)
    return web.json_response({"data": [source_json(source) for source in sources]})


async def get_source(request: web.Request) -> web.Response:
    await require_admin(request)
    refuse_unknown(request.query, ())
    async with request.app[RUNTIME].sessions() as session:
        source = await _get_or_404(session, request.match_info["id"])
    return web.json_response(source_json(source))


def _exists(source_id: str) -> Problem:
    return Problem(409, f"id: a source {source_id!r} already exists", field="id")


async def add_source(request: web.Request) -> web.Response:
    principal = await require_admin(request)
    refuse_unknown(request.query, ())
    rt = request.app[RUNTIME]
    body = await read_json(request)
    spec = SourceSpec(**validate(body, source_fields(rt.guard)))
    await _resolvable_url(rt.guard, spec.url)

    async def work(session: AsyncSession) -> tuple[int, dict[str, Any]]:
        if await source_store.get(session, spec.id) is not None:
            raise _exists(spec.id)
        return 201, source_json(await source_store.add(session, spec, origin="api", now=rt.clock()))

    try:
        return await idempotency.respond(request, principal, body, work)
    except IntegrityError:  # a concurrent add of the same id committed between the check and the insert
        raise _exists(spec.id) from None


async def patch_source(request: web.Request) -> web.Response:
    await require_admin(request)
    refuse_unknown(request.query, ())
    rt = request.app[RUNTIME]
    fields = source_fields(rt.guard)
    del fields["id"]
    changes = validate(await read_json(request), fields, partial=True)
    if "url" in changes:
        await _resolvable_url(rt.guard, changes["url"])
    async with write_transaction(rt.sessions) as session:
        source = await _get_or_404(session, request.match_info["id"])
        spec = dataclasses.replace(source_store.spec_of(source), **changes)
        source_store.apply_spec(source, spec, rt.clock())
        await session.flush()
        body = source_json(source)
    return web.json_response(body)


async def delete_source(request: web.Request) -> web.Response:
    """Delete a source without items; one with items is disabled (its items kept) unless ``purge=true``."""
    await require_admin(request)
    refuse_unknown(request.query, ("purge",))
    purge = single(request.query, "purge", parse_bool) or False
    rt = request.app[RUNTIME]
    async with write_transaction(rt.sessions) as session:
        source = await _get_or_404(session, request.match_info["id"])
        outcome = await source_store.remove(session, source, purge=purge, now=rt.clock())
    return web.json_response({"id": request.match_info["id"], "outcome": outcome})


def setup(app: web.Application) -> None:
    app.router.add_get("/v1/sources", list_sources)
    app.router.add_post("/v1/sources", add_source)
    app.router.add_get("/v1/sources/{id}", get_source)
    app.router.add_patch("/v1/sources/{id}", patch_source)
    app.router.add_delete("/v1/sources/{id}", delete_source)
