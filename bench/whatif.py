"""What-if measurements: the poll/ingest/delivery benches with changes to other modules applied
by monkeypatching *in this process only*, to size a suggested change before anyone makes it.

    python bench/whatif.py --backend postgres --variants base,pool,pool+noping,pool+batch304,pool+fastparse
    python bench/whatif.py --backend sqlite --variants base,syncnormal,syncnormal+batch304 --quick

Each variant runs in its own process (patches never leak) on a fresh scratch database against one
farm; the table gives items/s, sources/s and webhooks/s per variant. Variants (join with "+"):

- ``pool``: engine pool of ``2 × fetch concurrency`` connections, so the poll batch never opens and
  closes overflow connections (db.create_engine defaults: 10 + 10 overflow).
- ``noping``: ``pool_pre_ping=False`` (one round trip less per transaction).
- ``syncnormal``: SQLite ``PRAGMA synchronous=NORMAL`` (WAL stays durable across a process crash;
  a power cut may lose the last commits).
- ``batch304``: a poll cycle that writes the results of every unchanged source of a batch (304, or
  a body whose hash is unchanged) in one transaction, one executemany UPDATE, instead of one
  transaction per source.
- ``fastparse``: ``fastfeedparser`` (lxml) instead of feedparser inside ``parse_feed``, feedparser
  as the fallback; same DOCTYPE guard, same entries.
- ``nobase``: feedparser without the ``content-location`` base (frwatch resolves links itself).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import io
import json
import subprocess
import sys
import tempfile
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as bench  # noqa: E402


def apply(variants: set[str], concurrency: int) -> None:
    import frwatch.db
    import frwatch.runtime
    from sqlalchemy import event

    original = frwatch.db.create_engine

    def create_engine(url: str, **kwargs: Any):  # type: ignore[no-untyped-def]
        if "pool" in variants:
            kwargs.setdefault("pool_size", concurrency * 2)
            kwargs.setdefault("max_overflow", 8)
        if "noping" in variants and not url.startswith("sqlite"):
            kwargs["pool_pre_ping"] = False
        engine = original(url, **kwargs)
        if "syncnormal" in variants and url.startswith("sqlite"):
            @event.listens_for(engine.sync_engine, "connect")
            def _normal(dbapi_conn: Any, _record: Any) -> None:
                cursor = dbapi_conn.cursor()
                cursor.execute("PRAGMA synchronous=NORMAL")
                cursor.close()
        return engine

    frwatch.runtime.create_engine = create_engine  # type: ignore[assignment]
    if "batch304" in variants:
        import frwatch.ingest.poll as poll

        poll.poll_due = poll_due_batched  # type: ignore[assignment]
        bench.poll_due = poll_due_batched  # type: ignore[assignment]
    if "fastparse" in variants or "nobase" in variants:
        import frwatch.ingest.poll as poll

        poll.parse_feed = fast_parse_feed if "fastparse" in variants else parse_feed_nobase  # type: ignore[assignment]


# --- batch304: unchanged sources written in one transaction -------------------------------------

async def poll_due_batched(rt: Any, *, batch: int | None = None, stop: asyncio.Event | None = None) -> list[Any]:
    from sqlalchemy import bindparam, update

    from frwatch.ingest import poll
    from frwatch.ingest.fetch import FetchResult
    from frwatch.ingest.parse import body_hash
    from frwatch.ingest.schedule import next_poll_delay
    from frwatch.models import Source
    from frwatch.store import sources as source_store

    batch = batch or rt.settings.fetch_concurrency * 2
    cycle_start = rt.clock()
    outcomes: list[Any] = []

    async def fetch(source: Any) -> tuple[Any, Any]:
        try:
            return source, await rt.fetcher.fetch(source.url, etag=source.etag, last_modified=source.last_modified)
        except Exception as exc:  # noqa: BLE001 - handed to the per-source path below
            return source, exc

    async def one(source: Any, result: Any) -> Any:
        if isinstance(result, Exception):
            return await poll._record_failure(rt, source, result)
        try:
            parsed = await poll._parse(result, source)
        except Exception as exc:  # noqa: BLE001
            return await poll._record_failure(rt, source, exc)
        return await poll._record_success(rt, source, result, parsed)

    table = Source.__table__
    stmt = (update(table).where(table.c.id == bindparam("b_id"), table.c.lease_owner == rt.worker)
            .values(etag=bindparam("b_etag"), last_modified=bindparam("b_lm"), last_status=bindparam("b_status"),
                    last_error=None, error_count=0, last_polled_at=bindparam("b_now"),
                    last_success_at=bindparam("b_now"), polls=table.c.polls + 1, next_poll_at=bindparam("b_next"),
                    lease_owner=None, lease_until=None))
    while stop is None or not stop.is_set():
        async with rt.sessions() as session, session.begin():
            claimed = await source_store.claim_due(session, now=rt.clock(), due_by=cycle_start, worker=rt.worker,
                                                   lease=rt.settings.lease_duration, limit=batch)
        if not claimed:
            break
        fetched = await asyncio.gather(*(fetch(source) for source in claimed))
        quiet, busy = [], []
        for source, result in fetched:
            unchanged = isinstance(result, FetchResult) and not result.permanent_url and (
                result.not_modified or (result.body is not None and body_hash(result.body) == source.body_hash))
            (quiet if unchanged else busy).append((source, result))
        if quiet:
            now = rt.clock()
            rows = [{"b_id": s.id, "b_etag": r.etag, "b_lm": r.last_modified, "b_status": r.status, "b_now": now,
                     "b_next": now + next_poll_delay(poll.interval_of(s, rt), minimum=rt.settings.min_poll_interval,
                                                     maximum=rt.settings.max_poll_interval, max_age=r.max_age)}
                    for s, r in quiet]
            async with rt.sessions() as session, session.begin():
                await session.execute(stmt, rows)
            outcomes += [poll.PollOutcome(s.id, "not_modified" if r.not_modified else "no_change", r.status)
                         for s, r in quiet]
        outcomes += await asyncio.gather(*(one(source, result) for source, result in busy))
    return outcomes


# --- fastparse / nobase ------------------------------------------------------------------------

def fast_parse_feed(body: bytes, *, url: str, content_type: str | None = None, dedup_mode: str = "guid",
                    now: Any = None) -> Any:
    """parse_feed's contract with fastfeedparser doing the XML; feedparser when it cannot."""
    import fastfeedparser
    from feedparser.encodings import convert_to_utf8

    from frwatch.ingest import parse
    from frwatch.timeutil import utcnow

    if not body.strip():
        raise parse.NotAFeed("empty body: no feed document")
    now = now or utcnow()
    headers = {"content-type": content_type} if content_type else {}
    data = convert_to_utf8(headers, body, {})
    data, warning = parse.strip_dangerous_doctype(data)
    try:
        doc = fastfeedparser.parse(data, include_content=True, include_tags=False, include_media=False,
                                   include_enclosures=False)
    except Exception:  # noqa: BLE001 - anything odd goes the proven way
        return parse.parse_feed(body, url=url, content_type=content_type, dedup_mode=dedup_mode, now=now)
    entries = []
    for raw in doc.get("entries", []):
        adapted = {
            "title_detail": {"type": "text/plain", "value": raw.get("title") or ""},
            "summary_detail": {"type": "text/html", "value": raw.get("description") or ""},
            "content": raw.get("content") or [],
            "link": raw.get("link"), "id": raw.get("id"),
            "published": raw.get("published"), "updated": raw.get("updated"),
        }
        entry = parse._entry(adapted, url, now)
        if entry is not None:
            entries.append(entry)
    mode, keys = parse._assign_keys(entries, dedup_mode if dedup_mode in parse.DEDUP_MODES else "guid")
    unique: dict[str, Any] = {}
    for key, entry in zip(keys, entries):
        unique.setdefault(key, replace(entry, key=key))
    feed = doc.get("feed") or {}
    return parse.ParsedFeed(title=feed.get("title") or None, entries=list(unique.values()), ttl=None,
                            dedup_mode=mode, warning=warning)


def parse_feed_nobase(body: bytes, *, url: str, content_type: str | None = None, dedup_mode: str = "guid",
                      now: Any = None) -> Any:
    import feedparser

    from frwatch.ingest import parse

    original = feedparser.parse

    def without_base(stream: io.BytesIO, **kwargs: Any) -> Any:
        kwargs["response_headers"] = {"content-type": "application/xml; charset=utf-8"}
        return original(stream, **kwargs)

    parse.feedparser.parse = without_base  # type: ignore[assignment]
    try:
        return parse.parse_feed(body, url=url, content_type=content_type, dedup_mode=dedup_mode, now=now)
    finally:
        parse.feedparser.parse = original  # type: ignore[assignment]


# --- driver ------------------------------------------------------------------------------------

async def one_variant(url: str, farm_base: str, cfg: bench.Config) -> dict[str, Any]:
    class Farm(bench.FarmProcess):  # the parent's farm, reached over HTTP
        def __init__(self, base: str):
            self.base = base
            self.opener = bench.urllib.request.build_opener(bench.NO_PROXY)

    farm = Farm(farm_base)
    async with bench.open_runtime(bench.bench_settings(url, cfg)) as rt:
        out = await bench.bench_poll(rt, farm, cfg)
        delivery, _ = await bench.bench_delivery(rt, farm, cfg)
        out.update(delivery)
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", default="postgres")
    parser.add_argument("--variants", default="base,pool,pool+noping,pool+batch304,pool+fastparse")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    cfg = bench.QUICK if args.quick else replace(bench.FULL, feeds=1000, delivery_events=30)
    if args.child:
        variant, url, farm_base = args.child
        apply(set(variant.split("+")), cfg.concurrency)
        print(json.dumps(asyncio.run(one_variant(url, farm_base, cfg))))
        return 0
    farm = bench.FarmProcess(cfg.feeds, cfg.items, cfg.share)
    rows = {}
    try:
        for variant in args.variants.split(","):
            with bench.scratch_database(args.backend, Path(tempfile.gettempdir())) as url:
                done = subprocess.run([sys.executable, __file__, "--backend", args.backend,
                                       *(["--quick"] if args.quick else []), "--child", variant, url, farm.base],
                                      capture_output=True, text=True, timeout=900)
                if done.returncode:
                    print(done.stderr[-3000:], file=sys.stderr)
                    continue
                rows[variant] = json.loads(done.stdout.strip().splitlines()[-1])
                r = rows[variant]
                bench.log(f"{variant}: ingest {r['ingest_new_items_per_s']:.0f} items/s, 304 "
                          f"{r['poll_304_sources_per_s']:.0f}/s, 200 {r['poll_200_sources_per_s']:.0f}/s, "
                          f"delivery {r['delivery_webhooks_per_s']:.0f}/s")
    finally:
        farm.close()
    print(f"{'variant':28} {'ingest items/s':>15} {'304 sources/s':>14} {'200 sources/s':>14} {'webhooks/s':>11}")
    for variant, r in rows.items():
        print(f"{variant:28} {r['ingest_new_items_per_s']:15.0f} {r['poll_304_sources_per_s']:14.0f} "
              f"{r['poll_200_sources_per_s']:14.0f} {r['delivery_webhooks_per_s']:11.0f}")
    print(json.dumps({"backend": args.backend, "feeds": cfg.feeds, "items": cfg.items, "variants": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
