"""Database faults while frwatch runs.

* PostgreSQL: every connection of frwatch's database is dropped with ``pg_terminate_backend``
  (what a server restart does to clients; the shared cluster itself is never restarted), between
  ticks and in the middle of a poll and of a delivery. frwatch keeps running, reconnects, and every
  published item and owed webhook arrives.
* SQLite: another process holds the write lock for a while (and then commits); frwatch waits for
  it (busy timeout) instead of failing the poll or the delivery.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from frwatch.db import create_engine
from frwatch.ingest.poll import poll_due
from frwatch.models import Item, Outbox, Source
from frwatch.notify.worker import Deliverer
from frwatch.service import Worker
from frwatch.timeutil import utcnow
from sqlalchemy import text

from tests.conftest import in_thread
from tests.faults.support import add_sources, count, fault_runtime, rows, until
from tests.feedbuild import FeedItem, rss
from tests.feedserver import FeedServer
from tests.webhooks import WebhookReceiver, add_subscription

ENFORCEMENT = [
    ("FTC bans Rite Aid from using facial recognition for five years",
     ("The Federal Trade Commission banned Rite Aid from using facial recognition technology and ordered "
     "it to delete the biometric data it collected.")),
    ("OAIC finds Bunnings breached privacy with facial recognition",
     ("The Australian Information Commissioner determined that Bunnings Group breached the Privacy Act by "
     "collecting facial images with facial recognition technology, and ordered it to stop.")),
    ("ICO fines Clearview AI £7.5 million over facial recognition database",
     ("The UK Information Commissioner's Office fined Clearview AI Inc £7,552,800 and ordered it to delete "
     "the images of UK residents.")),
    ("CNIL fines PimEyes €10 million over facial recognition searches",
     ("The French data protection authority CNIL fined PimEyes 10 million euros for processing biometric "
     "data with facial recognition without a legal basis.")),
    ("Garante fines Volto Sicuro €5 million for facial recognition cameras",
     ("Italy's Garante per la protezione dei dati personali fined Volto Sicuro Srl 5 million euros over "
     "facial recognition cameras in shops and ordered the biometric data deleted.")),
]


def story(n: int) -> FeedItem:
    title, summary = ENFORCEMENT[n]
    return FeedItem(title, summary, guid=f"story-{n}", link=f"https://news.example/{n}")


async def terminate_backends(db_url: str) -> int:
    """Drop every other connection to frwatch's database, as a PostgreSQL restart would."""
    engine = create_engine(db_url, isolation_level="AUTOCOMMIT", pool_size=1)
    try:
        async with engine.connect() as conn:
            result = await conn.execute(text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"))
            return int(result.scalar() or 0)
    finally:
        await engine.dispose()


class HeldFeed:
    """A feed whose answers can be held back, to cut the database while a poll is in flight."""

    def __init__(self, server: FeedServer, path: str):
        self.items: list[FeedItem] = []
        self.hold = False
        self.arrived = asyncio.Event()
        self.release = asyncio.Event()
        server.add_handler(path, self._handle)

    async def _handle(self, request: Any) -> Any:
        from aiohttp import web

        self.arrived.set()
        if self.hold:
            await asyncio.wait_for(self.release.wait(), 20)
        return web.Response(body=rss(self.items), headers={"Content-Type": "application/rss+xml"})


class CutOnce:
    """Wraps the classifier (called inside the transaction that stores a poll's result) and drops
    every database connection the first time ``armed`` is set: the commit of that poll fails."""

    def __init__(self, inner: Any, db_url: str):
        self.inner, self.db_url, self.armed, self.cut = inner, db_url, False, 0

    def classify(self, item: Any) -> Any:
        if self.armed:
            self.armed = False
            self.cut = in_thread(asyncio.run, terminate_backends(self.db_url))
        return self.inner.classify(item)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_postgres_connections_dropped_while_running_lose_nothing(db_url: str) -> None:
    async with FeedServer() as server, WebhookReceiver() as receiver:
        feed = HeldFeed(server, "/f.xml")
        feed.items = [story(0)]
        async with fault_runtime(db_url, tick_interval=timedelta(seconds=0.2), lease_duration=timedelta(seconds=2),
                                 min_poll_interval=timedelta(seconds=1),
                                 webhook_retry_schedule=(timedelta(seconds=1),) * 5) as rt:
            rt.clock = utcnow  # real time: the worker ticks on its own
            cutter = CutOnce(rt.classifier, db_url)
            rt.classifier = cutter  # type: ignore[assignment]
            await add_subscription(rt, receiver.url("/hook"))
            await add_sources(rt, {"f": server.url("/f.xml")}, poll_interval=timedelta(seconds=1))
            worker = Worker(rt)

            async def recorded(stories: int) -> None:
                """Each story's webhook received and its attempt recorded: no write in flight
                (a cut during one leaves its message to be sent again, a second webhook)."""
                await receiver.wait_for(stories, timeout=20)

                async def settled() -> bool:
                    outbox = await rows(rt, Outbox)
                    return len(outbox) == stories and all(r.status == "delivered" for r in outbox)
                await until(settled, 20, f"{stories} webhooks delivered and recorded")

            await worker.start()
            try:
                await recorded(1)  # story 0 polled, grouped, delivered

                # 1. between ticks: every pooled connection is dead; the pool replaces them
                assert await terminate_backends(db_url) >= 1
                feed.items = [story(1), *feed.items]
                await recorded(2)

                # 2. while a fetch is in flight (no connection is held across HTTP)
                feed.hold, feed.arrived = True, asyncio.Event()
                feed.items = [story(2), *feed.items]
                await asyncio.wait_for(feed.arrived.wait(), 10)
                await terminate_backends(db_url)
                feed.hold = False
                feed.release.set()
                await recorded(3)

                # 3. inside the transaction storing a poll's result: it fails, the lease expires,
                #    the source is polled again and the item is stored then
                cutter.armed = True
                feed.items = [story(3), *feed.items]
                await recorded(4)
                assert cutter.cut >= 1

                # 4. while a webhook is in flight: its attempt is recorded on a fresh connection
                receiver.hang("/hook")
                receiver.release.clear()
                feed.items = [story(4), *feed.items]
                await receiver.wait_for(5, timeout=15)
                await terminate_backends(db_url)
                del receiver.behaviours["/hook"]
                receiver.release.set()
                await recorded(5)
                assert worker.health() == "ok"
            finally:
                await worker.shutdown()
            assert await count(rt, Item) == 5
    delivered = {item["title"] for r in receiver.received for item in r.json["data"]["items"]}
    assert delivered == {title for title, _ in ENFORCEMENT}


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_pooled_connections_are_pinged_on_checkout(db_url: str) -> None:
    """A live pooled connection is used again; once a restart killed the pool's connections, the
    next transaction gets a new one instead of failing on a dead one."""
    engine = create_engine(db_url, pool_size=2)

    async def backend_pid() -> int:
        async with engine.connect() as conn:
            return int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())

    try:
        async with engine.connect() as first, engine.connect() as second:  # two pooled connections
            pids = {int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()) for conn in (first, second)}
        assert {await backend_pid() for _ in range(4)} == pids  # pinged, alive, kept
        assert await terminate_backends(db_url) >= 2
        after = await backend_pid()  # no error: the dead connection failed its ping and was replaced
        assert after not in pids
        async with engine.connect() as first, engine.connect() as second:  # the other dead one went too
            assert {int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())
                    for conn in (first, second)}.isdisjoint(pids)
    finally:
        await engine.dispose()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_sqlite_file_locked_by_another_writer_is_waited_on(db_url: str) -> None:
    path = db_url.split("///", 1)[1]
    async with FeedServer() as server, WebhookReceiver() as receiver:
        server.add_feed("/f.xml", rss([story(0), FeedItem("Newsletter", "opening hours", guid="n1")]))
        async with fault_runtime(db_url) as rt:
            await add_subscription(rt, receiver.url("/hook"))
            await add_sources(rt, {"f": server.url("/f.xml")})

            for phase in ("poll", "deliver"):
                holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
                holder.execute("BEGIN IMMEDIATE")  # another writer holds the write lock …
                holder.execute("UPDATE sources SET name = name || '' WHERE id = 'f'")
                released = threading.Timer(1.0, lambda h=holder: (h.execute("COMMIT"), h.close()))
                released.start()  # … for a second, then commits
                started = time.monotonic()
                try:
                    if phase == "poll":
                        outcomes = await poll_due(rt)
                        assert [(o.outcome, o.new) for o in outcomes] == [("new_items", 2)], outcomes
                    else:
                        deliverer = Deliverer(rt)
                        try:
                            assert await deliverer.deliver_due() == 1
                        finally:
                            await deliverer.close()
                finally:
                    released.join()
                assert time.monotonic() - started >= 0.9, f"{phase} did not wait for the lock"
            assert [r.status for r in await rows(rt, Outbox)] == ["delivered"]
            assert (await rows(rt, Source))[0].error_count == 0
    assert len(receiver.received) == 1
