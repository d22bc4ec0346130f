"""Three real ``frwatch run`` processes on one PostgreSQL database (issue 7, replica safety).

A farm of 30 feeds and a webhook receiver run in this test on 127.0.0.1; every feed request and
every webhook is recorded with its time. The scenario, about a minute long:

1. three replicas start together on a freshly migrated database; a subscription is created
   through one replica's API; enforcement stories are published in some feeds;
2. while webhooks are being sent (the receiver holds every request), the replica holding outbox
   leases is killed with SIGKILL; its leases expire and the others finish its work;
3. while feed fetches hang, a replica holding source leases gets SIGTERM: when the fetches
   answer within the grace period their results are stored, otherwise they are cancelled at its
   end; either way the process exits with 0 and leaves no lease behind.

Then: no source was ever fetched by two replicas at once, every source was fetched about once per
interval all along, every report reached the subscriber in a correctly signed webhook, and a
``webhook-id`` arrived twice only for the messages the killed replica was sending.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import text
from standardwebhooks import Webhook

from frwatch.db import create_engine
from frwatch.migrate import head_revision
from tests.conftest import scratch_pg_database
from tests.faults.support import free_port, until
from tests.feedbuild import FeedItem, rss
from tests.feedserver import FeedServer

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

REPLICAS = 3
FEEDS = 30
INTERVAL = 3.0       # FRWATCH_POLL_INTERVAL = FRWATCH_MIN_POLL_INTERVAL, ±10% jitter
TICK = 1.0           # FRWATCH_TICK_INTERVAL
LEASE = 5.0          # FRWATCH_LEASE_DURATION
GRACE = 5.0          # FRWATCH_GRACE_PERIOD
FEED_DELAY = 0.3     # every feed answers this late, so polls are in flight most of the time
SLACK = 2.5          # scheduling slack on a loaded two-core machine
ADMIN = "replica-test-admin-token"

# (regulator's name, company, amount, currency sign): each story is one real-world action.
STORIES = [
    ("ICO", "Clearview AI", "7.5 million", "£"),
    ("CNIL", "Facewise SAS", "20 million", "€"),
    ("Garante", "Volto Sicuro Srl", "5 million", "€"),
    ("Dutch Data Protection Authority", "Gezicht BV", "30.5 million", "€"),
    ("OAIC", "FaceFinder Pty Ltd", "2 million", "A$"),
    ("FTC", "Rite Aid", "15 million", "$"),
    ("AEPD", "Rostro Analytics SL", "3 million", "€"),
    ("Hamburg data protection authority", "Gesicht GmbH", "1.2 million", "€"),
    ("ICO", "Serco Leisure", "4 million", "£"),
    ("CNIL", "PimEyes", "10 million", "€"),
    ("Garante", "Sorveglia SpA", "800,000", "€"),
    ("FTC", "Everalbum", "25 million", "$"),
    ("OAIC", "Bunnings Group", "3.5 million", "A$"),
    ("Dutch Data Protection Authority", "Scanbrug NV", "2.5 million", "€"),
    ("ICO", "Facewatch Ltd", "6 million", "£"),
    ("CNIL", "Visage Data SA", "12 million", "€"),
]
BATCH_1, BATCH_2 = STORIES[:8], STORIES[8:]


def story_item(n: int, story: tuple[str, str, str, str]) -> FeedItem:
    regulator, company, amount, sign = story
    title = f"{regulator} fines {company} {sign}{amount} over facial recognition"
    summary = (f"The {regulator} has fined {company} {sign}{amount} for processing biometric data with "
               f"facial recognition technology without a lawful basis, and ordered it to delete the images.")
    return FeedItem(title, summary, guid=f"story-{n}", link=f"https://news.example/story-{n}")


def filler(path: str) -> list[FeedItem]:
    return [FeedItem(f"Weekly newsletter {i} of {path}", "Opening hours and a new office address.",
                     guid=f"{path}-filler-{i}") for i in range(2)]


@dataclass
class Fetch:
    path: str
    start: float
    end: float = 0.0


class Farm:
    """FEEDS feeds on one FeedServer, answering after FEED_DELAY (or holding until released), with
    an ETag so an unchanged feed gets 304; every request is logged with its start and end."""

    def __init__(self, server: FeedServer):
        self.server = server
        self.items: dict[str, list[FeedItem]] = {}
        self.fetches: list[Fetch] = []
        self.holding = False
        self.released = asyncio.Event()
        self.held = 0
        for n in range(FEEDS):
            path = f"/feed-{n}.xml"
            self.items[path] = filler(path)
            server.add_handler(path, self._handler(path))

    def paths(self) -> list[str]:
        return list(self.items)

    def hold(self) -> None:
        """From now on every request waits for ``release`` (30 s at most)."""
        self.released = asyncio.Event()
        self.holding = True

    def release(self) -> None:
        self.holding = False
        self.released.set()

    def publish(self, path: str, item: FeedItem) -> None:
        self.items[path] = [item, *self.items[path]]

    def _handler(self, path: str):  # type: ignore[no-untyped-def]
        async def handle(request: web.Request) -> web.StreamResponse:
            fetch = Fetch(path, time.monotonic())
            self.fetches.append(fetch)
            try:
                if self.holding:
                    self.held += 1
                    try:
                        await asyncio.wait_for(self.released.wait(), 30)
                    finally:
                        self.held -= 1
                else:
                    await asyncio.sleep(FEED_DELAY)
                body = rss(self.items[path], title=path)
                etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
                if request.headers.get("If-None-Match") == etag:
                    return web.Response(status=304, headers={"ETag": etag})
                return web.Response(body=body, headers={"ETag": etag, "Content-Type": "application/rss+xml"})
            finally:
                fetch.end = time.monotonic()

        return handle


@dataclass
class Hook:
    id: str
    type: str
    titles: list[str]
    at: float
    verified: bool


@dataclass
class Receiver:
    """A webhook endpoint on 127.0.0.1 that checks every signature with ``standardwebhooks``."""

    secret: str = ""
    hooks: list[Hook] = field(default_factory=list)
    holding: bool = False
    released: asyncio.Event = field(default_factory=asyncio.Event)
    held: int = 0
    runner: web.AppRunner | None = None
    port: int = 0

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = self.runner.addresses[0][1]

    async def stop(self) -> None:
        self.released.set()
        if self.runner is not None:
            await self.runner.cleanup()

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.text()
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            Webhook(self.secret).verify(body, headers)
            verified = True
        except Exception:
            verified = False
        payload = json.loads(body)
        titles = [item["title"] for item in payload.get("data", {}).get("items", [])]
        self.hooks.append(Hook(headers.get("webhook-id", ""), payload.get("type", ""), titles,
                               time.monotonic(), verified))
        if self.holding:
            self.held += 1
            try:
                await asyncio.wait_for(self.released.wait(), 30)
            finally:
                self.held -= 1
        return web.Response(text="ok")


@dataclass
class Replica:
    name: str
    port: int
    log: Path
    proc: asyncio.subprocess.Process
    worker: str = ""

    @property
    def alive(self) -> bool:
        return self.proc.returncode is None

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.log.read_text(errors="replace").splitlines()
                if line.startswith("{")]


@pytest.fixture
async def database() -> Any:
    """A fresh PostgreSQL database of its own (fails under CI if the server is unreachable)."""
    async with scratch_pg_database("frwatch_replicas") as url:
        yield url


async def test_three_replicas_share_polling_and_delivery_and_survive_kill_and_term(
        tmp_path: Path, database: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRWATCH_")}
    env.update({
        "FRWATCH_DATABASE_URL": database, "FRWATCH_ADMIN_TOKEN": ADMIN, "FRWATCH_LOG_FORMAT": "json",
        "FRWATCH_LOG_LEVEL": "debug",  # a line for every poll, news or not: which replica polled what
        "FRWATCH_SOURCES": str(tmp_path / "sources.yaml"), "FRWATCH_ALLOW_PRIVATE_NETWORKS": "127.0.0.0/8",
        "FRWATCH_TICK_INTERVAL": f"{TICK:g}s", "FRWATCH_POLL_INTERVAL": f"{INTERVAL:g}s",
        "FRWATCH_MIN_POLL_INTERVAL": f"{INTERVAL:g}s", "FRWATCH_LEASE_DURATION": f"{LEASE:g}s",
        "FRWATCH_GRACE_PERIOD": f"{GRACE:g}s", "FRWATCH_WEBHOOK_TIMEOUT": "20s", "FRWATCH_FETCH_TIMEOUT": "40s",
        # the farm is one host; let it stand for many (the default of 2 per host would queue fetches)
        "FRWATCH_PER_HOST_CONCURRENCY": "16",
    })
    migrate = await asyncio.create_subprocess_exec(sys.executable, "-m", "frwatch", "migrate", cwd=tmp_path,
                                                   env=env, stdout=asyncio.subprocess.PIPE,
                                                   stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(migrate.communicate(), 60)
    assert migrate.returncode == 0, out.decode()

    engine = create_engine(database, pool_size=2)
    receiver = Receiver()
    replicas: list[Replica] = []

    async def sql(query: str, **params: Any) -> list[Any]:
        async with engine.connect() as conn:
            return list(await conn.execute(text(query), params))

    async def leases(table: str, worker: str, *, live: bool = True) -> set[str]:
        """Rows of ``table`` leased to ``worker`` (``live``: only leases not yet expired)."""
        query = f"SELECT id FROM {table} WHERE lease_owner = :w" + (" AND lease_until > now()" if live else "")
        return {row[0] for row in await sql(query, w=worker)}

    try:
        async with FeedServer() as server:
            farm = Farm(server)
            sources = [{"id": f"feed-{n}", "name": f"Feed {n}", "url": server.url(f"/feed-{n}.xml"),
                        "kind": "regulator" if n % 2 else "news", "language": "en"} for n in range(FEEDS)]
            (tmp_path / "sources.yaml").write_text(json.dumps({"sources": sources}))  # JSON is YAML
            await receiver.start()

            # --- 1. three replicas at once -------------------------------------------------------
            for n in range(REPLICAS):
                port, log = free_port(), tmp_path / f"replica-{n}.log"
                with log.open("wb") as sink:
                    proc = await asyncio.create_subprocess_exec(
                        sys.executable, "-m", "frwatch", "run", cwd=tmp_path,
                        env={**env, "FRWATCH_PORT": str(port)}, stdout=sink, stderr=sink)
                replicas.append(Replica(f"replica-{n}", port, log, proc))
            async with aiohttp.ClientSession() as http:
                async def ready(replica: Replica) -> bool:
                    assert replica.alive, f"{replica.name} exited:\n{replica.log.read_text()[-3000:]}"
                    try:
                        async with http.get(f"http://127.0.0.1:{replica.port}/readyz") as response:
                            return response.status == 200
                    except aiohttp.ClientError:
                        return False

                for replica in replicas:
                    await until(lambda r=replica: ready(r), 45, f"{replica.name} /readyz")
                    replica.worker = next(line["worker"] for line in replica.lines()
                                          if line.get("msg") == "frwatch running")
                t_ready = time.monotonic()

                async with http.post(f"http://127.0.0.1:{replicas[0].port}/v1/subscriptions",
                                     headers={"Authorization": f"Bearer {ADMIN}"},
                                     json={"url": f"http://127.0.0.1:{receiver.port}/hook",
                                           "description": "replica test"}) as response:
                    created = await response.json()
                    assert response.status == 201, created
                receiver.secret = created["secret"]

            paths = farm.paths()
            for n, story in enumerate(BATCH_1):
                farm.publish(paths[n], story_item(n, story))
            await until(lambda: {t for h in receiver.hooks for t in h.titles} >= titles(BATCH_1), 30,
                        "the first batch's webhooks")

            # --- 2. SIGKILL the replica that is sending webhooks ----------------------------------
            receiver.holding = True
            for n, story in enumerate(BATCH_2, start=len(BATCH_1)):
                farm.publish(paths[n], story_item(n, story))
            await until(lambda: receiver.held > 0, 30, "a webhook of the second batch in flight")

            async def sender() -> Replica | None:
                for replica in replicas:
                    if await leases("outbox", replica.worker):
                        return replica
                return None

            victim = await until(sender, 10, "a replica holding an outbox lease")
            victim.proc.send_signal(signal.SIGKILL)
            await victim.proc.wait()
            t_kill = time.monotonic()
            killed_outbox = await leases("outbox", victim.worker)
            killed_sources = await leases("sources", victim.worker)
            sent_by_victim = {h.id for h in receiver.hooks} & killed_outbox
            assert killed_outbox, "the killed replica held outbox leases"
            receiver.holding = False
            receiver.released.set()

            async def all_delivered() -> bool:
                rows = await sql("SELECT status, count(*) FROM outbox WHERE event_type <> 'subscription.ping' "
                                 "GROUP BY status")
                got = {t for h in receiver.hooks for t in h.titles}
                return dict(rows).keys() == {"delivered"} and got >= titles(STORIES)

            await until(all_delivered, LEASE + 25, "every owed webhook delivered after the kill", step=0.25)
            t_settled = time.monotonic()
            # let the killed replica's sources come round again (lease expiry, then a full interval)
            await asyncio.sleep(max(0.0, t_kill + LEASE + 2 * INTERVAL + TICK - time.monotonic()))

            # --- 3. SIGTERM while fetches hang: work in flight finishes within the grace period -----
            t_hang = time.monotonic()
            survivors = [r for r in replicas if r.alive]

            async def fetching() -> Replica | None:
                if farm.held == 0:
                    return None
                for replica in survivors:
                    if replica.alive and await leases("sources", replica.worker):
                        return replica
                return None

            async def terminate(replica: Replica, release_after: float | None) -> tuple[int, float, set[str]]:
                """SIGTERM ``replica`` while it fetches; the feeds answer ``release_after`` seconds
                later (None: not before it is gone). Returns (exit code, seconds taken, sources held)."""
                held = await leases("sources", replica.worker)
                started = time.monotonic()
                replica.proc.send_signal(signal.SIGTERM)
                if release_after is not None:
                    await asyncio.sleep(release_after)
                    farm.release()
                code = await asyncio.wait_for(replica.proc.wait(), GRACE + 15)
                return code, time.monotonic() - started, held

            # a) the fetches answer after 1.5 s, well within the grace period: they are stored
            farm.hold()
            draining = await until(fetching, 20, "a replica with a fetch in flight")
            drain_code, drain_took, drain_held = await terminate(draining, 1.5)
            drain_left = (await leases("sources", draining.worker, live=False)
                          | await leases("outbox", draining.worker, live=False))

            # b) the fetches hang past the grace period: cancelled, leases released, process gone
            survivors = [r for r in replicas if r.alive]
            farm.hold()
            hanging = await until(fetching, 20, "the last replica with a fetch in flight")
            hang_code, hang_took, hang_held = await terminate(hanging, None)
            hang_left = (await leases("sources", hanging.worker, live=False)
                         | await leases("outbox", hanging.worker, live=False))
            farm.release()
    finally:
        for replica in replicas:
            if replica.alive:
                replica.proc.kill()
                await replica.proc.wait()
        await receiver.stop()
        await engine.dispose()

    polled = {r.name: sum(line.get("msg") == "polled" for line in r.lines()) for r in replicas}
    print(f"polls per replica {polled}; killed replica held {len(killed_outbox)} webhooks "
          f"({len(sent_by_victim)} sent) and {len(killed_sources)} sources; webhooks received "
          f"{len(receiver.hooks)}; SIGTERM exits after {drain_took:.1f}s and {hang_took:.1f}s; "
          f"settled {t_settled - t_kill:.1f}s after the kill")
    logs = "\n".join(f"--- {r.name}\n{r.log.read_text()[-4000:]}" for r in replicas)

    # SIGTERM with work in flight that ends within the grace period: it is finished and stored
    shutdown_at = next(i for i, line in enumerate(draining.lines()) if line.get("msg") == "shutting down")
    stored_after = {line.get("source_id") for line in draining.lines()[shutdown_at:] if line.get("msg") == "polled"}
    assert drain_held and drain_held <= stored_after, (drain_held, stored_after, logs)
    assert drain_code == 0 and 1.5 <= drain_took <= 1.5 + 4, (drain_code, drain_took, logs)
    assert not drain_left, drain_left
    # SIGTERM with work that hangs past it: gone soon after the grace period, leases given back
    assert hang_held and hang_code == 0 and GRACE - 0.5 <= hang_took <= GRACE + 4, (hang_code, hang_took, logs)
    assert not hang_left, hang_left

    # no source was ever fetched by two replicas at once (requests before the hang phase)
    by_path: dict[str, list[Fetch]] = defaultdict(list)
    for fetch in farm.fetches:
        if fetch.start < t_hang:
            by_path[fetch.path].append(fetch)
    assert set(by_path) == set(farm.paths())
    for path, fetches in by_path.items():
        fetches.sort(key=lambda f: f.start)
        for before, after in zip(fetches, fetches[1:]):
            assert after.start >= before.end - 0.005, f"{path} fetched twice at once: {before} {after}"

    # once per interval: never early, never much late. The sources the killed replica held are
    # exempt across the kill: their next poll waits for the lease (counted from the claim, not
    # from the fetch) to expire.
    killed_paths = {f"/{source_id}.xml" for source_id in killed_sources}
    for path, fetches in by_path.items():
        starts = [f.start for f in fetches if f.start >= t_ready]
        gaps = [(b - a, a) for a, b in zip(starts, starts[1:])]
        for gap, at in gaps:
            if path in killed_paths and at <= t_kill < at + gap:
                assert gap <= LEASE + INTERVAL * 1.1 + TICK + FEED_DELAY + SLACK, (path, gap)
                continue
            assert gap >= 0.9 * INTERVAL - 0.05, f"{path} polled again after {gap:.2f}s: {gaps}"
            late = INTERVAL * 1.1 + TICK + FEED_DELAY + SLACK
            assert gap <= late, f"{path} waited {gap:.1f}s at +{at - t_ready:.1f}s: {gaps}"
        window = t_hang - t_ready
        assert len(starts) >= window / (INTERVAL * 1.1 + TICK + FEED_DELAY) - 2, (path, len(starts), window)
    for path in killed_paths:  # the killed replica's sources were taken over after the kill
        assert any(f.start > t_kill for f in by_path[path]), path

    # every replica took part in polling
    for replica in replicas:
        assert any(line.get("msg") == "polled" for line in replica.lines()), f"{replica.name} never polled"

    # every report delivered, signed; duplicates only for what the killed replica was sending
    assert receiver.hooks and all(h.verified for h in receiver.hooks), "a webhook failed signature checks"
    assert {t for h in receiver.hooks for t in h.titles} >= titles(STORIES)
    counts = Counter(h.id for h in receiver.hooks)
    duplicated = {hook_id for hook_id, n in counts.items() if n > 1}
    assert duplicated <= sent_by_victim, (duplicated, sent_by_victim)
    assert all(n <= 2 for n in counts.values()), counts
    assert t_settled - t_kill <= LEASE + 25
    per_event: dict[tuple[str, str], set[str]] = defaultdict(set)
    for hook in receiver.hooks:
        for title in hook.titles:
            per_event[(hook.type, title)].add(hook.id)
    assert all(len(ids) == 1 for ids in per_event.values()), "one message per report and change, not one per replica"


def titles(stories: list[tuple[str, str, str, str]]) -> set[str]:
    return {story_item(0, story).title for story in stories}


async def test_replicas_migrating_an_empty_database_at_once_all_succeed(tmp_path: Path, database: str) -> None:
    """Pods of a new Deployment (or `compose up --scale`) start together and each applies
    migrations: the first migrates, the others wait for it and find the schema at head."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRWATCH_")}
    env.update(FRWATCH_DATABASE_URL=database, FRWATCH_LOG_FORMAT="json")
    procs = [await asyncio.create_subprocess_exec(sys.executable, "-m", "frwatch", "migrate", cwd=tmp_path, env=env,
                                                  stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
             for _ in range(REPLICAS)]
    try:
        outputs = await asyncio.wait_for(asyncio.gather(*(proc.communicate() for proc in procs)), 90)
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    for proc, (out, _) in zip(procs, outputs):
        assert proc.returncode == 0, out.decode()[-3000:]
    engine = create_engine(database, pool_size=1)
    try:
        async with engine.connect() as conn:
            assert list(await conn.execute(text("SELECT version_num FROM alembic_version"))) == [(head_revision(),)]
    finally:
        await engine.dispose()
