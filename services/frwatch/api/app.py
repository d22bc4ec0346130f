"""The aiohttp application: middlewares, route modules, and shared resources via AppKeys."""

from __future__ import annotations

from aiohttp import web

from frwatch.api import api_keys, deliveries, health, subscriptions
from frwatch.api import atom, dashboard, events, export, items, metrics, openapi, sources
from frwatch.api.keys import RUNTIME
from frwatch.api.problems import MAX_BODY_BYTES, problem_middleware
from frwatch.notify.worker import Deliverer
from frwatch.runtime import Runtime

ROUTE_MODULES = [health, api_keys, subscriptions, deliveries, events, items, sources, metrics, atom, export,
                 dashboard, openapi]


def create_app(runtime: Runtime, *, deliverer: Deliverer | None = None) -> web.Application:
    """An app over an open runtime; the caller owns the runtime's (and the deliverer's) lifetime."""
    app = web.Application(middlewares=[problem_middleware], client_max_size=MAX_BODY_BYTES)
    app[RUNTIME] = runtime
    if deliverer is not None:
        app[subscriptions.DELIVERER] = deliverer
    for module in ROUTE_MODULES:
        module.setup(app)
    return app
