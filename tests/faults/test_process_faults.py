"""Process faults: real ``frwatch run`` processes on one SQLite file, killed and restarted.

* SIGKILL while a feed fetch is in flight, then again while a webhook is in flight: after each
  restart (once the dead process's lease expires) the item is stored and the webhook delivered
  with the same ``webhook-id`` — nothing lost, at most one extra delivery (at-least-once).
* SIGTERM while a fetch is in flight that answers within the grace period: the result is stored
  and the process exits 0 before the grace period ends; SIGTERM while a webhook hangs past the
  grace period: the process exits 0 soon after it, leaving the message owed and unleased.

The same on PostgreSQL with three replicas is tests/e2e/test_replicas.py; the deliverer alone
killed mid-send is tests/integration/test_delivery_crash.py.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from tests.e2e.test_cli import frwatch_env
from tests.faults.support import free_port, until
from tests.feedbuild import FeedItem, rss
from tests.feedserver import FeedServer
from tests.webhooks import WebhookReceiver

pytestmark = pytest.mark.slow

ADMIN = "fault-admin-token"
LEASE_S = 2.0
GRACE_S = 3.0
STORY = FeedItem("ICO fines Clearview AI £7.5 million and orders deletion of UK data",
                 "The UK's Information Commissioner's Office has fined facial recognition company Clearview AI "
                 "Inc and issued an enforcement notice ordering it to delete the data of UK residents.",
                 guid="story-1", link="https://news.example/story-1")
FILLER = FeedItem("Office opening hours", "We are closed on Monday.", guid="filler-1")


class HeldFeed:
    """A feed that can hold its answers until released; counts the requests that arrived."""

    def __init__(self, server: FeedServer, path: str, items: list[FeedItem]):
        self.items = items
        self.hold = False
        self.release = asyncio.Event()
        self.arrivals = 0
        server.add_handler(path, self._handle)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.arrivals += 1
        if self.hold:
            await asyncio.wait_for(self.release.wait(), 30)
        return web.Response(body=rss(self.items), headers={"Content-Type": "application/rss+xml"})


class Frwatch:
    """One ``frwatch run`` process."""

    def __init__(self, tmp_path: Path, feed_url: str):
        self.tmp_path = tmp_path
        self.port = free_port()
        (tmp_path / "sources.yaml").write_text(
            f"sources:\n  - {{id: news, name: News, url: '{feed_url}', kind: news, language: en, poll_interval: 1s}}\n")
        self.env = frwatch_env(tmp_path, FRWATCH_SOURCES=str(tmp_path / "sources.yaml"),
                               FRWATCH_ALLOW_PRIVATE_NETWORKS="127.0.0.0/8", FRWATCH_ADMIN_TOKEN=ADMIN,
                               FRWATCH_PORT=str(self.port), FRWATCH_TICK_INTERVAL="200ms",
                               FRWATCH_POLL_INTERVAL="1s", FRWATCH_MIN_POLL_INTERVAL="1s",
                               FRWATCH_LEASE_DURATION=f"{LEASE_S}s", FRWATCH_GRACE_PERIOD=f"{GRACE_S}s",
                               FRWATCH_FETCH_TIMEOUT="20s", FRWATCH_WEBHOOK_TIMEOUT="20s",
                               FRWATCH_WEBHOOK_RETRY_SCHEDULE="1s,1s,1s,1s")
        self.proc: asyncio.subprocess.Process | None = None
        self.runs = 0

    @property
    def db(self) -> Path:
        return self.tmp_path / "frwatch.db"

    async def start(self) -> None:
        self.runs += 1
        log = open(self.tmp_path / f"run-{self.runs}.log", "wb")  # noqa: ASYNC230, SIM115 - the child writes to it
        self.proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "frwatch", "run", cwd=self.tmp_path,
                                                         env=self.env, stdout=log, stderr=log)
        async with aiohttp.ClientSession() as http:
            async def healthy() -> bool:
                assert self.proc is not None and self.proc.returncode is None, self.log()
                try:
                    async with http.get(f"http://127.0.0.1:{self.port}/healthz") as resp:
                        return resp.status == 200
                except aiohttp.ClientError:
                    return False
            await until(healthy, 30, "frwatch run to serve /healthz")

    def log(self) -> str:
        return (self.tmp_path / f"run-{self.runs}.log").read_text(errors="replace")[-3000:]

    async def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        assert await self.proc.wait() == -signal.SIGKILL

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()

    async def api(self, method: str, path: str, body: Any = None) -> Any:
        async with aiohttp.ClientSession() as http, http.request(
                method, f"http://127.0.0.1:{self.port}{path}", json=body,
                headers={"Authorization": f"Bearer {ADMIN}"}) as resp:
            assert resp.status < 300, await resp.text()
            return await resp.json()

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.db, timeout=10) as conn:
            return conn.execute(sql).fetchall()


async def test_sigkill_mid_poll_and_mid_delivery_then_restart_loses_nothing(tmp_path: Path) -> None:
    async with FeedServer() as server, WebhookReceiver() as receiver:
        feed = HeldFeed(server, "/news.xml", [FILLER])
        app = Frwatch(tmp_path, server.url("/news.xml"))
        try:
            # run 1: the first poll stores the filler; the subscription is made through the API
            await app.start()
            await until(lambda: app.query("SELECT count(*) FROM items")[0][0] == 1, 10, "first poll")
            await app.api("POST", "/v1/subscriptions", {"url": receiver.url("/hook")})
            # the story is published; the next fetch is held; the process dies while it hangs
            feed.items, feed.hold = [STORY, FILLER], True
            arrived = feed.arrivals
            await until(lambda: feed.arrivals > arrived, 10, "the held fetch")
            await app.kill()
            [(owner, _)] = app.query("SELECT lease_owner, lease_until FROM sources")
            assert owner is not None  # the dead process still holds the source
            assert app.query("SELECT count(*) FROM items")[0][0] == 1

            # run 2: the lease expires, the story is polled and stored; its webhook hangs; killed again
            feed.hold = False
            feed.release.set()
            receiver.hang("/hook")
            await app.start()
            first = await receiver.wait_for(1, "/hook", timeout=LEASE_S + 10)
            assert app.query("SELECT count(*) FROM items")[0][0] == 2
            await app.kill()
            [(status, leased, attempts)] = app.query("SELECT status, lease_owner, attempts FROM outbox")
            assert (status, attempts) == ("pending", 0) and leased is not None

            # run 3: the message is sent again once the lease expires, with the same webhook-id
            del receiver.behaviours["/hook"]
            receiver.release.set()
            await app.start()
            second = await receiver.wait_for(2, "/hook", timeout=LEASE_S + 10)
            await until(lambda: app.query("SELECT status FROM outbox") == [("delivered",)], 10, "delivered")
            assert first[0].id == second[1].id
            await asyncio.sleep(1.5)  # several ticks: nothing is sent a third time
            assert len(receiver.on("/hook")) == 2
            assert app.query("SELECT count(*) FROM items")[0][0] == 2
            assert app.query("SELECT count(*) FROM events")[0][0] == 1
            assert app.proc is not None
            app.proc.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(app.proc.wait(), GRACE_S + 10) == 0
        finally:
            await app.stop()
    titles = [item["title"] for item in second[1].json["data"]["items"]]
    assert titles == [STORY.title]


async def test_sigterm_drains_within_the_grace_period(tmp_path: Path) -> None:
    async with FeedServer() as server, WebhookReceiver() as receiver:
        feed = HeldFeed(server, "/news.xml", [FILLER])
        app = Frwatch(tmp_path, server.url("/news.xml"))
        try:
            await app.start()
            await until(lambda: app.query("SELECT count(*) FROM items")[0][0] == 1, 10, "first poll")
            await app.api("POST", "/v1/subscriptions", {"url": receiver.url("/hook")})
            feed.items, feed.hold = [STORY, FILLER], True
            arrived = feed.arrivals
            await until(lambda: feed.arrivals > arrived, 10, "the held fetch")

            # SIGTERM while the fetch hangs; it answers 1 s later, within the 3 s grace period
            assert app.proc is not None
            app.proc.send_signal(signal.SIGTERM)
            started = time.monotonic()
            await asyncio.sleep(1.0)
            feed.hold = False
            feed.release.set()
            assert await asyncio.wait_for(app.proc.wait(), GRACE_S + 10) == 0, app.log()
            assert time.monotonic() - started < GRACE_S + 1
            assert app.query("SELECT count(*) FROM items")[0][0] == 2  # the in-flight result was stored
            assert app.query("SELECT lease_owner FROM sources") == [(None,)]
            assert app.query("SELECT status, lease_owner FROM outbox") == [("pending", None)]

            # next run: the webhook hangs past the grace period; SIGTERM still ends the process
            receiver.hang("/hook")
            await app.start()
            await receiver.wait_for(1, "/hook", timeout=10)
            app.proc.send_signal(signal.SIGTERM)
            started = time.monotonic()
            assert await asyncio.wait_for(app.proc.wait(), GRACE_S + 10) == 0, app.log()
            assert time.monotonic() - started < GRACE_S + 6
            # the owed message is unleased, not lost: the next process may send it at once
            assert app.query("SELECT status, lease_owner FROM outbox") == [("pending", None)]
            del receiver.behaviours["/hook"]
            await app.start()
            await until(lambda: app.query("SELECT status FROM outbox") == [("delivered",)], 10, "delivered")
            assert len({r.id for r in receiver.on("/hook")}) == 1
        finally:
            await app.stop()
