"""``/v1/exports/events``: every event matching the ``/v1/events`` filters as one CSV or JSON
download, for audits. Streamed a keyset page at a time (each in its own short session), so a large
export holds no database connection while the client reads, and events detected meanwhile are not
mixed in."""

from __future__ import annotations

import csv
import io
import json
from typing import Any, AsyncIterator

from aiohttp import web

from frwatch.api.auth import authenticate
from frwatch.api.events import event_json
from frwatch.api.keys import RUNTIME
from frwatch.api.query import EVENT_PARAMS, parse_filters, refuse_unknown, single
from frwatch.store import queries
from frwatch.store.queries import Filters, Page

BATCH = 500
FORMATS = ("csv", "json")
CSV_COLUMNS = ("id", "first_seen_at", "occurred_at", "regulator", "jurisdiction", "target", "action_type", "amount",
               "currency", "amount_eur", "score", "item_count", "title", "sources", "reasons")


def _format(value: str) -> str:
    if value not in FORMATS:
        raise ValueError(f"one of {', '.join(FORMATS)}")
    return value


def csv_cell(value: Any) -> str:
    """Text for a spreadsheet cell; a leading ``= + - @`` is quoted away so a hostile title cannot
    become a formula when the file is opened (CSV injection)."""
    if value is None:
        return ""
    if isinstance(value, list):
        value = "; ".join(str(entry["name"]) if isinstance(entry, dict) else str(entry) for entry in value)
    if not isinstance(value, str):
        return str(value)
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


async def event_rows(request: web.Request, filters: Filters) -> AsyncIterator[dict[str, Any]]:
    sessions = request.app[RUNTIME].sessions
    page = Page(limit=BATCH)
    while True:
        async with sessions() as session:
            listing = await queries.list_events(session, filters, page)
            sources = await queries.event_sources(session, [event.id for event in listing.rows])
        for event in listing.rows:
            yield event_json(event, sources[event.id])
        if listing.next is None:
            return
        page = Page(limit=BATCH, after=listing.next)


def csv_line(values: list[Any]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerow(values)
    return buffer.getvalue().encode()


async def export_events(request: web.Request) -> web.StreamResponse:
    await authenticate(request)
    refuse_unknown(request.query, EVENT_PARAMS + ("format",))
    kind = single(request.query, "format", _format) or "csv"
    filters = parse_filters(request.query)
    response = web.StreamResponse(headers={
        "Content-Type": "text/csv; charset=utf-8" if kind == "csv" else "application/json",
        "Content-Disposition": f'attachment; filename="frwatch-events.{kind}"',
    })
    await response.prepare(request)
    if kind == "csv":
        await response.write(csv_line(list(CSV_COLUMNS)))
        async for row in event_rows(request, filters):
            await response.write(csv_line([csv_cell(row[column]) for column in CSV_COLUMNS]))
    else:
        separator = b"["
        async for row in event_rows(request, filters):
            await response.write(separator + json.dumps(row, ensure_ascii=False).encode())
            separator = b",\n"
        await response.write(b"[]" if separator == b"[" else b"]\n")
    await response.write_eof()
    return response


def setup(app: web.Application) -> None:
    app.router.add_get("/v1/exports/events", export_events)
