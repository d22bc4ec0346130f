"""One webhook attempt over HTTP: a signed POST, no redirects, a time limit, a capped read.

``send`` never raises for endpoint trouble: every outcome (status, timeout, refused address,
connection error) comes back as an ``AttemptResult`` to be recorded.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Sequence

import aiohttp

from frwatch.errors import UrlRefused
from frwatch.notify.backoff import RETRY_AFTER_STATUSES
from frwatch.notify.signing import webhook_headers
from frwatch.storable import storable_text
from frwatch.timeutil import parse_retry_after
from frwatch.urlguard import UrlGuard

EXCERPT_BYTES = 2048


@dataclass(frozen=True)
class AttemptResult:
    status_code: int | None
    latency_ms: float
    error: str | None = None
    excerpt: str | None = None
    retry_after: timedelta | None = None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


@dataclass(frozen=True)
class Message:
    """What one attempt needs: where, what, and the secrets to sign with."""

    id: str
    url: str
    body: str
    secrets: Sequence[str]


def _describe(exc: BaseException) -> str:
    if isinstance(exc, (asyncio.TimeoutError, aiohttp.ServerTimeoutError)):
        return "timed out"
    return storable_text(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)


async def send(http: aiohttp.ClientSession, guard: UrlGuard, message: Message, *, now: datetime,
               timeout: timedelta, user_agent: str) -> AttemptResult:
    """POST ``message`` signed with ``now`` as its timestamp."""
    headers = webhook_headers(message.secrets, message.id, int(now.timestamp()), message.body)
    headers.update({"Content-Type": "application/json", "User-Agent": user_agent})
    started = time.monotonic()
    try:
        guard.check_url(message.url)  # the guard keeps its verdict per URL: cheap on every attempt
        async with http.post(message.url, data=message.body.encode(), headers=headers, allow_redirects=False,
                             timeout=aiohttp.ClientTimeout(total=timeout.total_seconds())) as response:
            excerpt = await response.content.read(EXCERPT_BYTES)
            status = response.status
            retry_after = (parse_retry_after(response.headers.get("Retry-After"), now)
                           if status in RETRY_AFTER_STATUSES else None)
            response.close()  # do not read the rest of a large answer
    except UrlRefused as exc:  # the URL, or (by the connector) its host's name or addresses
        return AttemptResult(None, _elapsed(started), error=str(exc))
    except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
        return AttemptResult(None, _elapsed(started), error=_describe(exc))
    error = None if 200 <= status < 300 else f"HTTP {status}"
    return AttemptResult(status, _elapsed(started), error=error, excerpt=_text(excerpt), retry_after=retry_after)


def _text(answer: bytes) -> str:
    """The answer's excerpt as text any database stores: PostgreSQL refuses NUL in text, and one
    endpoint's binary answer must not stop the batch of attempts it is recorded with."""
    return storable_text(answer.decode("utf-8", "replace"))


def _elapsed(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 1)
