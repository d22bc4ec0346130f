"""``/v1/events``: detected enforcement actions (one per real-world action) and their reports.

Readable by the admin and by every integrator: events are public facts, not tenant data.
"""

from __future__ import annotations

from typing import Any, Sequence

from aiohttp import web

from frwatch.api.auth import authenticate
from frwatch.api.items import item_json
from frwatch.api.keys import RUNTIME
from frwatch.api.problems import Problem
from frwatch.api.query import (EVENT_ID, EVENT_PARAMS, PAGE_PARAMS, page_response, parse_filters, parse_page,
                               refuse_unknown)
from frwatch.models import Event
from frwatch.notify.payload import iso
from frwatch.store import queries
from frwatch.store.queries import SourceRef

def event_json(event: Event, sources: Sequence[SourceRef]) -> dict[str, Any]:
    return {
        "id": event.id, "title": event.title, "summary": event.summary, "regulator": event.regulator,
        "jurisdiction": event.jurisdiction, "target": event.target, "action_type": event.action_type,
        "amount": event.amount, "currency": event.currency, "amount_eur": event.amount_eur,
        "score": event.score, "reasons": list(event.reasons or []), "occurred_at": iso(event.occurred_at),
        "first_seen_at": iso(event.first_seen_at), "updated_at": iso(event.updated_at),
        "item_count": event.item_count, "related_event_id": event.related_event_id,
        "sources": [{"id": source.id, "name": source.name} for source in sources],
    }


async def list_events(request: web.Request) -> web.Response:
    await authenticate(request)
    refuse_unknown(request.query, EVENT_PARAMS + PAGE_PARAMS)
    filters, page = parse_filters(request.query), parse_page(request.query)
    async with request.app[RUNTIME].sessions() as session:
        listing = await queries.list_events(session, filters, page)
        sources = await queries.event_sources(session, [event.id for event in listing.rows])
    return page_response(request, [event_json(event, sources[event.id]) for event in listing.rows], listing.next)


REPORTS_SHOWN = 100  # reports in one event's document; the rest are paged at /v1/items?event_id=


async def get_event(request: web.Request) -> web.Response:
    """One event with its first ``REPORTS_SHOWN`` reports (items), oldest first."""
    await authenticate(request)
    refuse_unknown(request.query, ())
    event_id = request.match_info["id"]
    if not EVENT_ID.match(event_id):
        raise Problem(404, "no such event")
    async with request.app[RUNTIME].sessions() as session:
        event = await queries.get_event(session, event_id)
        if event is None:
            raise Problem(404, f"no event {event_id}")
        reports = await queries.event_reports(session, event_id, limit=REPORTS_SHOWN + 1)
        sources = await queries.event_sources(session, [event_id])
    body = event_json(event, sources[event_id])
    body["items"] = [item_json(item, name) for item, name in reports[:REPORTS_SHOWN]]
    body["items_truncated"] = len(reports) > REPORTS_SHOWN
    return web.json_response(body)


def setup(app: web.Application) -> None:
    app.router.add_get("/v1/events", list_events)
    app.router.add_get("/v1/events/{id}", get_event)
