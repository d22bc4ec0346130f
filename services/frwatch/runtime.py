"""The process-wide resources every part shares: settings, one engine, one HTTP session,
the URL guard, the classifier and the clock. Built once by ``open_runtime`` and closed once."""

from __future__ import annotations

import contextlib
import socket
import uuid
from dataclasses import dataclass, field
from typing import AsyncIterator

import aiohttp
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from frwatch.classify import Classifier
from frwatch.db import create_engine, pool_size_for, session_factory
from frwatch.ingest.fetch import FetchLimits, Fetcher, make_session
from frwatch.timeutil import Clock, utcnow
from frwatch.urlguard import UrlGuard
from frwatch.settings import Settings


def worker_id() -> str:
    """Names this process in leases, so an operator can see who holds what."""
    return f"{socket.gethostname()[:40]}-{uuid.uuid4().hex[:8]}"


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    http: aiohttp.ClientSession
    guard: UrlGuard
    fetcher: Fetcher
    classifier: Classifier
    clock: Clock = utcnow
    worker: str = field(default_factory=worker_id)


@contextlib.asynccontextmanager
async def open_runtime(settings: Settings, *, clock: Clock = utcnow, guard: UrlGuard | None = None,
                       classifier: Classifier | None = None) -> AsyncIterator[Runtime]:
    engine = create_engine(settings.database_url,
                           pool_size=pool_size_for(settings.fetch_concurrency, settings.webhook_concurrency))
    guard = guard or UrlGuard(settings.allow_private_networks)
    limits = FetchLimits.from_settings(settings)
    # one session for feeds and webhooks: room for every fetch and every webhook attempt at once
    http = make_session(limits, guard, limit=settings.fetch_concurrency + settings.webhook_concurrency)
    try:
        yield Runtime(
            settings=settings,
            engine=engine,
            sessions=session_factory(engine),
            http=http,
            guard=guard,
            fetcher=Fetcher(http, limits, guard),
            classifier=classifier or Classifier.load(settings.rules_dir),
            clock=clock,
        )
    finally:
        await http.close()
        await engine.dispose()
