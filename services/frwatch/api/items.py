"""``/v1/items``: every polled item with the classifier's verdict, near-misses included, so
analysts can see what was (not) taken for an enforcement action and why."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from frwatch.api.auth import authenticate
from frwatch.api.keys import RUNTIME
from frwatch.api.problems import Problem
from frwatch.api.query import (ITEM_PARAMS, PAGE_PARAMS, page_response, parse_filters, parse_page, parse_row_id,
                               refuse_unknown)
from frwatch.models import Item
from frwatch.notify.payload import iso
from frwatch.store import queries
from frwatch.store.items import VERDICT_FIELDS


def item_json(item: Item, source_name: str) -> dict[str, Any]:
    return {
        "id": item.id, "source": {"id": item.source_id, "name": source_name},
        "title": item.title, "summary": item.summary, "link": item.link, "guid": item.guid,
        "language": item.language, "published_at": iso(item.published_at),
        "first_seen_at": iso(item.first_seen_at), "updated_at": iso(item.updated_at),
        "revision": item.revision, "event_id": item.event_id,
        "verdict": {name: getattr(item, name) for name in VERDICT_FIELDS},
    }


async def list_items(request: web.Request) -> web.Response:
    await authenticate(request)
    refuse_unknown(request.query, ITEM_PARAMS + PAGE_PARAMS)
    filters, page = parse_filters(request.query, items=True), parse_page(request.query, int_ids=True)
    async with request.app[RUNTIME].sessions() as session:
        listing = await queries.list_items(session, filters, page)
    return page_response(request, [item_json(item, name) for item, name in listing.rows], listing.next)


async def get_item(request: web.Request) -> web.Response:
    """One item, with the earlier texts of an item edited at its source."""
    await authenticate(request)
    refuse_unknown(request.query, ())
    try:
        item_id = parse_row_id(request.match_info["id"])
    except ValueError:
        raise Problem(404, f"no item {request.match_info['id']}") from None
    async with request.app[RUNTIME].sessions() as session:
        found = await queries.get_item(session, item_id)
        revisions = await queries.item_revisions(session, item_id) if found else []
    if found is None:
        raise Problem(404, f"no item {item_id}")
    body = item_json(*found)
    body["revisions"] = [{"revision": r.revision, "title": r.title, "summary": r.summary, "link": r.link,
                          "recorded_at": iso(r.recorded_at)} for r in revisions]
    return web.json_response(body)


def setup(app: web.Application) -> None:
    app.router.add_get("/v1/items", list_items)
    app.router.add_get("/v1/items/{id}", get_item)
