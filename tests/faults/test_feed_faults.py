"""Feed faults through the whole ingest path (poll_due → fetch → parse → pipeline → DB), on
SQLite and PostgreSQL, with real HTTP on 127.0.0.1.

Every misbehaving feed of issue 6 §1 is a source of its own, served under a host name of its own
(a stub resolver answers 127.0.0.1), and all are polled in one cycle beside one healthy feed:
each fault must end as a recorded outcome on its source, never an exception, and the healthy
feed's items must be stored while the slow ones are still hanging.

Already covered elsewhere (not repeated here): fetcher-level behaviour of each fault in
tests/integration/test_fetch.py; back-off and recovery, permanent-redirect URL update, guids that
change on every fetch, items removed and re-added in tests/integration/test_poll.py; XXE, billion
laughs and date vectors at parse level in tests/unit/test_parse.py.
"""

from __future__ import annotations

import asyncio
import codecs
import time
from datetime import timedelta
from pathlib import Path

from aiohttp import web
from frwatch.ingest.poll import poll_due
from frwatch.models import Item, Source
from frwatch.runtime import Runtime
from sqlalchemy import select

from tests.faults.support import (
    START,
    add_sources,
    black_hole,
    count,
    fault_runtime,
    rows,
    source,
    until,
)
from tests.feedbuild import FeedItem, rss
from tests.feedserver import FeedServer

ACCENTED = "Amende de la CNIL à Clearview — 20 M€"


def doc(items: str, *, decl: str = "<?xml version='1.0' encoding='utf-8'?>", doctype: str = "") -> str:
    return (f"{decl}{doctype}<rss version='2.0'><channel><title>t</title><link>https://feed.example/</link>"
            f"<description>d</description>{items}</channel></rss>")


def item(title: str, guid: str, *, pub: str = "Wed, 25 Nov 2026 10:00:00 GMT", link: str = "") -> str:
    link_xml = f"<link>{link}</link>" if link else ""
    return f"<item><title>{title}</title><guid isPermaLink='false'>{guid}</guid>{link_xml}<pubDate>{pub}</pubDate></item>"


def host(sid: str) -> str:
    return f"{sid}.feeds.test"


async def test_every_feed_fault_is_recorded_and_never_delays_the_healthy_feed(db_url: str, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-4711")
    async with FeedServer() as server:
        port = server.port
        with black_hole() as hole:
            xxe_url = f"http://{host('xxe-url')}:{port}"
            routes: dict[str, str] = {}  # source id → URL

            def serve(sid: str, path: str | None = None) -> str:
                routes[sid] = server.url(path or f"/{sid}.xml", host=host(sid))
                return path or f"/{sid}.xml"

            server.add_feed(serve("good"), rss([FeedItem("Healthy one", "fine", guid="g1"),
                                                FeedItem("Healthy two", "fine", guid="g2")]))
            for status in (500, 502, 503):
                server.add_status(serve(f"http-{status}"), status, body=b"<h1>oops</h1>")
            routes["connect-timeout"] = f"http://{host('connect-timeout')}:{hole}/feed.xml"
            server.add_drip(serve("read-timeout"), delay_headers=30)
            server.add_drip(serve("drip"), chunk=b" ", interval=0.05, count=10_000)
            server.add_reset(serve("reset"))
            server.add_status(serve("busy"), 429, headers={"Retry-After": "3600"})
            server.add_status(serve("gone"), 410)
            # a chain of 3 hops over 3 hosts (the limit is 3), a loop, and one hop too many
            server.add_redirect(serve("chain"), server.url("/chain-2", host="hop2.feeds.test"))
            server.add_redirect("/chain-2", server.url("/chain-3", host="hop3.feeds.test"), status=302)
            server.add_redirect("/chain-3", "/chain-end", status=307)
            server.add_feed("/chain-end", rss([FeedItem("Reached by redirects", "x", guid="c1")]))
            server.add_redirect(serve("loop"), "/loop-2")
            server.add_redirect("/loop-2", "/loop.xml")
            server.add_redirect(serve("too-many"), "/m2")
            for n in range(2, 6):
                server.add_redirect(f"/m{n}", f"/m{n + 1}")
            server.add_large(serve("huge"), 2 * 1024 * 1024)
            server.add_large(serve("huge-declared"), 2 * 1024 * 1024, declare_length=True)
            server.add_gzip_bomb(serve("gzip-bomb"), 64 * 1024 * 1024)
            lol = "".join(f"<!ENTITY lol{n} '{f'&lol{n - 1};' * 10}'>" for n in range(2, 10))
            server.add_feed(serve("xml-bomb"), doc(item("&lol9;", "b1"),
                                                   doctype=f"<!DOCTYPE rss [<!ENTITY lol1 'lol'>{lol}]>"))
            server.add_feed(serve("xxe-file"), doc(item("leak &xxe;", "x1"),
                                                   doctype=f"<!DOCTYPE rss [<!ENTITY xxe SYSTEM '{secret.as_uri()}'>]>"))
            server.add_feed(serve("xxe-url"), doc(item("fetch &xxe;", "x2"),
                                                  doctype=f"<!DOCTYPE rss [<!ENTITY xxe SYSTEM '{xxe_url}/steal'>]>"))
            server.add_feed(serve("xxe-param"), doc(item("param", "x3"),
                                                    doctype=f"<!DOCTYPE rss [<!ENTITY % p SYSTEM '{xxe_url}/p.dtd'> %p;]>"))
            server.add_feed(serve("xxe-dtd"), doc(item("external dtd", "x4"),
                                                  doctype=f"<!DOCTYPE rss SYSTEM '{xxe_url}/evil.dtd'>"))
            server.add_feed(serve("truncated"), doc(item("Complete item", "t1") + item("Cut off", "t2"))[:-60])
            server.add_feed(serve("garbage"), b"\x00\x01\x02 {this is not xml} \xff\xfe",
                            content_type="application/octet-stream")
            latin1 = doc(item(ACCENTED.replace("—", "-").replace("€", "EUR"), "w1"),
                         decl="<?xml version='1.0' encoding='iso-8859-1'?>").encode("latin-1")
            server.add_feed(serve("wrong-charset"), latin1, content_type="application/rss+xml; charset=utf-8")
            server.add_feed(serve("missing-charset"), doc(item(ACCENTED, "m1"), decl="<?xml version='1.0'?>"),
                            content_type="text/xml")
            server.add_feed(serve("no-declaration-cp1252"),
                            doc(item("Caf\u00e9 \u201cquotes\u201d", "n1"), decl="").encode("cp1252"),
                            content_type="application/octet-stream")
            server.add_feed(serve("bom-utf8"), codecs.BOM_UTF8 + doc(item(ACCENTED, "u8")).encode())
            server.add_feed(serve("bom-utf16"), doc(item(ACCENTED, "u16"),
                                                    decl="<?xml version='1.0' encoding='utf-16'?>").encode("utf-16"))
            server.add_feed(serve("bom-vs-declaration"), codecs.BOM_UTF8 + doc(
                item(ACCENTED, "bd"), decl="<?xml version='1.0' encoding='iso-8859-1'?>").encode())
            server.add_feed(serve("html"), b"<!DOCTYPE html><html><body><h1>Welcome</h1></body></html>",
                            content_type="text/html; charset=utf-8")
            server.add_feed(serve("empty"), b"")
            server.add_feed(serve("whitespace"), b"  \r\n\t ")
            server.add_feed(serve("duplicate-guids"), doc(
                item("First story", "same", link="https://feed.example/1")
                + item("Second story", "same", link="https://feed.example/2")
                + item("First story", "same", link="https://feed.example/1")))
            server.add_feed(serve("dates"), doc(
                item("From the future", "d1", pub="Mon, 01 Jan 2099 00:00:00 GMT")
                + item("Unparseable date", "d2", pub="sometime last Tuesday")
                + item("Year zero", "d3", pub="Sat, 01 Jan 0000 00:00:00 GMT")
                + item("No date", "d4", pub="")))

            names = {host(sid): ["127.0.0.1"] for sid in routes} | {
                f"hop{n}.feeds.test": ["127.0.0.1"] for n in (2, 3)}
            async with fault_runtime(db_url, names=names) as rt:
                await add_sources(rt, routes)
                started = time.monotonic()
                cycle = asyncio.create_task(poll_due(rt))
                await until(lambda: count(rt, Item, Item.source_id == "good"), 5, "the healthy feed's items")
                good_after = time.monotonic() - started
                assert not cycle.done(), "the slow feeds should still be hanging"
                outcomes = {o.source_id: o for o in await cycle}
                elapsed = time.monotonic() - started
                states = {sid: await source(rt, sid) for sid in routes}
                items = {sid: await rows(rt, Item, Item.source_id == sid) for sid in routes}

    assert good_after < 1.0, f"the healthy feed waited {good_after:.2f}s for the broken ones"
    assert elapsed < 4.0, f"one cycle took {elapsed:.1f}s with a 1.5s fetch timeout"
    assert set(outcomes) == set(routes)
    assert all(s.lease_owner is None for s in states.values())

    def failed(sid: str, *words: str) -> None:
        state, outcome = states[sid], outcomes[sid]
        assert outcome.outcome == "error", (sid, outcome)
        assert state.error_count == 1 and state.enabled and state.next_poll_at > START, sid
        assert state.last_error and all(w in state.last_error for w in words), (sid, state.last_error)
        assert items[sid] == [], sid

    def stored(sid: str, *titles: str) -> list[Item]:
        assert outcomes[sid].outcome == "new_items", (sid, outcomes[sid], states[sid].last_error)
        assert states[sid].error_count == 0 and states[sid].last_error is None
        assert sorted(i.title for i in items[sid]) == sorted(titles), sid
        return items[sid]

    stored("good", "Healthy one", "Healthy two")
    for status in (500, 502, 503):
        failed(f"http-{status}", f"HTTP {status}")
        assert states[f"http-{status}"].last_status == status
    failed("connect-timeout", "connect timed out")
    failed("read-timeout", "timed out")
    failed("drip", "timed out")
    failed("reset", "connection broken")
    failed("busy", "HTTP 429")
    assert states["busy"].next_poll_at >= START + timedelta(hours=1)  # Retry-After honoured
    assert outcomes["gone"].outcome == "gone" and not states["gone"].enabled
    assert "410" in (states["gone"].disabled_reason or "")
    stored("chain", "Reached by redirects")
    assert states["chain"].url == routes["chain"]  # a 302/307 hop: the stored URL is kept
    failed("loop", "redirect loop")
    failed("too-many", "more than 3 redirects")
    failed("huge", "exceeds")
    failed("huge-declared", "exceeds")
    failed("gzip-bomb", "exceeds")
    # entity attacks: the DOCTYPE is dropped, nothing expands and nothing is read or fetched
    [bomb] = stored("xml-bomb", "&lol9;")
    assert "lollol" not in bomb.title + bomb.summary
    stored("xxe-file", "leak &xxe;")
    assert all("TOP-SECRET" not in i.title + i.summary for sid in routes for i in items[sid])
    stored("xxe-url", "fetch &xxe;")
    stored("xxe-param", "param")
    stored("xxe-dtd", "external dtd")
    assert server.hits["/steal"] == server.hits["/p.dtd"] == server.hits["/evil.dtd"] == 0
    # malformed XML: what is complete is kept; garbage is refused
    assert "Complete item" in [i.title for i in items["truncated"]]
    failed("garbage", "not an RSS/Atom feed")
    # charsets and BOMs: the text survives (exactly, when the bytes say what they are)
    assert "Clearview" in stored("wrong-charset", *[i.title for i in items["wrong-charset"]])[0].title
    [missing] = stored("missing-charset", *[i.title for i in items["missing-charset"]])
    assert "Clearview" in missing.title
    [cp1252] = stored("no-declaration-cp1252", *[i.title for i in items["no-declaration-cp1252"]])
    assert cp1252.title.startswith("Caf")
    stored("bom-utf8", ACCENTED)
    stored("bom-utf16", ACCENTED)
    stored("bom-vs-declaration", ACCENTED)
    failed("html", "HTML page")
    failed("empty", "empty body")
    failed("whitespace", "empty body")
    # one guid for two different stories: both kept, the repeat once, keyed by link from now on
    stored("duplicate-guids", "First story", "Second story")
    assert states["duplicate-guids"].dedup_mode == "link"
    # implausible or unreadable dates fall back to first-seen, never a wrong date
    dated = {i.title: i.published_at.replace(tzinfo=None) for i in
             stored("dates", "From the future", "Unparseable date", "Year zero", "No date")}
    assert set(dated.values()) == {START.replace(tzinfo=None)}


async def test_a_hanging_feed_does_not_fail_another_feed_of_the_same_host(db_url: str) -> None:
    """Per-host politeness queues the second feed behind the first; waiting in that queue must not
    count against the second feed's own fetch timeout."""
    async with FeedServer() as server:
        server.add_drip("/slow.xml", chunk=b" ", interval=0.05, count=10_000)
        server.add_feed("/fine.xml", rss([FeedItem("Fine", "ok", guid="f1")]))
        async with fault_runtime(db_url, per_host_concurrency=1, fetch_timeout=timedelta(seconds=1)) as rt:
            await add_sources(rt, {"slow": server.url("/slow.xml"), "fine": server.url("/fine.xml")})
            async with rt.sessions() as s, s.begin():  # the slow one first in line
                fine = await s.get(Source, "fine")
                assert fine is not None
                fine.next_poll_at = START + timedelta(seconds=1)
            rt.clock.advance(seconds=2)  # type: ignore[attr-defined]
            outcomes = {o.source_id: o.outcome for o in await poll_due(rt)}
            assert outcomes == {"slow": "error", "fine": "new_items"}
            assert await count(rt, Item, Item.source_id == "fine") == 1


async def test_a_feed_answering_slowly_within_the_timeout_is_stored(db_url: str) -> None:
    """Slow is not broken: a body dripped over 0.6 s with a 1.5 s limit is read whole."""
    body = rss([FeedItem(f"Story {n}", "text", guid=f"s{n}") for n in range(5)])

    async def slow(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/rss+xml"})
        await response.prepare(request)
        for start in range(0, len(body), len(body) // 6 + 1):
            await response.write(body[start:start + len(body) // 6 + 1])
            await asyncio.sleep(0.1)
        await response.write_eof()
        return response

    async with FeedServer() as server:
        server.add_handler("/slow.xml", slow)
        async with fault_runtime(db_url) as rt:
            await add_sources(rt, {"slow": server.url("/slow.xml")})
            [outcome] = await poll_due(rt)
            assert (outcome.outcome, outcome.new) == ("new_items", 5)


async def test_duplicate_guid_feed_keeps_its_items_across_polls(db_url: str) -> None:
    """After falling back to link keys, the next poll (same document) stores nothing new."""
    body = doc(item("First story", "same", link="https://feed.example/1")
               + item("Second story", "same", link="https://feed.example/2"))
    async with FeedServer() as server:
        server.add_feed("/d.xml", body)
        async with fault_runtime(db_url) as rt:
            await add_sources(rt, {"d": server.url("/d.xml")})
            assert [o.new for o in await poll_due(rt)] == [2]
            server.add_feed("/d.xml", body + "<!-- changed bytes, same items -->")
            rt.clock.advance(hours=2)  # type: ignore[attr-defined]
            assert [(o.outcome, o.new) for o in await poll_due(rt)] == [("no_change", 0)]
            async with rt.sessions() as s:
                keys = sorted(await s.scalars(select(Item.dedup_key)))
    assert keys == ["https://feed.example/1", "https://feed.example/2"]


async def test_hanging_feeds_do_not_hold_back_the_next_batch(db_url: str) -> None:
    """With more due sources than fetch slots, a slot freed by a fast feed is reused at once: the
    healthy feeds behind two hanging ones are stored long before those time out."""
    async with FeedServer() as server:
        server.add_drip("/hang-a.xml", count=10_000)
        server.add_drip("/hang-b.xml", count=10_000)
        urls = {"hang-a": server.url("/hang-a.xml", host="a.feeds.test"),
                "hang-b": server.url("/hang-b.xml", host="b.feeds.test")}
        for n in range(4):
            server.add_feed(f"/ok-{n}.xml", rss([FeedItem(f"Story {n}", "text", guid=f"s{n}")]))
            urls[f"ok-{n}"] = server.url(f"/ok-{n}.xml", host=f"ok{n}.feeds.test")
        names = {url.split("/")[2].split(":")[0]: ["127.0.0.1"] for url in urls.values()}
        async with fault_runtime(db_url, names=names, fetch_timeout=timedelta(seconds=2)) as rt:
            await add_sources(rt, urls)
            async with rt.sessions() as s, s.begin():  # the hanging ones are first in line
                for sid in urls:
                    (await s.get(Source, sid)).next_poll_at = START - timedelta(
                        minutes=10 if sid.startswith("hang") else 1)
            started = time.monotonic()
            cycle = asyncio.create_task(poll_due(rt, batch=3))
            await until(lambda: count(rt, Item), 5, "the healthy feeds' items")
            await until(lambda: _all_ok(rt), 1.5, "every healthy feed stored while two feeds hang")
            assert time.monotonic() - started < 1.5 and not cycle.done()
            outcomes = {o.source_id: o.outcome for o in await cycle}
    assert outcomes == {"hang-a": "error", "hang-b": "error", **{f"ok-{n}": "new_items" for n in range(4)}}


async def _all_ok(rt: Runtime) -> bool:
    return await count(rt, Item) == 4


async def test_header_bytes_that_are_not_utf8_are_stored_as_text_or_not_at_all(db_url: str) -> None:
    """Validators, a moved URL and a reason phrase with bytes that are not UTF-8 (HTTP allows
    them; aiohttp decodes them to surrogates, which no database stores): the items are stored,
    such validators are dropped, the moved URL is percent-encoded, the reason phrase shown with
    U+FFFD, and every later poll (and a sync of the sources) still reads the sources table."""
    feed = rss([FeedItem(title="ICO fines Clearview AI", guid="raw-1")])

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        path = (await reader.readuntil(b"\r\n\r\n")).split(b" ")[1]
        if path == b"/moved.xml":
            head = b"HTTP/1.1 301 Moved\r\nLocation: /caf\xe9.xml\r\nContent-Length: 0"
        elif path == b"/down.xml":
            head = b"HTTP/1.1 503 Service \xe0 bout de souffle\r\nContent-Length: 0"
        elif path == b"/page.xml":  # not a feed: the error quotes the Content-Type
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\xff\r\nContent-Length: 13\r\n"
                         b"Connection: close\r\n\r\n<html></html>")
            await writer.drain()
            writer.close()
            return
        else:
            head = (b'HTTP/1.1 200 OK\r\nETag: "caf\xe9"\r\nLast-Modified: \xff\xfe\r\n'
                    b"Content-Type: application/rss+xml\r\nContent-Length: %d" % len(feed))
        writer.write(head + b"\r\nConnection: close\r\n\r\n" + (feed if head.startswith(b"HTTP/1.1 200") else b""))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with fault_runtime(db_url) as rt:
            urls = {name: f"http://127.0.0.1:{port}/{name}.xml" for name in ("validators", "moved", "down", "page")}
            await add_sources(rt, urls)
            outcomes = {o.source_id: o.outcome for o in await poll_due(rt)}
            assert outcomes == {"validators": "new_items", "moved": "new_items", "down": "error", "page": "error"}
            stored = {s.id: s for s in await rows(rt, Source)}
            assert stored["validators"].etag is None and stored["validators"].last_modified is None
            assert stored["moved"].url == f"http://127.0.0.1:{port}/caf%E9.xml"
            assert "Service \ufffd bout de souffle" in (stored["down"].last_error or "")
            assert "text/html\ufffd" in (stored["page"].last_error or "")
            rt.clock.advance(days=2)  # type: ignore[attr-defined]
            assert len(await poll_due(rt)) == 4  # the table is still readable by the next claim
            await add_sources(rt, urls)  # … and by a sync of the sources file at start-up
    finally:
        server.close()
        await server.wait_closed()
