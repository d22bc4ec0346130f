"""``/metrics`` in the Prometheus text format, unauthenticated like the probes (it holds counts,
no tenant data). Database gauges are refreshed at each scrape; a database that cannot be read
leaves them as they were and sets ``frwatch_database_up`` to 0, so the scrape itself still works."""

from __future__ import annotations

import logging

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from frwatch import metrics
from frwatch.api.keys import RUNTIME
from frwatch.store import queries

log = logging.getLogger("frwatch.api")


async def refresh_database_gauges(request: web.Request) -> None:
    rt = request.app[RUNTIME]
    try:
        async with rt.sessions() as session:
            backlog = await queries.outbox_backlog(session)
            states = await queries.source_states(session)
    except Exception as exc:  # a scrape must answer even when the database does not
        log.warning("metrics: database unreadable", extra={"error": type(exc).__name__})
        metrics.DATABASE_UP.set(0)
        return
    metrics.DATABASE_UP.set(1)
    metrics.OUTBOX_PENDING.set(backlog.pending)
    oldest = backlog.oldest_created_at
    metrics.OUTBOX_OLDEST_AGE.set(max(0.0, (rt.clock() - oldest).total_seconds()) if oldest else 0)
    for state, count in states.items():
        metrics.SOURCES.labels(state=state).set(count)


async def scrape(request: web.Request) -> web.Response:
    await refresh_database_gauges(request)
    body = generate_latest(metrics.REGISTRY)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def setup(app: web.Application) -> None:
    app.router.add_get("/metrics", scrape)
