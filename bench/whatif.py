"""What-if measurements: the poll/ingest/delivery benches with changes to other modules applied
by monkeypatching *in this process only*, to size a suggested change before anyone makes it.

    python bench/whatif.py --backend postgres --variants base,pool,pool+noping
    python bench/whatif.py --backend sqlite --variants base,syncnormal --quick

Each variant runs in its own process (patches never leak) on a fresh scratch database against one
farm, logging as ``bench/run.py`` does; the table gives items/s, sources/s and webhooks/s per
variant. Variants (join with "+"):

- ``pool``: engine pool of ``2 × fetch concurrency`` connections, so the poll batch never opens and
  closes overflow connections (db.create_engine defaults: 10 + 10 overflow).
- ``noping``: PostgreSQL connections handed out unpinged (one round trip less per transaction).
- ``syncnormal``: SQLite ``PRAGMA synchronous=NORMAL`` (WAL stays durable across a process crash;
  a power cut may lose the last commits).
- ``nobase``: feedparser without the ``content-location`` base (frwatch resolves links itself).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import subprocess
import sys
import tempfile
from dataclasses import replace
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
        engine = original(url, **kwargs)
        if "syncnormal" in variants and url.startswith("sqlite"):
            @event.listens_for(engine.sync_engine, "connect")
            def _normal(dbapi_conn: Any, _record: Any) -> None:
                cursor = dbapi_conn.cursor()
                cursor.execute("PRAGMA synchronous=NORMAL")
                cursor.close()
        return engine

    frwatch.runtime.create_engine = create_engine  # type: ignore[assignment]
    if "noping" in variants:
        frwatch.db._ping_on_checkout = lambda engine: None  # type: ignore[attr-defined]
    if "nobase" in variants:
        import frwatch.ingest.poll as poll

        poll.parse_feed = parse_feed_nobase  # type: ignore[assignment]


# --- nobase ------------------------------------------------------------------------------------

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

async def one_variant(url: str, farm_base: str, farm_pid: int, cfg: bench.Config) -> dict[str, Any]:
    class Farm(bench.FarmProcess):  # the parent's farm, reached over HTTP (its CPU read from /proc)
        def __init__(self, base: str, pid: int):
            self.base, self.pid = base, pid
            self.opener = bench.urllib.request.build_opener(bench.NO_PROXY)

    farm = Farm(farm_base, farm_pid)
    async with bench.open_runtime(bench.bench_settings(url, cfg)) as rt:
        out = await bench.bench_poll(rt, farm, cfg)
        delivery, _ = await bench.bench_delivery(rt, farm, cfg)
        out.update(delivery)
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", default="postgres")
    parser.add_argument("--variants", default="base,pool,pool+noping")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    cfg = bench.QUICK if args.quick else replace(bench.FULL, feeds=1000, delivery_events=30)
    if args.child:
        variant, url, farm_base, farm_pid = args.child
        apply(set(variant.split("+")), cfg.concurrency)
        with tempfile.TemporaryDirectory(prefix="frwatch-whatif-") as folder:
            bench.configure_logging("info", Path(folder) / "frwatch.log")  # as bench/run.py logs
            print(json.dumps(asyncio.run(one_variant(url, farm_base, int(farm_pid), cfg))))
        return 0
    farm = bench.FarmProcess(cfg.feeds, cfg.items, cfg.share)
    rows = {}
    try:
        for variant in args.variants.split(","):
            with bench.scratch_database(args.backend, Path(tempfile.gettempdir())) as url:
                done = subprocess.run([sys.executable, __file__, "--backend", args.backend,
                                       *(["--quick"] if args.quick else []),
                                       "--child", variant, url, farm.base, str(farm.pid)],
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
