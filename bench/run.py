"""frwatch benchmarks: polling, ingest, classification, delivery, end-to-end latency, memory.

    python bench/run.py            # every benchmark on SQLite and PostgreSQL (a few minutes)
    python bench/run.py --quick    # smaller figures, within a minute
    python bench/run.py --backends sqlite --only poll,delivery

Everything runs on 127.0.0.1: a feed and webhook farm (``bench/farm.py``, its own process) and
the real frwatch code paths (``open_runtime``, ``poll_due``, ``process_entries`` through the poll,
the ``Deliverer``, the ``Worker``'s scheduler) over a fresh SQLite file and a scratch PostgreSQL
database (created, migrated, dropped at the end; ``FRWATCH_BENCH_PG_URL``, default
postgresql+asyncpg://postgres@127.0.0.1:5432/test names the server). Each figure is printed beside
a baseline measured in the same run on the same farm: a bare aiohttp GET/POST loop (what this
machine does for HTTP on loopback) and a naive sequential ``feedparser.parse(url)`` loop. The
ratios with a target use the bare loop run right beside the figure on the same backend (before
each 304 cycle; before and after each delivery drain), because a shared host's speed drifts by
up to 2 × within minutes; those figures are the medians of three runs. On PostgreSQL ingest and
delivery are also measured with two processes sharing the database, as replicas do
(``--replica-child``), beside the one-process figures; on both backends, frwatch's signed attempt
runs in the bare POST loop's place with no database, which splits delivery's cost between the
attempt and the claiming and recording around it. The last
line printed is one JSON object with every figure and ratio.

Bench settings that differ from the defaults: ``FRWATCH_PER_HOST_CONCURRENCY`` is raised to the
global fetch concurrency because the farm is one host (in production feeds are spread over many).
The garbage collector is settled (``frwatch.gctune``) once each runtime is set up, as ``frwatch
run`` does once started. frwatch logs as ``frwatch run`` does by default (JSON lines at ``info``:
one per webhook attempt and per poll that found news), into a file in the run's scratch folder
where a container's log pipe would take them; ``--log-level warning`` leaves those lines out, as
the bench before 149b0d0 did (it did not configure frwatch's logging at all).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import hmac
import ipaddress
import json
import logging
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterator

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO / "services"))
sys.path.insert(0, str(BENCH))

import aiohttp  # noqa: E402
import feedparser  # noqa: E402
from sqlalchemy import func, select, text, update  # noqa: E402

from farm import ItemFactory  # noqa: E402
from frwatch import gctune, logs  # noqa: E402
from frwatch.classify import Classifier, ItemText  # noqa: E402
from frwatch.db import create_engine  # noqa: E402
from frwatch.ids import new_id  # noqa: E402
from frwatch.ingest.parse import parse_feed  # noqa: E402
from frwatch.ingest.poll import poll_due  # noqa: E402
from frwatch.migrate import upgrade  # noqa: E402
from frwatch.models import Event, Item, Outbox, Source, Subscription  # noqa: E402
from frwatch.notify.deliver import Message, send  # noqa: E402
from frwatch.notify.enqueue import EventChange, enqueue_event_changes  # noqa: E402
from frwatch.notify.matching import DETECTED  # noqa: E402
from frwatch.notify.signing import generate_secret  # noqa: E402
from frwatch.notify.worker import CLAIM_AFTER_S, Deliverer  # noqa: E402
from frwatch.runtime import Runtime, open_runtime  # noqa: E402
from frwatch.service import Worker  # noqa: E402
from frwatch.settings import Settings  # noqa: E402
from frwatch.sources_config import SourceSpec  # noqa: E402
from frwatch.store import queries  # noqa: E402
from frwatch.store import sources as source_store  # noqa: E402
from frwatch.store import subscriptions as subscription_store  # noqa: E402

PG_URL = os.environ.get("FRWATCH_BENCH_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"),)
NO_PROXY = urllib.request.ProxyHandler({})  # loopback only, whatever the environment says
LOG_ENV = "FRWATCH_BENCH_LOG"  # "LEVEL PATH": the child processes log where and as the parent does


@dataclass(frozen=True)
class Config:
    feeds: int  # sources polled in the poll/ingest cycles
    items: int  # items per feed document
    new_per_feed: int  # items published to every feed before the "200 with new items" cycle
    share: float  # enforcement share of the farm's items
    concurrency: int  # FRWATCH_FETCH_CONCURRENCY (and per host, see the docstring)
    endpoints: int  # K webhook endpoints (subscriptions) in the delivery bench
    delivery_events: int  # events seeded; each owes one webhook per endpoint
    replicas: int  # processes sharing the database in the replicas figures (PostgreSQL only)
    e2e_rate: float  # new items per second published during the e2e run
    e2e_seconds: float
    e2e_feeds: int
    e2e_endpoints: int
    e2e_poll: float  # seconds: poll interval of the e2e feeds (and the minimum)
    e2e_tick: float  # seconds: FRWATCH_TICK_INTERVAL in the e2e run
    rss_sources: int
    naive_sample: int  # feeds fetched by the naive feedparser loops
    classify_items: int


FULL = Config(feeds=2000, items=20, new_per_feed=5, share=0.1, concurrency=32, endpoints=100,
              delivery_events=100, replicas=2, e2e_rate=100, e2e_seconds=30, e2e_feeds=20, e2e_endpoints=10,
              e2e_poll=1.0, e2e_tick=0.2, rss_sources=10_000, naive_sample=400, classify_items=20_000)
QUICK = Config(feeds=100, items=10, new_per_feed=3, share=0.1, concurrency=32, endpoints=100,
               delivery_events=5, replicas=2, e2e_rate=100, e2e_seconds=3, e2e_feeds=20, e2e_endpoints=10,
               e2e_poll=1.0, e2e_tick=0.2, rss_sources=500, naive_sample=100, classify_items=3000)

BACKEND_TAGS = {"sqlite": "SQLite", "postgres": "PG"}  # the backends, and their tag in the printed tables
BASELINE_KEYS = ("bare_get_304_per_s", "bare_post_per_s")  # baselines a backend runs beside its figure
REPEATS = 3  # runs of the noisy figures (304 cycle, delivery drain, their bare loops); their median is reported

TARGETS = {  # figure → (comparison, value): printed as a pass/fail column
    "poll_304_sources_per_s": (">=", 1000),
    "ratio_poll_304_vs_bare_get": (">=", 0.5),
    "ingest_new_items_per_s": (">=", 2000),
    "ingest_replicas_new_items_per_s": (">=", 2000),
    "delivery_webhooks_per_s": (">=", 1000),
    "ratio_delivery_vs_bare_post": (">=", 0.5),
    "e2e_p99_s": ("<=", 2.0),
    "rss_peak_mb": ("<=", 300),
}


def configure_logging(level: str, path: Path) -> None:
    """frwatch's log lines as ``frwatch run`` writes them (JSON), at ``level``, appended to ``path``;
    this process's children do the same."""
    os.environ[LOG_ENV] = f"{level} {path}"
    logs.configure("json", level, path.open("a", encoding="utf-8"))
    logging.getLogger("apscheduler").setLevel(logging.ERROR)  # "skipped: max instances" when a tick overruns


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- the farm process --------------------------------------------------------------------------

class FarmProcess:
    """``bench/farm.py`` in its own process (it gets its own core), controlled over HTTP."""

    def __init__(self, feeds: int, items: int, share: float, latency_ms: float = 0, lifetime: float = 1800):
        self.proc = subprocess.Popen(
            [sys.executable, str(BENCH / "farm.py"), "--feeds", str(feeds), "--items", str(items),
             "--enforcement-share", str(share), "--latency-ms", str(latency_ms), "--lifetime", str(lifetime)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the farm did not start")
        self.port = json.loads(line)["port"]
        self.pid = self.proc.pid  # its CPU time is read from /proc by CpuMeter
        self.base = f"http://127.0.0.1:{self.port}"
        self.opener = urllib.request.build_opener(NO_PROXY)

    def feed_url(self, n: int) -> str:
        return f"{self.base}/feeds/{n}.xml"

    def hook_url(self, k: int) -> str:
        return f"{self.base}/hook/{k}"

    def ctl(self, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method="POST" if data is not None else "GET",
                                         headers={"Content-Type": "application/json"})
        with self.opener.open(request, timeout=60) as response:
            return json.loads(response.read())

    def etags(self, feeds: int) -> list[str]:
        """The current ETag of feeds 0 … ``feeds`` - 1, in order (for conditional GETs)."""
        by_feed = {int(k): v for k, v in self.ctl("/_ctl/stats?etags=1")["etags"].items()}
        return [by_feed[n] for n in range(feeds)]

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()  # the farm stops when its stdin closes
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# --- CPU accounting ----------------------------------------------------------------------------

def _proc_cpu_s(stat: str) -> float:
    fields_after_name = stat.rpartition(")")[2].split()  # the name may hold spaces
    return (int(fields_after_name[11]) + int(fields_after_name[12])) / os.sysconf("SC_CLK_TCK")


def _postgres_cpu_s() -> float:
    """CPU seconds of every local process named postgres (backends, and the server's own workers)."""
    total = 0.0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError):
            stat = Path(f"/proc/{pid}/stat").read_text()
            if "(postgres)" in stat:
                total += _proc_cpu_s(stat)
    return total


class CpuMeter:
    """CPU time spent per operation by this process (all its threads), the farm and PostgreSQL:
    what the 2 cores go to, so each figure's limit can be read off beside it. PostgreSQL is
    counted only when it runs on this machine (its backends and background workers, whoever
    they serve: run nothing else against it meanwhile)."""

    def __init__(self, farm: FarmProcess):
        self.farm_stat = Path(f"/proc/{farm.pid}/stat")
        self.spent = (0.0, 0.0, 0.0)

    def read(self) -> tuple[float, float, float]:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime, _proc_cpu_s(self.farm_stat.read_text()), _postgres_cpu_s()

    @contextlib.contextmanager
    def counting(self) -> Iterator[None]:
        """Add the CPU time of the block to what was spent so far."""
        before = self.read()
        yield
        self.spent = tuple(s + b - a for s, a, b in zip(self.spent, before, self.read()))  # type: ignore[assignment]

    def per_op(self, ops: int) -> dict[str, float]:
        """µs of CPU per operation so far: this process, the farm, PostgreSQL, and all three."""
        own, farm, postgres = (round(part / ops * 1e6, 1) for part in self.spent)
        return {"own": own, "farm": farm, "postgres": postgres, "total": round(own + farm + postgres, 1)}


# --- databases ---------------------------------------------------------------------------------

async def _pg_admin(sql: str) -> None:
    engine = create_engine(PG_URL, isolation_level="AUTOCOMMIT", pool_size=1)
    try:
        async with engine.connect() as conn:
            await conn.execute(text(sql))
    finally:
        await engine.dispose()


@contextlib.contextmanager
def scratch_database(backend: str, workdir: Path) -> Iterator[str]:
    """A migrated, empty database, dropped (or deleted) afterwards."""
    if backend == "sqlite":
        path = workdir / f"bench-{uuid.uuid4().hex[:6]}.db"
        url = f"sqlite+aiosqlite:///{path}"
        upgrade(url)
        try:
            yield url
        finally:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    from sqlalchemy.engine import make_url

    name = f"frwatch_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        yield url
    finally:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def bench_settings(url: str, cfg: Config, **overrides: Any) -> Settings:
    values: dict[str, Any] = dict(
        database_url=url, allow_private_networks=LOOPBACK, fetch_concurrency=cfg.concurrency,
        per_host_concurrency=cfg.concurrency,  # the farm is one host: see the module docstring
        sources=Path("/nonexistent/sources.yaml"))
    values.update(overrides)
    return Settings.from_env({}, **values)


async def add_sources(rt: Runtime, urls: list[str], prefix: str = "farm") -> None:
    specs = [SourceSpec(id=f"{prefix}-{n}", name=f"Farm feed {n}", url=url, kind="news") for n, url in enumerate(urls)]
    async with rt.sessions() as session, session.begin():
        await source_store.sync_from_config(session, specs, rt.clock())


async def make_all_due(rt: Runtime, ids: list[str] | None = None) -> None:
    async with rt.sessions() as session, session.begin():
        query = update(Source).values(next_poll_at=rt.clock() - timedelta(seconds=1))
        if ids is not None:
            query = query.where(Source.id.in_(ids))
        await session.execute(query)


async def timed_poll(rt: Runtime) -> tuple[float, Counter[str], int, int]:
    started = time.perf_counter()
    outcomes = await poll_due(rt)
    elapsed = time.perf_counter() - started
    return elapsed, Counter(o.outcome for o in outcomes), sum(o.new for o in outcomes), len(outcomes)


# --- baselines ---------------------------------------------------------------------------------

async def bare_get(urls: list[str], concurrency: int, etags: list[str] | None = None) -> tuple[float, int]:
    """One ClientSession, ``concurrency`` workers, GET every URL (conditional when ``etags``)."""
    statuses: Counter[int] = Counter()
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, trust_env=False) as session:
        work = iter(range(len(urls)))

        async def worker() -> None:
            for n in work:
                headers = {"If-None-Match": etags[n]} if etags else {}
                async with session.get(urls[n], headers=headers) as response:
                    await response.read()
                    statuses[response.status] += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    assert statuses[304 if etags else 200] == len(urls), statuses
    return len(urls) / elapsed, len(urls)


async def bare_post(urls: list[str], body: bytes, concurrency: int) -> float:
    """One ClientSession, ``concurrency`` workers, POST ``body`` to each URL in turn."""
    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=0)
    async with aiohttp.ClientSession(connector=connector, trust_env=False) as session:
        work = iter(range(len(urls)))

        async def worker() -> None:
            for n in work:
                async with session.post(urls[n], data=body, headers={"Content-Type": "application/json"}) as response:
                    await response.read()

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return len(urls) / (time.perf_counter() - started)


async def signed_send_loop(rt: Runtime, urls: list[str], body: str) -> float:
    """The bare POST loop with frwatch's own attempt (``notify.deliver.send``: signature, URL guard,
    capped read, the attempt's result) in place of the bare POST, over the runtime's session, and
    no database: beside the bare loop and the drain, it tells how much of delivery's cost is the
    attempt and how much the claiming and recording around it."""
    settings, secret = rt.settings, generate_secret()
    work = iter(range(len(urls)))

    async def worker() -> None:
        for n in work:
            message = Message(id=f"msg_bench{n:021d}", url=urls[n], body=body, secrets=[secret])  # new_id's length
            result = await send(rt.http, rt.guard, message, now=rt.clock(), timeout=settings.webhook_timeout,
                                user_agent=settings.user_agent)
            assert result.ok, result

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(settings.webhook_concurrency)))
    return len(urls) / (time.perf_counter() - started)


def naive_feedparser(urls: list[str], etags: list[str] | None = None) -> tuple[float, float]:
    """The sequential ``feedparser.parse(url)`` loop (its own HTTP, sanitising, URL resolution).
    Returns (sources/s, entries/s)."""
    entries = 0
    started = time.perf_counter()
    for n, url in enumerate(urls):
        parsed = feedparser.parse(url, etag=etags[n] if etags else None, handlers=[NO_PROXY])
        if etags:
            assert parsed.get("status") == 304, parsed.get("status")
        entries += len(parsed.entries)
    elapsed = time.perf_counter() - started
    return len(urls) / elapsed, entries / elapsed


def parse_only(bodies: list[bytes], url: str) -> dict[str, float]:
    """Items/s of the parsers alone on the same bodies: feedparser defaults, frwatch's parse_feed
    (feedparser without sanitising/URL resolution + its own plain-text pass), fastfeedparser."""
    count = sum(body.count(b"<item>") for body in bodies)
    figures: dict[str, float] = {}
    started = time.perf_counter()
    for body in bodies:
        feedparser.parse(body)
    figures["feedparser_default_items_per_s"] = count / (time.perf_counter() - started)
    started = time.perf_counter()
    for body in bodies:
        parse_feed(body, url=url, content_type="application/rss+xml; charset=utf-8")
    figures["frwatch_parse_feed_items_per_s"] = count / (time.perf_counter() - started)
    try:
        import fastfeedparser  # not a dependency: measured only where installed
    except ImportError:
        return figures
    started = time.perf_counter()
    for body in bodies:
        fastfeedparser.parse(body, include_tags=False, include_media=False, include_enclosures=False)
    figures["fastfeedparser_items_per_s"] = count / (time.perf_counter() - started)
    return figures


# --- benchmarks --------------------------------------------------------------------------------

async def bench_poll(rt: Runtime, farm: FarmProcess, cfg: Config) -> dict[str, Any]:
    """First cycle (every item new), a 304 cycle, then a 200 cycle with new items."""
    out: dict[str, Any] = {}
    await add_sources(rt, [farm.feed_url(n) for n in range(cfg.feeds)])
    ingest_meter = CpuMeter(farm)
    with ingest_meter.counting():
        elapsed, outcomes, new, polled = await timed_poll(rt)
    assert outcomes.get("new_items") == cfg.feeds, outcomes
    out["ingest_new_items_per_s"] = new / elapsed
    out["cpu_us_per_item_ingest"] = ingest_meter.per_op(new)
    out["ingest_first_cycle_sources_per_s"] = polled / elapsed
    out["ingest_new_items"] = new
    log(f"first cycle: {polled} sources, {new} new items in {elapsed:.2f}s")

    urls, etags = [farm.feed_url(n) for n in range(cfg.feeds)], farm.etags(cfg.feeds)
    rates, bare_rates, meter, bare_meter = [], [], CpuMeter(farm), CpuMeter(farm)
    for _ in range(REPEATS):  # a 304 cycle lasts a fraction of a second: the median of a few, each
        with bare_meter.counting():  # beside the bare GET loop run just before it (the host's speed drifts)
            bare_rates.append((await bare_get(urls, cfg.concurrency, etags))[0])
        await make_all_due(rt)
        with meter.counting():
            elapsed, outcomes, new, polled = await timed_poll(rt)
        assert outcomes.get("not_modified") == cfg.feeds, outcomes
        rates.append(polled / elapsed)
    out["poll_304_sources_per_s"], out["poll_304_sources_per_s_runs"] = statistics.median(rates), rates
    out["bare_get_304_per_s"], out["bare_get_304_per_s_runs"] = statistics.median(bare_rates), bare_rates
    out["cpu_us_per_poll_304"] = meter.per_op(REPEATS * cfg.feeds)
    out["cpu_us_per_bare_get_304"] = bare_meter.per_op(REPEATS * cfg.feeds)
    log(f"304 cycles: {polled} sources, {', '.join(f'{rate:.0f}' for rate in rates)} sources/s; bare GET "
        f"beside them {', '.join(f'{rate:.0f}' for rate in bare_rates)}/s")

    farm.ctl("/_ctl/publish", {"feeds": None, "per_feed": cfg.new_per_feed})
    await make_all_due(rt)
    elapsed, outcomes, new, polled = await timed_poll(rt)
    assert outcomes.get("new_items") == cfg.feeds and new == cfg.feeds * cfg.new_per_feed, (outcomes, new)
    out["poll_200_sources_per_s"] = polled / elapsed
    out["poll_200_new_items_per_s"] = new / elapsed
    log(f"200 cycle: {polled} sources, {new} new items in {elapsed:.2f}s")
    async with rt.sessions() as session:
        out["items_stored"] = await session.scalar(select(func.count()).select_from(Item))
        out["events_stored"] = await session.scalar(select(func.count()).select_from(Event))
    return out


async def add_subscriptions(rt: Runtime, urls: list[str]) -> list[tuple[str, str]]:
    made = []
    async with rt.sessions() as session, session.begin():
        for url in urls:
            secret = generate_secret()
            sub = await subscription_store.create(session, owner_id=None, secret=secret, now=rt.clock(), url=url,
                                                  description="bench", enabled=True, event_types=[], filters={})
            made.append((sub.id, secret))
    return made


async def seed_events(rt: Runtime, count: int, source_id: str = "bench-delivery") -> int:
    """``count`` events, one report each, and the outbox rows they owe (the pipeline's own enqueue).
    Their items belong to ``source_id``: a second seeding needs another source (same item keys)."""
    now = rt.clock()
    factory = ItemFactory(1.0, seed=99)
    async with rt.sessions() as session, session.begin():
        source = await session.get(Source, source_id)
        if source is None:
            source = Source(id=source_id, name="Bench regulator", url="https://news.example/feed.xml",
                            kind="regulator", enabled=False, origin="cli", created_at=now, updated_at=now,
                            next_poll_at=now, error_count=0, polls=0, dedup_mode="guid")
            session.add(source)
            await session.flush()
        changes = []
        for n in range(count):
            synth = factory.make(n, language="en", enforcement=True)
            event = Event(id=new_id("evt"), title=synth.title, summary=synth.summary, target_key=f"bench{n}",
                          occurred_at=now, first_seen_at=now, updated_at=now, item_count=1, regulator="ICO",
                          jurisdiction="GB", target=f"Bench Company {n}", action_type="fine", amount=7_500_000.0,
                          currency="GBP", score=0.93, reasons=["fine", "facial"])
            session.add(event)
            await session.flush()
            item = Item(source_id=source.id, dedup_key=synth.guid, title=synth.title, summary=synth.summary,
                        link=synth.link, language="en", content_hash=new_id("h"), published_at=now,
                        first_seen_at=now, updated_at=now, is_enforcement=True, score=0.93, reasons=[],
                        event_id=event.id)
            session.add(item)
            await session.flush()
            changes.append(EventChange(event, DETECTED))
        return await enqueue_event_changes(session, changes, now)


async def webhook_body(rt: Runtime) -> bytes:
    """One of the run's webhook bodies, as stored in the outbox: what the bare POST loop sends."""
    async with rt.sessions() as session:
        return (await session.scalar(select(Outbox.payload).limit(1)) or "").encode()


async def bench_delivery(rt: Runtime, farm: FarmProcess, cfg: Config) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """``REPEATS`` drains of the outbox by one deliverer, each between two runs of the bare POST loop
    (same endpoints, one of the run's webhook bodies): the host's speed drifts, and a drain lasts
    seconds, so the medians of the drains and of the bare loops are reported, as for the 304 cycle.
    The signed send loop runs once, between the first bare loop and the first drain."""
    subs = await add_subscriptions(rt, [farm.hook_url(k) for k in range(cfg.endpoints)])
    written = await seed_events(rt, cfg.delivery_events)
    body = await webhook_body(rt)
    bare = [await bench_bare_post(farm, cfg, body, rt.settings.webhook_concurrency)]
    signed = await timed_post_loop(farm, cfg, lambda urls: signed_send_loop(rt, urls, body.decode()))
    log(f"signed send loop: {signed[0]:.0f}/s")
    rates, delivered, body_sizes, meter = [], 0, [], CpuMeter(farm)
    for run in range(REPEATS):
        if run:  # each drain its own events (another source: same item keys)
            written = await seed_events(rt, cfg.delivery_events, source_id=f"bench-delivery-{run}")
        deliverer = Deliverer(rt)
        await deliverer.start()
        try:
            with meter.counting():
                started = time.perf_counter()
                made = await deliverer.drain()
                elapsed = time.perf_counter() - started
        finally:
            await deliverer.close()
        arrivals = farm.ctl("/_ctl/arrivals")["arrivals"]
        async with rt.sessions() as session:
            now_delivered = await session.scalar(
                select(func.count()).select_from(Outbox).where(Outbox.status == "delivered"))
        assert made == written == now_delivered - delivered == len(arrivals), (made, written, now_delivered,
                                                                              len(arrivals))
        delivered = now_delivered
        rates.append(made / elapsed)
        log(f"delivery: {made} webhooks to {cfg.endpoints} endpoints in {elapsed:.2f}s")
        body_sizes += [row[5] for row in arrivals]
        farm.ctl("/_ctl/reset", {})
        bare.append(await bench_bare_post(farm, cfg, body, rt.settings.webhook_concurrency))
    return {"delivery_webhooks_per_s": statistics.median(rates), "delivery_webhooks_per_s_runs": rates,
            "delivery_webhooks": delivered, "delivery_body_bytes_mean": statistics.fmean(body_sizes),
            "cpu_us_per_webhook": meter.per_op(delivered),
            "send_loop_per_s": signed[0], "cpu_us_per_send_loop": signed[1],
            "bare_post_per_s": statistics.median(rate for rate, _ in bare),
            "bare_post_per_s_runs": [rate for rate, _ in bare],
            "cpu_us_per_bare_post": {part: round(statistics.fmean(cpu[part] for _, cpu in bare), 1)
                                     for part in bare[0][1]}}, subs


def run_replicas(url: str, role: str, processes: int, meter: CpuMeter) -> tuple[list[dict[str, Any]], float]:
    """``processes`` replica processes (``--replica-child``) doing ``role`` on one database at once,
    started together once each has opened its runtime: their reports and the seconds until the
    last one finished (the farm's and PostgreSQL's CPU meanwhile counted on ``meter``)."""
    command = [sys.executable, str(Path(__file__).resolve()), "--replica-child", url, role]
    children = [subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
                for _ in range(processes)]
    try:
        for child in children:  # each has opened its runtime
            assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        with meter.counting():
            started = time.perf_counter()
            for child in children:
                assert child.stdin is not None
                child.stdin.write("go\n")
                child.stdin.flush()
            reports = [json.loads(child.stdout.readline()) for child in children if child.stdout is not None]
            elapsed = time.perf_counter() - started
    finally:  # told to exit only now: their PostgreSQL backends (and CPU times) live until they do
        for child in children:
            with contextlib.suppress(OSError):
                child.communicate("exit\n", timeout=60)
    return reports, elapsed


def replicas_cpu(meter: CpuMeter, reports: list[dict[str, Any]], ops: int) -> dict[str, float]:
    """CPU per operation of a replicas figure: "own" is the processes' (the parent idles meanwhile)."""
    cpu = meter.per_op(ops)
    own = round(sum(report["cpu_s"] for report in reports) / ops * 1e6, 1)
    return {**cpu, "own": own, "total": round(own + cpu["farm"] + cpu["postgres"], 1)}


async def bench_delivery_replicas(rt: Runtime, url: str, farm: FarmProcess, cfg: Config) -> dict[str, Any]:
    """PostgreSQL: ``cfg.replicas`` deliverer processes draining one outbox at once, as replicas
    do, between two runs of the bare POST loop. Beside the one-process figure, not in place of it:
    it tells how delivery scales with processes on this machine."""
    written = await seed_events(rt, cfg.delivery_events, source_id="bench-delivery-replicas")
    body = await webhook_body(rt)
    before = await bench_bare_post(farm, cfg, body, rt.settings.webhook_concurrency)
    meter = CpuMeter(farm)
    reports, elapsed = run_replicas(url, "deliver", cfg.replicas, meter)
    arrivals = len(farm.ctl("/_ctl/arrivals")["arrivals"])
    made = sum(report["made"] for report in reports)
    assert made == written == arrivals, (made, written, arrivals)  # no row sent twice
    log(f"delivery, {len(reports)} processes: {made} webhooks in {elapsed:.2f}s "
        f"({', '.join(str(report['made']) for report in reports)})")
    farm.ctl("/_ctl/reset", {})
    after = await bench_bare_post(farm, cfg, body, rt.settings.webhook_concurrency)
    return {"delivery_replicas": len(reports), "delivery_replicas_webhooks_per_s": made / elapsed,
            "delivery_replicas_bare_post_per_s": statistics.fmean([before[0], after[0]]),
            "cpu_us_per_webhook_replicas": replicas_cpu(meter, reports, made)}


def bench_ingest_replicas(url: str, farm: FarmProcess, cfg: Config) -> dict[str, Any]:
    """PostgreSQL: the first cycle's ingest (every item new) by ``cfg.replicas`` worker processes
    sharing a fresh database, as replicas do: the sources' leases split them between the processes.
    Beside the one-process figure: how ingest scales with processes on this machine."""
    async def add_farm_sources() -> None:
        async with open_runtime(bench_settings(url, cfg)) as rt:
            await add_sources(rt, [farm.feed_url(n) for n in range(cfg.feeds)])

    async def stored_items() -> int:
        async with open_runtime(bench_settings(url, cfg)) as rt, rt.sessions() as session:
            return await session.scalar(select(func.count()).select_from(Item)) or 0

    asyncio.run(add_farm_sources())
    meter = CpuMeter(farm)
    reports, elapsed = run_replicas(url, "poll", cfg.replicas, meter)
    new, polled = sum(report["new"] for report in reports), sum(report["polled"] for report in reports)
    assert polled == cfg.feeds and new == asyncio.run(stored_items()), (polled, new)  # none polled twice
    log(f"ingest, {len(reports)} processes: {new} new items in {elapsed:.2f}s "
        f"({', '.join(str(report['new']) for report in reports)})")
    return {"ingest_replicas": len(reports), "ingest_replicas_new_items_per_s": new / elapsed,
            "cpu_us_per_item_replicas": replicas_cpu(meter, reports, new)}


async def replica_child(url: str, role: str) -> None:
    """One process of a replicas figure: opens its runtime, says ready, once told to go (a line on
    stdin) drains the outbox (``deliver``) or polls every due source once (``poll``), reports what
    it did and its CPU time, and keeps its database connections until told to exit (another line)."""
    async with open_runtime(bench_settings(url, FULL)) as rt:
        gctune.settle()
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        cpu = time.process_time()
        report: dict[str, Any]
        if role == "deliver":
            deliverer = Deliverer(rt)
            await deliverer.start()
            try:
                report = {"made": await drain_while_pending(rt, deliverer)}
            finally:
                await deliverer.close()
        else:
            outcomes = await poll_due(rt)
            report = {"polled": len(outcomes), "new": sum(outcome.new for outcome in outcomes)}
        print(json.dumps({**report, "cpu_s": time.process_time() - cpu}), flush=True)
        await asyncio.to_thread(sys.stdin.readline)


async def drain_while_pending(rt: Runtime, deliverer: Deliverer, give_up_s: float = 30.0) -> int:
    """Drain until no message is pending; returns the attempts made. One ``drain`` ends when
    nothing is claimable now, which happens at once when another replica's leases fill every
    endpoint's slots (in one full run a child sent none of the 10,000); the worker
    drains again at its next tick, this loop sooner, at the deliverer's own claim cadence. Gives up
    after ``give_up_s`` without an attempt (the parent's count check then fails)."""
    made, idle_since = 0, time.monotonic()
    while True:
        if got := await deliverer.drain():
            made, idle_since = made + got, time.monotonic()
        async with rt.sessions() as session:
            pending = (await queries.outbox_backlog(session)).pending
        if not pending or time.monotonic() - idle_since > give_up_s:
            return made
        await asyncio.sleep(CLAIM_AFTER_S)


def verify_signature(secret: str, headers_id: str, timestamp: str, body: str, signature: str) -> bool:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    expected = base64.b64encode(hmac.new(key, f"{headers_id}.{timestamp}.{body}".encode(), hashlib.sha256).digest())
    return any(part == "v1," + expected.decode() for part in signature.split())


async def bench_e2e(url: str, farm: FarmProcess, cfg: Config, subs: list[tuple[str, str]]) -> dict[str, Any]:
    """The real scheduler loop (``Worker``) on a few frequently polled feeds while the farm
    publishes ``e2e_rate`` items/s; latency = farm publish time → signed webhook arrival."""
    interval = timedelta(seconds=cfg.e2e_poll)
    settings = bench_settings(url, cfg, tick_interval=timedelta(seconds=cfg.e2e_tick), poll_interval=interval,
                              min_poll_interval=interval)
    feeds = list(range(cfg.e2e_feeds))
    ids = [f"farm-{n}" for n in feeds]
    keep = [sub_id for sub_id, _ in subs[: cfg.e2e_endpoints]]
    async with open_runtime(settings) as rt:
        async with rt.sessions() as session, session.begin():
            await session.execute(update(Source).where(Source.id.not_in(ids)).values(enabled=False))
            await session.execute(update(Subscription).where(Subscription.id.not_in(keep)).values(enabled=False))
        await make_all_due(rt, ids)
        farm.ctl("/_ctl/reset", {})
        gctune.settle()
        worker = Worker(rt)
        await worker.start()
        try:
            await asyncio.sleep(cfg.e2e_poll + cfg.e2e_tick)  # the first polls fetch the current documents
            farm.ctl("/_ctl/reset", {})
            farm.ctl("/_ctl/stream", {"rate": cfg.e2e_rate, "duration": cfg.e2e_seconds, "feeds": feeds})
            await asyncio.sleep(cfg.e2e_seconds)
            deadline = time.monotonic() + 10
            expected = None
            while time.monotonic() < deadline:  # let the last items through, bounded
                stats = farm.ctl("/_ctl/stats")
                if stats["streams"] == 0:
                    published = farm.ctl("/_ctl/published")["published"]
                    expected = sum(1 for _, enf in published.values() if enf) * len(keep)
                    if stats["arrivals"] >= expected:
                        break
                await asyncio.sleep(0.25)
        finally:
            await worker.shutdown()
    data = farm.ctl("/_ctl/published")
    published, served = data["published"], data["served"]
    arrivals = farm.ctl("/_ctl/arrivals?bodies=1")["arrivals"]
    first: dict[tuple[str, str], float] = {}
    for at, path, _wid, _ts, _sig, body in arrivals:
        for item in json.loads(body)["data"].get("items", []):
            key = (item["link"], path)
            if item["link"] in published and (key not in first or at < first[key]):
                first[key] = at
    latencies = sorted(at - published[link][0] for (link, _), at in first.items())
    processing = sorted(at - served[link] for (link, _), at in first.items() if link in served)
    enforcement = [link for link, (_, enf) in published.items() if enf]
    missing = len(enforcement) * len(keep) - len(first)
    secrets = dict(subs)
    by_path = {f"/hook/{k}": secrets[sub_id] for k, (sub_id, _) in enumerate(subs)}
    # every arrival's signature is checked (Standard Webhooks: HMAC-SHA256 of "id.timestamp.body")
    bad = sum(1 for _at, path, wid, ts, sig, body in arrivals if not verify_signature(by_path[path], wid, ts, body, sig))
    log(f"e2e: {len(published)} items published ({len(enforcement)} enforcement), {len(arrivals)} webhooks, "
        f"{len(latencies)} latencies, {missing} missing")
    return {
        "e2e_items_published": len(published), "e2e_webhooks": len(arrivals), "e2e_missing": missing,
        "e2e_p50_s": percentile(latencies, 50), "e2e_p99_s": percentile(latencies, 99),
        "e2e_max_s": latencies[-1] if latencies else None,
        "e2e_processing_p50_s": percentile(processing, 50), "e2e_processing_p99_s": percentile(processing, 99),
        "e2e_bad_signatures": bad,
    }


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    index = min(len(values) - 1, max(0, round(p / 100 * len(values) + 0.5) - 1))
    return values[index]


async def bench_backend(url: str, farm: FarmProcess, cfg: Config, only: set[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    settings = bench_settings(url, cfg)
    subs: list[tuple[str, str]] = []
    async with open_runtime(settings) as rt:
        gctune.settle()  # as `frwatch run` does once started
        if rt.settings.database_url.startswith("postgresql"):
            async with rt.sessions() as session:
                out["server"] = (await session.scalar(text("SHOW server_version")))
        if only & {"poll", "ingest", "e2e"}:
            out.update(await bench_poll(rt, farm, cfg))
        if only & {"delivery", "e2e"}:
            delivery, subs = await bench_delivery(rt, farm, cfg)
            out.update(delivery)
        if "delivery" in only and rt.settings.database_url.startswith("postgresql"):
            out.update(await bench_delivery_replicas(rt, url, farm, cfg))
    if "e2e" in only:
        out.update(await bench_e2e(url, farm, cfg, subs))
    return out


def vm_kb(field_name: str, pid: int | str = "self") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    return 0


async def rss_child(url: str, farm_base: str, farm_feeds: int, sources: int, concurrency: int) -> dict[str, Any]:
    """In a fresh process: configure ``sources`` sources (all with the farm's current ETag, so the
    cycle is all 304s), run one poll cycle, report the peak RSS (VmHWM)."""
    import_mb = vm_kb("VmRSS") / 1024
    cfg = QUICK.__class__(**{**QUICK.__dict__, "concurrency": concurrency})
    opener = urllib.request.build_opener(NO_PROXY)
    with opener.open(f"{farm_base}/_ctl/stats?etags=1", timeout=60) as response:
        etags = {int(k): v for k, v in json.loads(response.read())["etags"].items()}
    async with open_runtime(bench_settings(url, cfg)) as rt:
        await add_sources(rt, [f"{farm_base}/feeds/{n % farm_feeds}.xml?src={n}" for n in range(sources)],
                          prefix="rss")
        async with rt.sessions() as session, session.begin():
            await session.execute(update(Source), [{"id": f"rss-{n}", "etag": etags[n % farm_feeds]}
                                                   for n in range(sources)])
        gctune.settle()
        setup_mb = vm_kb("VmHWM") / 1024
        elapsed, outcomes, _new, polled = await timed_poll(rt)
    return {"rss_peak_mb": vm_kb("VmHWM") / 1024, "rss_after_setup_mb": setup_mb,
            "rss_after_imports_mb": import_mb, "rss_cycle_sources_per_s": polled / elapsed,
            "rss_cycle_outcomes": dict(outcomes), "rss_sources": sources}


def run_rss_child(url: str, farm: FarmProcess, cfg: Config) -> dict[str, Any]:
    command = [sys.executable, str(Path(__file__).resolve()), "--rss-child", url, farm.base, str(cfg.feeds),
               str(cfg.rss_sources), str(cfg.concurrency)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"RSS child failed: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    log(f"RSS: {result['rss_sources']} sources, peak {result['rss_peak_mb']:.0f} MB, "
        f"cycle {result['rss_cycle_sources_per_s']:.0f} sources/s")
    return result


def bench_classify(cfg: Config) -> dict[str, Any]:
    clf = Classifier.load()
    factory = ItemFactory(cfg.share, seed=11)
    texts = [ItemText(id=s.guid, title=s.title, summary=s.summary, link=s.link, language=s.language)
             for s in (factory.make(n) for n in range(cfg.classify_items))]
    clf.classify(texts[0])
    started = time.perf_counter()
    hits = sum(clf.classify(item).is_enforcement for item in texts)
    elapsed = time.perf_counter() - started
    log(f"classify: {len(texts)} items in {elapsed:.2f}s ({hits} enforcement)")
    return {"classify_items_per_s": len(texts) / elapsed, "classify_enforcement_share": hits / len(texts)}


async def bench_baselines(farm: FarmProcess, cfg: Config) -> dict[str, Any]:
    urls = [farm.feed_url(n) for n in range(cfg.feeds)]
    etags = farm.etags(cfg.feeds)
    out: dict[str, Any] = {}
    meter = CpuMeter(farm)
    with meter.counting():
        rates = [(await bare_get(urls, cfg.concurrency, etags))[0] for _ in range(REPEATS)]  # as the 304 cycle
    out["bare_get_304_per_s"], out["bare_get_304_per_s_runs"] = statistics.median(rates), rates
    out["cpu_us_per_bare_get_304"] = meter.per_op(REPEATS * len(urls))
    out["bare_get_200_per_s"], _ = await bare_get(urls, cfg.concurrency)
    sample = urls[: cfg.naive_sample]
    out["naive_feedparser_304_sources_per_s"], _ = await asyncio.to_thread(naive_feedparser, sample, etags)
    out["naive_feedparser_200_sources_per_s"], out["naive_feedparser_items_per_s"] = await asyncio.to_thread(
        naive_feedparser, sample)
    opener = urllib.request.build_opener(NO_PROXY)
    bodies = [opener.open(url, timeout=30).read() for url in sample]
    out.update({f"parse_only_{k}": v for k, v in parse_only(bodies, urls[0]).items()})
    log("baselines: " + ", ".join(f"{k}={v:.0f}" for k, v in out.items() if isinstance(v, (int, float))))
    return out


async def timed_post_loop(farm: FarmProcess, cfg: Config,
                          loop: Callable[[list[str]], Awaitable[float]]) -> tuple[float, dict[str, float]]:
    """``loop`` POSTing to the K endpoints in turn: POSTs/s and the CPU per POST (the farm's
    record is cleared afterwards)."""
    count = max(cfg.endpoints * cfg.delivery_events, 2000)
    urls = [farm.hook_url(n % cfg.endpoints) for n in range(count)]
    meter = CpuMeter(farm)
    with meter.counting():
        rate = await loop(urls)
    farm.ctl("/_ctl/reset", {})
    return rate, meter.per_op(len(urls))


async def bench_bare_post(farm: FarmProcess, cfg: Config, body: bytes,
                          webhook_concurrency: int) -> tuple[float, dict[str, float]]:
    """The bare POST loop to the K endpoints: POSTs/s and the CPU per POST."""
    rate, cpu = await timed_post_loop(farm, cfg, lambda urls: bare_post(urls, body, webhook_concurrency))
    log(f"bare POST: {rate:.0f}/s")
    return rate, cpu


def machine() -> dict[str, Any]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    mem_kb = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                      if line.startswith("MemTotal")))
    import sqlalchemy

    return {"cpu": cpu, "cores": os.cpu_count(), "mem_gib": round(mem_kb / 1024 / 1024, 1),
            "loadavg_at_start": os.getloadavg()[0],
            "kernel": platform.release(), "python": platform.python_version(), "aiohttp": aiohttp.__version__,
            "sqlalchemy": sqlalchemy.__version__, "feedparser": feedparser.__version__}


def ratio(a: float | None, b: float | None) -> float | None:
    return None if not a or not b else a / b


def summarise(results: dict[str, Any]) -> list[tuple[str, str, str, str, str, str]]:
    """Table rows: figure, value, baseline, baseline value, ratio, target."""
    base = results["baselines"]
    rows: list[tuple[str, str, str, str, str, str]] = []

    def fmt(value: Any, digits: int = 0) -> str:
        return "—" if value is None else f"{value:,.{digits}f}"

    def target(key: str, value: Any) -> str:
        if key not in TARGETS or value is None:
            return ""
        op, limit = TARGETS[key]
        ok = value >= limit if op == ">=" else value <= limit
        return f"{op} {limit:g} {'ok' if ok else 'MISSED'}"

    cls = results.get("classify", {})
    if cls:
        rows.append(("classify items/s", fmt(cls["classify_items_per_s"]), "feedparser parse-only items/s",
                     fmt(base.get("parse_only_feedparser_default_items_per_s")),
                     fmt(results["ratios"].get("classify_vs_feedparser_parse"), 2), ""))
    for backend, tag in BACKEND_TAGS.items():
        figures = results.get(backend)
        if not figures:
            continue
        r = results["ratios"].get(backend, {})
        spec = [
            ("poll 304 cycle, sources/s", "poll_304_sources_per_s", "bare aiohttp GET (304)", "bare_get_304_per_s",
             "ratio_poll_304_vs_bare_get"),
            ("poll 304 cycle, sources/s", "poll_304_sources_per_s", "naive feedparser.parse(url) (304)",
             "naive_feedparser_304_sources_per_s", "ratio_poll_304_vs_naive"),
            ("poll 200+new cycle, sources/s", "poll_200_sources_per_s", "bare aiohttp GET (200)",
             "bare_get_200_per_s", "ratio_poll_200_vs_bare_get"),
            ("poll 200+new cycle, sources/s", "poll_200_sources_per_s", "naive feedparser.parse(url) (200)",
             "naive_feedparser_200_sources_per_s", "ratio_poll_200_vs_naive"),
            ("ingest (all new), new items/s", "ingest_new_items_per_s", "naive feedparser.parse(url) items/s",
             "naive_feedparser_items_per_s", "ratio_ingest_vs_naive"),
            (f"ingest (all new), {figures.get('ingest_replicas')} processes, new items/s",
             "ingest_replicas_new_items_per_s", "naive feedparser.parse(url) items/s", "naive_feedparser_items_per_s",
             "ratio_ingest_replicas_vs_naive"),
            ("signed send loop (no database), POSTs/s", "send_loop_per_s", "bare aiohttp POST", "bare_post_per_s",
             "ratio_send_loop_vs_bare_post"),
            ("delivery, webhooks/s", "delivery_webhooks_per_s", "bare aiohttp POST", "bare_post_per_s",
             "ratio_delivery_vs_bare_post"),
            (f"delivery, {figures.get('delivery_replicas')} processes, webhooks/s", "delivery_replicas_webhooks_per_s",
             "bare aiohttp POST", "delivery_replicas_bare_post_per_s", "ratio_delivery_replicas_vs_bare_post"),
        ]
        for label, key, base_label, base_key, ratio_key in spec:
            if key in figures:
                value = figures[key]
                shown_target = target(ratio_key, r.get(ratio_key)) or target(key, value)
                if base_key in figures:
                    base_label += ", run beside it"
                rows.append((f"[{tag}] {label}", fmt(value), base_label, fmt(figures.get(base_key, base.get(base_key))),
                             fmt(r.get(ratio_key), 2), shown_target))
        if "e2e_p99_s" in figures:
            rows.append((f"[{tag}] e2e latency p50 / p99 s", f"{fmt(figures['e2e_p50_s'], 2)} / "
                         f"{fmt(figures['e2e_p99_s'], 2)}", "poll interval (the wait before a fetch)",
                         f"{results['config']['e2e_poll']:g}", "", target("e2e_p99_s", figures["e2e_p99_s"])))
        if "rss_peak_mb" in figures:
            rows.append((f"[{tag}] peak RSS, {figures['rss_sources']:,} sources, MB",
                         fmt(figures["rss_peak_mb"]), "RSS after imports", fmt(figures["rss_after_imports_mb"]),
                         "", target("rss_peak_mb", figures["rss_peak_mb"]) if figures["rss_sources"] >= 10_000
                         else "(target is for 10,000)"))
    return rows


def compute_ratios(results: dict[str, Any]) -> None:
    """Each figure over its baseline: the one a backend ran beside the figure (bare GET 304,
    bare POST) when there is one, else the run's."""
    base = results["baselines"]
    ratios: dict[str, Any] = {}
    cls = results.get("classify", {})
    ratios["classify_vs_feedparser_parse"] = ratio(cls.get("classify_items_per_s"),
                                                   base.get("parse_only_feedparser_default_items_per_s"))
    for backend in BACKEND_TAGS:
        f = results.get(backend)
        if not f:
            continue
        baseline = {**base, **{key: value for key, value in f.items() if key in BASELINE_KEYS}}
        ratios[backend] = {
            "ratio_poll_304_vs_bare_get": ratio(f.get("poll_304_sources_per_s"), baseline.get("bare_get_304_per_s")),
            "ratio_poll_304_vs_naive": ratio(f.get("poll_304_sources_per_s"),
                                             baseline.get("naive_feedparser_304_sources_per_s")),
            "ratio_poll_200_vs_bare_get": ratio(f.get("poll_200_sources_per_s"), baseline.get("bare_get_200_per_s")),
            "ratio_poll_200_vs_naive": ratio(f.get("poll_200_sources_per_s"),
                                             baseline.get("naive_feedparser_200_sources_per_s")),
            "ratio_ingest_vs_naive": ratio(f.get("ingest_new_items_per_s"),
                                           baseline.get("naive_feedparser_items_per_s")),
            "ratio_ingest_replicas_vs_naive": ratio(f.get("ingest_replicas_new_items_per_s"),
                                                    baseline.get("naive_feedparser_items_per_s")),
            "ratio_send_loop_vs_bare_post": ratio(f.get("send_loop_per_s"), baseline.get("bare_post_per_s")),
            "ratio_delivery_vs_bare_post": ratio(f.get("delivery_webhooks_per_s"), baseline.get("bare_post_per_s")),
            "ratio_delivery_replicas_vs_bare_post": ratio(f.get("delivery_replicas_webhooks_per_s"),
                                                          f.get("delivery_replicas_bare_post_per_s")),
        }
    results["ratios"] = ratios


def print_table(results: dict[str, Any]) -> None:
    rows = summarise(results)
    m = results["machine"]
    print(f"frwatch benchmarks — {results['date']} — {results['mode']} — {m['cpu']}, {m['cores']} cores, "
          f"{m['mem_gib']} GiB, load average {m['loadavg_at_start']:.1f} at start")
    logged = results["log"]
    print(f"frwatch logged at {logged['level']}: {logged['lines']:,} JSON lines, {logged['bytes'] / 1e6:.1f} MB")
    print_rows(("figure", "frwatch", "baseline", "baseline value", "ratio", "target"), rows)
    cpu_rows = cpu_table(results)
    if cpu_rows:
        print("CPU per operation, µs: what the cores go to (this process with its threads, the farm, PostgreSQL)")
        print_rows(("operation", "process", "farm", "postgres", "total"), cpu_rows)


def print_rows(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print(" | ".join(str(cell).ljust(width) for cell, width in zip(row, widths)))


def cpu_table(results: dict[str, Any]) -> list[tuple[str, ...]]:
    """Rows of the CPU table: per backend, each bare loop beside frwatch's figure it was run with."""
    spec = [("bare GET (304), at the start", results["baselines"].get("cpu_us_per_bare_get_304"))]
    for backend, tag in BACKEND_TAGS.items():
        figures = results.get(backend, {})
        spec += [(f"[{tag}] bare GET (304), beside the cycles", figures.get("cpu_us_per_bare_get_304")),
                 (f"[{tag}] poll 304 cycle, per source", figures.get("cpu_us_per_poll_304")),
                 (f"[{tag}] ingest (all new), per item", figures.get("cpu_us_per_item_ingest")),
                 (f"[{tag}] ingest, {figures.get('ingest_replicas')} processes, per item (process: theirs)",
                  figures.get("cpu_us_per_item_replicas")),
                 (f"[{tag}] bare POST, beside delivery", figures.get("cpu_us_per_bare_post")),
                 (f"[{tag}] signed send loop (no database), per POST", figures.get("cpu_us_per_send_loop")),
                 (f"[{tag}] delivery, per webhook", figures.get("cpu_us_per_webhook")),
                 (f"[{tag}] delivery, {figures.get('delivery_replicas')} processes, per webhook (process: theirs)",
                  figures.get("cpu_us_per_webhook_replicas"))]
    return [(label, f"{cpu['own']:,.0f}", f"{cpu['farm']:,.0f}", f"{cpu['postgres']:,.0f}", f"{cpu['total']:,.0f}")
            for label, cpu in spec if cpu]


def log_summary(level: str, path: Path) -> dict[str, Any]:
    """What frwatch logged in the run (the lines it paid for), by message, before the file goes
    (``configure_logging`` created it)."""
    messages: Counter[str | None] = Counter()
    with path.open(encoding="utf-8", errors="replace") as lines:
        for line in lines:
            try:
                messages[json.loads(line).get("msg")] += 1
            except ValueError:  # a line cut short by a killed child, or not frwatch's
                messages["(not a JSON line)"] += 1
    return {"level": level, "lines": sum(messages.values()), "bytes": path.stat().st_size,
            "by_msg": dict(messages.most_common(8))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="frwatch benchmarks (127.0.0.1 only)")
    parser.add_argument("--quick", action="store_true", help="smaller figures, within a minute")
    parser.add_argument("--backends", default="sqlite,postgres", help="comma-separated: sqlite, postgres")
    parser.add_argument("--only", default="classify,baselines,poll,delivery,e2e,rss",
                        help="comma-separated subset of classify,baselines,poll,delivery,e2e,rss")
    parser.add_argument("--rss-child", nargs=5, metavar=("URL", "FARM", "FEEDS", "SOURCES", "CONCURRENCY"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--replica-child", nargs=2, metavar=("URL", "ROLE"), help=argparse.SUPPRESS)
    parser.add_argument("--log-level", choices=("info", "warning"), default="info",
                        help="frwatch's log level: info (the service's default) writes a line per webhook attempt "
                             "and per poll that found news")
    args = parser.parse_args(argv)
    if args.replica_child or args.rss_child:  # logs where and as its parent does
        level, path = os.environ[LOG_ENV].split(" ", 1)
        configure_logging(level, Path(path))
    if args.replica_child:
        asyncio.run(replica_child(*args.replica_child))
        return 0
    if args.rss_child:
        url, farm_base, feeds, sources, concurrency = args.rss_child
        print(json.dumps(asyncio.run(rss_child(url, farm_base, int(feeds), int(sources), int(concurrency)))))
        return 0
    cfg = QUICK if args.quick else FULL
    only = set(args.only.split(","))
    backends = [b for b in args.backends.split(",") if b]
    started = time.perf_counter()
    results: dict[str, Any] = {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
                               "mode": "quick" if args.quick else "full", "machine": machine(),
                               "config": cfg.__dict__, "baselines": {}}
    workdir = Path(tempfile.mkdtemp(prefix="frwatch-bench-"))
    log_file = workdir / "frwatch.log"
    configure_logging(args.log_level, log_file)
    farm = FarmProcess(cfg.feeds, cfg.items, cfg.share)
    try:
        if "classify" in only:
            results["classify"] = bench_classify(cfg)
        if "baselines" in only:
            results["baselines"].update(asyncio.run(bench_baselines(farm, cfg)))
        for backend in backends:
            log(f"— {backend} —")
            with scratch_database(backend, workdir) as url:
                results[backend] = asyncio.run(bench_backend(url, farm, cfg, only))
                if "rss" in only:
                    results[backend].update(run_rss_child(url, farm, cfg))
            if backend == "postgres" and "poll" in only:  # every item new again: a database of its own
                with scratch_database(backend, workdir) as url:
                    results[backend].update(bench_ingest_replicas(url, farm, cfg))
    finally:
        farm.close()
        results["log"] = log_summary(args.log_level, log_file)
        log_file.unlink()
        with contextlib.suppress(OSError):
            workdir.rmdir()
    compute_ratios(results)
    results["elapsed_s"] = round(time.perf_counter() - started, 1)
    print_table(results)
    print(json.dumps(results, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
