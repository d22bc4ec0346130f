"""RFC 9457 problem documents for every 4xx/5xx the API returns."""

from __future__ import annotations

import json
import logging
from typing import Any, Awaitable, Callable

from aiohttp import web

log = logging.getLogger("frwatch.api")

PROBLEM_TYPE = "application/problem+json"
MAX_BODY_BYTES = 1024 * 1024
_TITLES = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
           405: "Method Not Allowed", 409: "Conflict", 413: "Content Too Large",
           415: "Unsupported Media Type", 422: "Unprocessable Content", 429: "Too Many Requests",
           500: "Internal Server Error", 503: "Service Unavailable"}


class Problem(web.HTTPException):
    """Raise anywhere in a handler: ``raise Problem(422, "url: must be https", field="url")``."""

    def __init__(self, status: int, detail: str, **extra: Any):
        self.status_code = status
        super().__init__()
        self.detail = detail
        self.extra = extra


def problem_response(status: int, detail: str, *, instance: str | None = None,
                     headers: dict[str, str] | None = None, **extra: Any) -> web.Response:
    body: dict[str, Any] = {"type": "about:blank", "title": _TITLES.get(status, "Error"),
                            "status": status, "detail": detail}
    if instance:
        body["instance"] = instance
    body.update(extra)
    return web.Response(status=status, text=json.dumps(body), content_type=PROBLEM_TYPE, headers=headers)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def problem_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        # no identifier contains NUL; PostgreSQL cannot even compare one (asyncpg raises)
        if any("\x00" in value for value in request.match_info.values()):
            raise Problem(404, "no such resource")
        return await handler(request)
    except Problem as exc:
        return problem_response(exc.status_code, exc.detail, instance=request.path, **exc.extra)
    except web.HTTPException as exc:
        if exc.status_code < 400:
            raise
        headers = {k: v for k, v in exc.headers.items() if k.lower() in ("allow", "www-authenticate", "retry-after")}
        detail = exc.text if exc.text and not exc.text.startswith(f"{exc.status_code}:") else exc.reason
        if exc.status_code == 413:
            detail = f"request body exceeds {MAX_BODY_BYTES} bytes"
        return problem_response(exc.status_code, detail, instance=request.path, headers=headers)
    except Exception:
        log.exception("unhandled error", extra={"path": request.path, "method": request.method})
        return problem_response(500, "internal error; it has been logged", instance=request.path)
