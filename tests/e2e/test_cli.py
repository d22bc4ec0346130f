"""The ``frwatch`` command as a user runs it: real processes, real files, feeds on 127.0.0.1 or disk."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sqlite3
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from tests.feedbuild import FeedItem, rss
from tests.feedserver import FeedServer

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "feeds"
SEED_ITEM = FeedItem(
    "ICO fines Clearview AI £7.5 million and orders deletion of UK data",
    "The UK's Information Commissioner's Office has fined facial recognition company Clearview AI Inc "
    "and issued an enforcement notice ordering it to stop obtaining and to delete the data of "
    "UK residents.", guid="seed-1")


def frwatch_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A clean environment: no FRWATCH_* from the caller, only what the test sets."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRWATCH_")}
    env.update({"FRWATCH_LOG_FORMAT": "json", **extra})
    return env


async def frwatch(*args: str, cwd: Path, env: dict[str, str], timeout: float = 60) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "frwatch", *args, cwd=cwd, env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    return proc.returncode or 0, out.decode(), err.decode()


def log_lines(stderr: str) -> list[dict]:
    return [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]


def items_in(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT count(*) FROM items").fetchone()[0]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_run_once_stores_items_then_gets_304s(tmp_path: Path) -> None:
    async with FeedServer() as server:
        server.add_feed("/ftc.xml", FIXTURES / "real" / "ftc-press-release-competition.xml", etag='"e1"')
        server.add_feed("/seed.xml", rss([SEED_ITEM]), last_modified="Wed, 25 Nov 2026 10:00:00 GMT")
        (tmp_path / "sources.yaml").write_text(
            "sources:\n"
            f"  - {{id: ftc, name: FTC, url: '{server.url('/ftc.xml')}', kind: regulator, regulator: FTC, jurisdiction: US}}\n"
            f"  - {{id: seed, name: Seed, url: '{server.url('/seed.xml')}', kind: news, language: en}}\n")
        env = frwatch_env(tmp_path, FRWATCH_SOURCES=str(tmp_path / "sources.yaml"),
                          FRWATCH_ALLOW_PRIVATE_NETWORKS="127.0.0.0/8", FRWATCH_MIN_POLL_INTERVAL="1s",
                          FRWATCH_POLL_INTERVAL="1s")
        code, _, err = await frwatch("run", "--once", cwd=tmp_path, env=env)
        assert code == 0, err
        db = tmp_path / "frwatch.db"
        first = items_in(db)
        summary = [line for line in log_lines(err) if line["msg"] == "run --once finished"][0]
        assert summary["polled"] == 2 and summary["new_items"] == first > 10
        settled = [line for line in log_lines(err) if line["msg"] == "garbage collector settled"]
        assert len(settled) == 1 and settled[0]["frozen"] > 10_000 and settled[0]["thresholds"][0] == 10_000
        await asyncio.sleep(1.5)  # both sources due again (interval 1s ± 10%)
        code, _, err = await frwatch("run", "--once", cwd=tmp_path, env=env)
        assert code == 0, err
        summary = [line for line in log_lines(err) if line["msg"] == "run --once finished"][0]
        assert summary["polled"] == 2 and summary["not_modified"] == 2 and summary["new_items"] == 0
        assert items_in(db) == first
        assert server.hits["/ftc.xml"] == 2 and server.hits["/seed.xml"] == 2
    with sqlite3.connect(db) as conn:
        row = conn.execute("SELECT regulator, jurisdiction, target, action_type, amount, currency FROM events").fetchall()
    assert row == [("ICO", "GB", "Clearview AI", "fine", 7500000.0, "GBP")]


async def test_run_serves_healthz_polls_and_stops_on_sigterm(tmp_path: Path) -> None:
    """`frwatch run` with no settings but a port: creates frwatch.db, serves /healthz, polls."""
    feed = tmp_path / "feed.xml"
    feed.write_bytes(rss([FeedItem("A local item", "read from disk", guid="x1")]))
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "sources.yaml").write_text(
        f"sources:\n  - {{id: local, name: Local, url: '{feed.as_uri()}', kind: news}}\n")
    port = free_port()
    env = frwatch_env(tmp_path, FRWATCH_PORT=str(port))
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "frwatch", "run", cwd=tmp_path, env=env,
                                                stderr=asyncio.subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        async with aiohttp.ClientSession() as http:
            while True:
                try:
                    async with http.get(f"http://127.0.0.1:{port}/healthz") as resp:
                        if resp.status == 200 and (tmp_path / "frwatch.db").exists() and items_in(tmp_path / "frwatch.db"):
                            break
                except (aiohttp.ClientError, sqlite3.OperationalError):
                    pass
                assert time.monotonic() < deadline, "frwatch run did not come up and poll"
                await asyncio.sleep(0.2)
            async with http.get(f"http://127.0.0.1:{port}/readyz") as resp:
                body = await resp.json()
                assert resp.status == 200, body
                assert body["checks"] == {"database": "ok", "migrations": "ok", "scheduler": "ok"}
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 25) == 0
        assert time.monotonic() - started < 20
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert items_in(tmp_path / "frwatch.db") == 1
    assert proc.stderr is not None
    settled = [line for line in log_lines((await proc.stderr.read()).decode()) if line["msg"] == "garbage collector settled"]
    assert len(settled) == 1 and settled[0]["thresholds"][0] == 10_000


async def test_bad_setting_stops_start_up_with_one_line(tmp_path: Path) -> None:
    code, out, err = await frwatch("run", cwd=tmp_path, env=frwatch_env(tmp_path, FRWATCH_POLL_INTERVAL="-1m"))
    assert code == 2
    assert err.strip().splitlines() == ["frwatch: configuration error: FRWATCH_POLL_INTERVAL: duration must not be negative: '-1m'"]
    assert not (tmp_path / "frwatch.db").exists()


async def test_invalid_sources_file_names_entry_and_field(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text("sources:\n  - {id: ok-1, name: X, url: 'https://x.example/f', kind: maybe}\n")
    code, _, err = await frwatch("run", "--once", cwd=tmp_path,
                                 env=frwatch_env(tmp_path, FRWATCH_SOURCES=str(tmp_path / "s.yaml")))
    assert code == 2 and "entry ok-1: kind: must be one of regulator, news" in err


async def test_sources_commands_and_opml_round_trip(tmp_path: Path) -> None:
    env = frwatch_env(tmp_path)
    run = lambda *a: frwatch("sources", *a, cwd=tmp_path, env=env)  # noqa: E731
    code, out, err = await run("add", "--id", "ico-news", "--name", "ICO news", "--url", "https://ico.example/rss",
                               "--kind", "regulator", "--regulator", "ICO", "--jurisdiction", "GB", "--poll-interval", "1h")
    assert code == 0 and "added ico-news" in out, err
    code, out, _ = await run("add", "--id", "ico-news", "--name", "again", "--url", "https://ico.example/rss")
    assert code == 2
    code, out, _ = await run("list")
    assert "ico-news" in out and "every=1h" in out and "1 sources" in out
    code, out, _ = await run("export-opml", "--output", str(tmp_path / "out.opml"))
    assert code == 0
    opml = (tmp_path / "out.opml").read_text()
    assert 'xmlUrl="https://ico.example/rss"' in opml
    code, out, _ = await run("remove", "ico-news")
    assert code == 0 and "deleted ico-news" in out
    code, out, _ = await run("import-opml", str(tmp_path / "out.opml"))
    assert code == 0 and "imported 1 of 1" in out
    code, out, _ = await run("list")
    assert "ico-news" in out and "regulator" in out


async def test_scan_prints_verdicts_and_stores_nothing(tmp_path: Path) -> None:
    feed = tmp_path / "feed.xml"
    feed.write_bytes(rss([SEED_ITEM, FeedItem("Weather today", "Sunny", guid="w")]))
    code, out, err = await frwatch("scan", str(feed), "--json", cwd=tmp_path, env=frwatch_env(tmp_path))
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["is_enforcement"] for r in rows] == [True, False]
    assert rows[0]["regulator"] == "ICO" and rows[0]["amount"] == 7500000
    assert not (tmp_path / "frwatch.db").exists()


@pytest.mark.parametrize("bad", ["{not json", '{"title": 5}'])
async def test_classify_reports_bad_lines_and_goes_on(tmp_path: Path, bad: str) -> None:
    lines = "\n".join([json.dumps({"id": "1", "title": SEED_ITEM.title, "summary": SEED_ITEM.summary}), bad,
                       json.dumps({"id": "3", "title": "Unrelated", "summary": "Nothing"})])
    (tmp_path / "in.jsonl").write_text(lines + "\n")
    code, out, err = await frwatch("classify", "--input", str(tmp_path / "in.jsonl"), cwd=tmp_path,
                                   env=frwatch_env(tmp_path))
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["id"] for r in rows] == ["1", "3"]
    assert rows[0]["is_enforcement"] and rows[0]["event_id"] and not rows[1]["is_enforcement"]
    assert "line 2" in err and code == 1
