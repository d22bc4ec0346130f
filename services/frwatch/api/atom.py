"""``/feeds/events.atom``: detected events as an Atom 1.0 feed, filtered like ``/v1/events``,
so a compliance analyst can follow them in any feed reader (token as HTTP Basic password, or
no token with ``FRWATCH_DASHBOARD_PUBLIC``). Conditional GET with an ETag."""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from typing import Sequence
from urllib.parse import urlsplit
from xml.etree import ElementTree as ET

from aiohttp import web

from frwatch.api.keys import RUNTIME
from frwatch.api.problems import Problem
from frwatch.api.query import EVENT_PARAMS, parse_filters, parse_limit, refuse_unknown, single
from frwatch.api.viewer import viewer
from frwatch.models import Event
from frwatch.store import queries
from frwatch.store.queries import Page, SourceRef

ATOM = "http://www.w3.org/2005/Atom"
CONTENT_TYPE = "application/atom+xml"
FEED_LIMIT = 50
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)  # "updated" of an empty feed, so its ETag is stable


def safe_link(url: str | None) -> str | None:
    """Only http(s) links are passed on (never ``javascript:`` and the like)."""
    return url if url and urlsplit(url).scheme in ("http", "https") else None


def describe(event: Event) -> str:
    """One plain-text line of the facts, for readers that show only the summary."""
    facts = [event.regulator, event.jurisdiction, (event.action_type or "").replace("_", " ") or None,
             event.target and f"against {event.target}",
             event.amount is not None and f"{event.amount:,.0f} {event.currency or ''}".strip()]
    line = " · ".join(str(fact) for fact in facts if fact)
    return f"{line}\n\n{event.summary}".strip()


def _text(parent: ET.Element, tag: str, text: str, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, f"{{{ATOM}}}{tag}", attrs)
    element.text = text
    return element


def _entry(feed: ET.Element, event: Event, sources: Sequence[SourceRef], link: str | None) -> None:
    entry = ET.SubElement(feed, f"{{{ATOM}}}entry")
    _text(entry, "id", f"urn:frwatch:event:{event.id}")
    _text(entry, "title", event.title or event.id)
    _text(entry, "published", event.first_seen_at.isoformat())
    _text(entry, "updated", event.updated_at.isoformat())
    author = ET.SubElement(entry, f"{{{ATOM}}}author")
    _text(author, "name", event.regulator or ", ".join(s.name for s in sources) or "frwatch")
    if link:
        ET.SubElement(entry, f"{{{ATOM}}}link", rel="alternate", href=link)
    for scheme, term in (("action_type", event.action_type), ("jurisdiction", event.jurisdiction),
                         ("regulator", event.regulator)):
        if term:
            ET.SubElement(entry, f"{{{ATOM}}}category", term=term, scheme=f"urn:frwatch:{scheme}")
    _text(entry, "summary", describe(event), type="text")


def render(events: Sequence[Event], sources: dict[str, list[SourceRef]], links: dict[str, str | None],
           *, self_url: str, home_url: str) -> bytes:
    ET.register_namespace("", ATOM)
    feed = ET.Element(f"{{{ATOM}}}feed")
    _text(feed, "id", f"urn:frwatch:feed:{hashlib.sha256(self_url.encode()).hexdigest()[:16]}")
    _text(feed, "title", "frwatch: facial-recognition enforcement actions")
    _text(feed, "updated", max((e.updated_at for e in events), default=EPOCH).isoformat())
    ET.SubElement(feed, f"{{{ATOM}}}link", rel="self", href=self_url, type=CONTENT_TYPE)
    ET.SubElement(feed, f"{{{ATOM}}}link", rel="alternate", href=home_url, type="text/html")
    _text(feed, "generator", "frwatch")
    for event in events:
        _entry(feed, event, sources.get(event.id, []), links.get(event.id))
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True)


async def events_feed(request: web.Request) -> web.Response:
    await viewer(request)
    refuse_unknown(request.query, EVENT_PARAMS + ("limit",))
    filters = parse_filters(request.query)
    limit = single(request.query, "limit", parse_limit) or FEED_LIMIT
    try:  # the request's URL is built from its Host header, which the client wrote
        self_url, home_url = str(request.url), str(request.url.with_path("/").with_query(None))
    except ValueError as exc:  # UnicodeError included
        raise Problem(400, f"the Host header is not a valid host: {exc}") from None
    rt = request.app[RUNTIME]
    async with rt.sessions() as session:
        listing = await queries.list_events(session, filters, Page(limit=limit))
        ids = [event.id for event in listing.rows]
        sources = await queries.event_sources(session, ids)
        links = {event_id: safe_link(link) for event_id, link in (await queries.first_links(session, ids)).items()}
    body = render(listing.rows, sources, links, self_url=self_url, home_url=home_url)
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    headers = {"ETag": etag, "Cache-Control": "private, max-age=60"}
    if etag in request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers=headers)
    return web.Response(body=body, content_type=CONTENT_TYPE, charset="utf-8", headers=headers)


def setup(app: web.Application) -> None:
    app.router.add_get("/feeds/events.atom", events_feed)
