"""Shared pieces of the fault-injection suite (issue 6): a hand-moved clock, a black-hole port
for connect timeouts, a runtime whose guard answers made-up host names with 127.0.0.1 (so each
feed is its own "publisher" with its own per-host slot), and small DB readers."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from frwatch.models import Source
from frwatch.runtime import Runtime, open_runtime
from frwatch.sources_config import SourceSpec
from frwatch.store import sources as source_store
from frwatch.urlguard import UrlGuard
from sqlalchemy import func, select

from tests.conftest import LOOPBACK, make_settings
from tests.feedserver import StubResolver

START = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta | None = None, **kwargs: float) -> datetime:
        self.now += delta or timedelta(**kwargs)
        return self.now


@contextlib.contextmanager
def black_hole() -> Iterator[int]:
    """A port on 127.0.0.1 whose accept queue is full: new connections are never answered
    (the kernel drops the SYN), so a client sees a connect timeout, not a refusal."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(4):
        filler = socket.socket()
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            filler.connect(("127.0.0.1", port))
        fillers.append(filler)
    time.sleep(0.05)
    try:
        yield port
    finally:
        for sock in (*fillers, listener):
            sock.close()


def free_port() -> int:
    """A port nothing listens on (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def fault_runtime(db_url: str, *, names: Mapping[str, list[str]] | None = None,
                        allow: tuple[Any, ...] = LOOPBACK, **overrides: Any) -> AsyncIterator[Runtime]:
    """A runtime with short limits and a stub resolver (``names``); the clock starts at START."""
    settings = make_settings(db_url, **{
        "fetch_timeout": timedelta(seconds=1.5), "connect_timeout": timedelta(seconds=0.5),
        "max_body_bytes": 256 * 1024, "max_redirects": 3, "lease_duration": timedelta(seconds=30),
        "webhook_timeout": timedelta(seconds=1), **overrides})
    resolver = StubResolver(names or {})
    async with open_runtime(settings, clock=Clock(), guard=UrlGuard(allow, resolver=resolver)) as rt:
        yield rt


async def add_sources(rt: Runtime, urls: Mapping[str, str], **fields: Any) -> None:
    specs = [SourceSpec(id=sid, name=sid, url=url, kind="news", language="en", **fields)
             for sid, url in urls.items()]
    async with rt.sessions() as s, s.begin():
        await source_store.sync_from_config(s, specs, rt.clock())


async def count(rt: Runtime, model: type, *where: Any) -> int:
    async with rt.sessions() as s:
        return await s.scalar(select(func.count()).select_from(model).where(*where)) or 0


async def rows(rt: Runtime, model: type, *where: Any) -> list[Any]:
    async with rt.sessions() as s:
        return list(await s.scalars(select(model).where(*where).execution_options(populate_existing=True)))


async def source(rt: Runtime, source_id: str) -> Source:
    async with rt.sessions() as s:
        found = await s.get(Source, source_id, populate_existing=True)
    assert found is not None, source_id
    return found


async def until(predicate: Any, timeout: float, what: str, step: float = 0.05) -> Any:
    """Wait for ``predicate()`` (sync or async) to be truthy; returns its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.1f}s waiting for {what}")
        await asyncio.sleep(step)
