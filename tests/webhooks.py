"""Test support for webhooks: a receiver on 127.0.0.1, a settable clock, and seeding helpers.

    async with WebhookReceiver() as receiver:
        receiver.respond("/hook", 500)              # or .hang("/dead"), .respond_seq("/h", [503, 200])
        sub_id, secret = await add_subscription(rt, receiver.url("/hook"))
        await seed_event(rt)                        # an event + its outbox rows, one transaction
        await deliver_due(rt)
        receiver.verify(secret)                     # every request checked by ``standardwebhooks``
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Awaitable, Callable, Mapping, Sequence

from aiohttp import web
from aiohttp.test_utils import TestServer
from standardwebhooks import Webhook

from frwatch.ids import new_id
from frwatch.models import Event, Item, Source
from frwatch.notify.enqueue import EventChange, enqueue_event_changes
from frwatch.notify.matching import DETECTED
from frwatch.notify.signing import generate_secret
from frwatch.runtime import Runtime
from frwatch.store import subscriptions as subscription_store
from frwatch.timeutil import utcnow


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: str
    at: float  # time.monotonic()
    peer: tuple[str, int] | None = None  # the sender's address and port: one per TCP connection

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def id(self) -> str:
        return self.headers["webhook-id"]


Behaviour = Callable[[web.Request], Awaitable[web.StreamResponse]]


class WebhookReceiver:
    """Records every request; answers 200 unless a path was told otherwise."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.behaviours: dict[str, Behaviour] = {}
        self.release = asyncio.Event()  # set to let hanging requests finish
        self._arrived = asyncio.Condition()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._server = TestServer(app, host="127.0.0.1")

    async def __aenter__(self) -> "WebhookReceiver":
        await self._server.start_server()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        self.release.set()
        await self._server.close()

    def url(self, path: str = "/hook", *, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self._server.port}{path}"

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        body = await request.text()
        async with self._arrived:
            peer = request.transport.get_extra_info("peername") if request.transport else None
            self.received.append(Received(request.path, {k.lower(): v for k, v in request.headers.items()},
                                          body, time.monotonic(), tuple(peer[:2]) if peer else None))
            self._arrived.notify_all()
        behaviour = self.behaviours.get(request.path)
        return await behaviour(request) if behaviour else web.Response(text="ok")

    def respond(self, path: str, status: int, *, body: bytes = b"", headers: Mapping[str, str] | None = None) -> None:
        async def answer(request: web.Request) -> web.StreamResponse:
            return web.Response(status=status, body=body, headers=dict(headers or {}))

        self.behaviours[path] = answer

    def respond_seq(self, path: str, statuses: Sequence[int]) -> None:
        """Answer with these statuses in turn; the last one repeats."""
        sequence = itertools.chain(statuses, itertools.repeat(statuses[-1]))

        async def answer(request: web.Request) -> web.StreamResponse:
            return web.Response(status=next(sequence))

        self.behaviours[path] = answer

    def hang(self, path: str) -> None:
        """Never answer (until ``release`` is set, then 200)."""
        async def answer(request: web.Request) -> web.StreamResponse:
            await self.release.wait()
            return web.Response(text="late")

        self.behaviours[path] = answer

    def on(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]

    async def wait_for(self, count: int, path: str | None = None, timeout: float = 10) -> list[Received]:
        def enough() -> bool:
            return len(self.on(path) if path else self.received) >= count

        async with self._arrived:
            await asyncio.wait_for(self._arrived.wait_for(enough), timeout)
        return self.on(path) if path else list(self.received)

    def verify(self, secret: str, path: str | None = None) -> list[Any]:
        """Check every request (on ``path``) with the reference library; returns the bodies."""
        return [Webhook(secret).verify(r.body, r.headers) for r in (self.on(path) if path else self.received)]


class FakeClock:
    """A clock tests move by hand: ``rt.clock = FakeClock(); rt.clock.advance(minutes=5)``."""

    def __init__(self, start: datetime | None = None):
        self.now = start or utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta | None = None, **kwargs: float) -> datetime:
        self.now += delta or timedelta(**kwargs)
        return self.now


async def add_subscription(rt: Runtime, url: str, *, owner_id: str | None = None, **fields: Any) -> tuple[str, str]:
    """A subscription straight in the store; returns (id, secret)."""
    secret = generate_secret()
    values: dict[str, Any] = {"url": url, "description": "", "enabled": True, "event_types": [], "filters": {},
                              **fields}
    async with rt.sessions() as session, session.begin():
        subscription = await subscription_store.create(session, owner_id=owner_id, secret=secret, now=rt.clock(),
                                                       **values)
    return subscription.id, secret


async def ensure_source(session: Any, now: datetime, source_id: str = "test-source") -> Source:
    source = await session.get(Source, source_id)
    if source is None:
        source = Source(id=source_id, name="Test Regulator feed", url="https://example.test/feed.xml",
                        kind="regulator", enabled=True, origin="config", created_at=now, updated_at=now,
                        next_poll_at=now, error_count=0, polls=0, dedup_mode="guid")
        session.add(source)
        await session.flush()
    return source


async def seed_event(rt: Runtime, *, items: int = 1, kind: str = DETECTED, language: str = "en",
                     title_length: int = 40, **facts: Any) -> tuple[str, int]:
    """An event with ``items`` reports and the outbox rows it owes; returns (event id, rows written)."""
    now = rt.clock()
    values: dict[str, Any] = dict(regulator="ICO", jurisdiction="GB", target="Clearview AI", action_type="fine",
                                  amount=7552800.0, currency="GBP", score=0.93, reasons=["fine", "facial"])
    values.update(facts)
    async with rt.sessions() as session, session.begin():
        source = await ensure_source(session, now)
        event = Event(id=new_id("evt"), title="ICO fines Clearview AI", summary="A fine for facial recognition.",
                      target_key=(values["target"] or "").lower(), occurred_at=now, first_seen_at=now,
                      updated_at=now, item_count=items, **values)
        session.add(event)
        await session.flush()
        reports = [Item(source_id=source.id, dedup_key=new_id("k"), title=f"Report {n} " + "x" * title_length,
                        summary="", link=f"https://example.test/{n}", language=language,
                        content_hash=new_id("h"), published_at=now, first_seen_at=now, updated_at=now,
                        is_enforcement=True, score=values["score"], reasons=[], event_id=event.id)
                   for n in range(items)]
        session.add_all(reports)
        await session.flush()
        written = await enqueue_event_changes(session, [EventChange(event, kind)], now)
    return event.id, written
