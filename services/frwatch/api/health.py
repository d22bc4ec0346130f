"""Liveness and readiness probes."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import text

from frwatch.api.keys import RUNTIME
from frwatch.migrate import current_revision, schema_state

READY_CHECKS = web.AppKey("ready_checks", dict)


async def healthz(request: web.Request) -> web.Response:
    """The process is up and its event loop answers."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Database reachable, migrations at head, and every registered check (e.g. the scheduler) passing."""
    runtime = request.app[RUNTIME]
    checks: dict[str, str] = {}
    try:
        async with runtime.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
            revision = await conn.run_sync(current_revision)
        checks["database"] = "ok"
        checks["migrations"] = schema_state(revision)
    except Exception as exc:  # any failure means not ready; the reason is reported
        checks["database"] = f"unreachable: {type(exc).__name__}"
    for name, check in request.app.get(READY_CHECKS, {}).items():
        checks[name] = check()
    ready = all(value == "ok" for value in checks.values())
    return web.json_response({"status": "ok" if ready else "unavailable", "checks": checks},
                             status=200 if ready else 503)


def setup(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
