"""The feedparser corpus (tests/fixtures/feeds/feedparser-corpus/, 428 feeds) through the full
ingest path: every file is a source served by the local feed server (with the HTTP headers its
``Header:`` lines ask for), polled by ``poll_due``, parsed, classified, stored.

No file may cause an unhandled exception (the poller's "poll failed unexpectedly" log); a file
that is not a usable feed is recorded on its source as an error with a reason. A second cycle over
the same bytes stores nothing new. Parse-level checks of the same files are in
tests/unit/test_parse.py (test_corpus_never_crashes, test_corpus_mostly_parses).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from aiohttp import web
from frwatch.ingest.poll import poll_due
from frwatch.models import Item, Source

from tests.faults.support import add_sources, count, fault_runtime, rows
from tests.feedserver import FeedServer

CORPUS = Path(__file__).resolve().parents[1] / "fixtures" / "feeds" / "feedparser-corpus"
HEADER = re.compile(r"^Header:\s+([^:]+):(.*)$", re.MULTILINE)


def decoded(raw: bytes) -> str:
    for bom, codec in ((b"\x00\x00\xfe\xff", "utf-32-be"), (b"\xff\xfe\x00\x00", "utf-32-le"),
                       (b"\x00\x00\x00<", "utf-32-be"), (b"<\x00\x00\x00", "utf-32-le"),
                       (b"\x00<\x00?", "utf-16-be"), (b"<\x00?\x00", "utf-16-le"),
                       (b"\xfe\xff", "utf-16"), (b"\xff\xfe", "utf-16")):
        if raw.startswith(bom):
            return raw.decode(codec, "ignore")
    return raw.decode("utf-8", "ignore")


def served(path: Path) -> tuple[bytes, dict[str, str]]:
    """The file's bytes and the headers it is served with (``Header:`` lines; a Content-type of
    text/xml for the HTTP tests without one, as feedparser's runner does; application/xml otherwise)."""
    raw = path.read_bytes()
    headers = {name.strip(): value.strip() for name, value in HEADER.findall(decoded(raw))}
    headers.pop("Content-Length", None)
    if not any(name.lower() == "content-type" for name in headers):
        headers["Content-Type"] = "text/xml" if "http" in str(path.relative_to(CORPUS)) else "application/xml"
    return raw, headers


def handler(raw: bytes, headers: dict[str, str]):  # type: ignore[no-untyped-def]
    async def handle(request: web.Request) -> web.StreamResponse:
        etag = headers.get("ETag") or headers.get("Etag")
        if etag and request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        response = web.Response(body=raw)
        for name, value in headers.items():
            response.headers[name] = value
        return response

    return handle


@pytest.mark.slow
async def test_every_corpus_feed_goes_through_ingest_without_a_crash(db_url: str,
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    files = sorted(p for p in CORPUS.rglob("*.xml"))
    assert len(files) == 428
    urls: dict[str, str] = {}
    async with FeedServer() as server:
        for n, path in enumerate(files):
            rel = path.relative_to(CORPUS).as_posix()
            server.add_handler(f"/{rel}", handler(*served(path)))
            urls[f"c{n:03d}"] = server.url(f"/{rel}")
        async with fault_runtime(db_url, fetch_concurrency=16) as rt:
            await add_sources(rt, urls)
            caplog.set_level(logging.WARNING, logger="frwatch")
            first = {o.source_id: o for o in await poll_due(rt)}
            stored = await count(rt, Item)
            rt.clock.advance(days=2)  # type: ignore[attr-defined]
            second = {o.source_id: o for o in await poll_due(rt)}
            sources = {s.id: s for s in await rows(rt, Source)}
            assert await count(rt, Item) == stored

    crashes = [r for r in caplog.records if r.getMessage() in ("poll failed unexpectedly", "tick failed")]
    assert crashes == [], [getattr(r, "source_id", None) for r in crashes]
    assert set(first) == set(second) == set(urls)
    names = {sid: url.split("/", 3)[3] for sid, url in urls.items()}
    assert {o.outcome for o in first.values()} <= {"new_items", "no_change", "error"}
    assert {o.outcome for o in second.values()} <= {"not_modified", "no_change", "error"}
    for sid, outcome in first.items():
        state = sources[sid]
        assert state.lease_owner is None and state.polls == 2, names[sid]
        if outcome.outcome == "error":  # recorded on the source, with a reason, and retried later
            assert state.last_error and state.error_count == 2 and state.enabled, names[sid]
        else:
            assert state.last_error is None and state.error_count == 0, (names[sid], state.last_error)
    errors = sorted(names[sid] for sid, o in first.items() if o.outcome == "error")
    # the refused ones are documents without a feed: the empty one and CDF channels with no items
    assert len(errors) <= 10, errors
    for sid in (sid for sid, o in first.items() if o.outcome == "error"):
        assert re.search(r"empty body|not an RSS/Atom feed", sources[sid].last_error or ""), names[sid]
    with_items = sum(1 for o in first.values() if o.new)
    assert with_items >= 100 and stored >= 100
