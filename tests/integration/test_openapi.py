"""The OpenAPI document: valid OpenAPI 3.1, in step with the routes the app serves (both ways),
and honoured by the live app — Schemathesis sends generated requests with an admin and an
integrator token and finds no 5xx and no answer outside the documented statuses, media types
and schemas."""

from __future__ import annotations

import asyncio
import re
import threading
from dataclasses import dataclass
from typing import Any, Iterator

import pytest
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, settings
from openapi_spec_validator import validate
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (content_type_conformance, response_headers_conformance,
                                               response_schema_conformance, status_code_conformance)

from frwatch.api.app import create_app
from frwatch.api.openapi import spec
from frwatch.migrate import upgrade
from frwatch.runtime import open_runtime
from frwatch.settings import Settings
from tests.conftest import ADMIN_HEADERS, in_thread, make_settings, truncate_all
from tests.integration.read_seed import bearer, integrator_token, seed

METHODS = {"get", "post", "put", "patch", "delete"}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]


def served_routes(app: web.Application) -> set[tuple[str, str]]:
    """(method, path) of every route, path parameters written ``{name}`` as in OpenAPI."""
    return {(route.method.lower(), re.sub(r"\{(\w+):[^}]*\}", r"{\1}", route.resource.canonical))
            for route in app.router.routes() if route.resource is not None and route.method.lower() in METHODS}


def documented_routes() -> set[tuple[str, str]]:
    return {(method, path) for path, item in spec()["paths"].items() for method in item if method in METHODS}


async def test_the_document_is_served_and_valid(api: Any) -> None:
    resp = await api.get("/openapi.json")  # no token needed
    assert resp.status == 200 and resp.content_type == "application/json"
    document = await resp.json()
    assert document["openapi"].startswith("3.1")
    validate(document)


async def test_every_route_is_documented_and_every_documented_route_served(runtime: Any) -> None:
    served = served_routes(create_app(runtime))
    assert served - documented_routes() == set(), "routes missing from openapi.yaml"
    assert documented_routes() - served == set(), "openapi.yaml documents routes the app does not serve"


def test_every_operation_documents_its_problems() -> None:
    for path, item in spec()["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                assert "default" in operation["responses"], f"{method} {path}: no problem response"
                assert operation.get("operationId"), f"{method} {path}: no operationId"


# --- Schemathesis against the live app --------------------------------------------------------------

@dataclass
class Live:
    url: str
    integrator: dict[str, str]


class LiveServer:
    """The app on a real loopback port, in its own thread and event loop (Schemathesis is sync)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.ready = threading.Event()
        self.thread = threading.Thread(target=asyncio.run, args=(self._serve(),), daemon=True)
        self.port = 0
        self.token = ""
        self.error: BaseException | None = None

    async def _serve(self) -> None:
        self.stop = asyncio.Event()
        self.loop = asyncio.get_running_loop()
        try:
            async with open_runtime(self.settings) as rt:
                await seed(rt.sessions)
                self.token, _ = await integrator_token(rt.sessions)
                runner = web.AppRunner(create_app(rt))
                await runner.setup()
                await web.TCPSite(runner, "127.0.0.1", 0).start()
                self.port = runner.addresses[0][1]
                self.ready.set()
                await self.stop.wait()
                await runner.cleanup()
        except BaseException as exc:
            self.error = exc
            self.ready.set()
            raise

    def __enter__(self) -> Live:
        self.thread.start()
        self.ready.wait(60)
        if self.error is not None or not self.port:
            raise RuntimeError("live server did not start") from self.error
        return Live(url=f"http://127.0.0.1:{self.port}", integrator=bearer(self.token))

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(30)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def live(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('live') / 'frwatch.db'}"
        in_thread(upgrade, url)
    else:
        url = request.getfixturevalue("pg_database")
        in_thread(asyncio.run, truncate_all(url))
    with LiveServer(make_settings(url)) as server:
        yield server


# Loaded directly (not with ``from_fixture``, whose lazy loading breaks on pytest 9); the base URL
# of the live server is given per call.
schema = schemathesis.openapi.from_dict(spec())


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                 HealthCheck.function_scoped_fixture])
def test_live_app_honours_the_document(case: Any, live: Live) -> None:
    for headers in (ADMIN_HEADERS, live.integrator):
        case.call_and_validate(base_url=live.url, headers=headers, checks=CHECKS, allow_redirects=False)
