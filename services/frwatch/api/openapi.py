"""``/openapi.json``: the hand-kept OpenAPI 3.1 document (``openapi.yaml`` beside this module).

Kept by hand, and kept honest by tests: it is validated with openapi-spec-validator, every route
the app serves must appear in it, and Schemathesis checks live answers against it."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

SPEC_PATH = Path(__file__).with_name("openapi.yaml")


@functools.cache
def spec() -> dict[str, Any]:
    return yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))


@functools.cache
def spec_json() -> bytes:
    return json.dumps(spec(), ensure_ascii=False).encode()


async def openapi(request: web.Request) -> web.Response:
    return web.Response(body=spec_json(), content_type="application/json")


def setup(app: web.Application) -> None:
    app.router.add_get("/openapi.json", openapi)
