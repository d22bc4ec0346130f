"""Fetcher against a real HTTP server on 127.0.0.1 (tests/feedserver.py)."""

from __future__ import annotations

import asyncio
import ipaddress
import os
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from email.utils import formatdate
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from frwatch.errors import PermanentError, RetryableError, UrlRefused
from frwatch.ingest.fetch import (
    MAX_AGE,
    BodyTooLarge,
    Fetcher,
    FetchError,
    FetchLimits,
    SourceGone,
    make_session,
    parse_max_age,
)
from frwatch.notify.deliver import Message, send
from frwatch.notify.signing import generate_secret
from frwatch.settings import Settings
from frwatch.timeutil import MAX_RETRY_AFTER, parse_retry_after, utcnow
from frwatch.urlguard import UrlGuard

from tests.feedserver import FeedServer, Handler, StubResolver

FEEDS = Path(__file__).resolve().parents[1] / "fixtures" / "feeds"
FTC = FEEDS / "real" / "ftc-press-release-competition.xml"
GUARD_NETS = [ipaddress.ip_network("127.0.0.0/8")]
GUARD = UrlGuard(GUARD_NETS)
LIMITS = FetchLimits(connect_timeout=2, total_timeout=3, user_agent="frwatch-test/1", max_body_bytes=1024 * 1024)


@pytest.fixture
async def server() -> AsyncIterator[FeedServer]:
    async with FeedServer() as feed_server:
        yield feed_server


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with make_session(LIMITS, GUARD) as http:
        yield http


@pytest.fixture
def fetcher(session: aiohttp.ClientSession) -> Fetcher:
    return Fetcher(session, LIMITS, GUARD)


def with_limits(session: aiohttp.ClientSession, **changes: object) -> Fetcher:
    return Fetcher(session, replace(LIMITS, **changes), GUARD)


async def test_plain_fetch_returns_body_and_validators(server: FeedServer, fetcher: Fetcher) -> None:
    server.add_feed("/feed.xml", FTC, etag='"v1"', last_modified="Tue, 28 Jul 2026 10:00:00 GMT",
                    headers={"Cache-Control": "public, max-age=600"})
    result = await fetcher.fetch(server.url("/feed.xml"))
    assert result.status == 200 and not result.not_modified
    assert result.body == FTC.read_bytes()
    assert result.url == server.url("/feed.xml") and result.permanent_url is None
    assert result.content_type == "application/rss+xml; charset=utf-8"
    assert result.etag == '"v1"' and result.last_modified == "Tue, 28 Jul 2026 10:00:00 GMT"
    assert result.max_age == timedelta(seconds=600)
    assert result.headers["etag"] == '"v1"'
    assert 0 <= result.elapsed_s < 3
    sent = server.last_headers["/feed.xml"]
    assert sent["User-Agent"] == "frwatch-test/1"
    assert {"gzip", "deflate", "br"} <= {part.strip() for part in sent["Accept-Encoding"].split(",")}
    assert "application/rss+xml" in sent["Accept"]
    assert "If-None-Match" not in sent and "If-Modified-Since" not in sent


async def test_conditional_get_with_etag_gives_not_modified(server: FeedServer, fetcher: Fetcher) -> None:
    server.add_feed("/feed.xml", FTC, etag='"v1"')
    first = await fetcher.fetch(server.url("/feed.xml"))
    second = await fetcher.fetch(server.url("/feed.xml"), etag=first.etag)
    assert server.last_headers["/feed.xml"]["If-None-Match"] == '"v1"'
    assert second.status == 304 and second.not_modified and second.body is None
    assert second.etag == '"v1"'
    server.add_feed("/feed.xml", b"<rss version='2.0'><channel/></rss>", etag='"v2"')
    third = await fetcher.fetch(server.url("/feed.xml"), etag=second.etag)
    assert third.status == 200 and third.etag == '"v2"' and third.body is not None


async def test_conditional_get_with_last_modified(server: FeedServer, fetcher: Fetcher) -> None:
    stamp = "Wed, 29 Jul 2026 08:00:00 GMT"
    server.add_feed("/feed.xml", FTC, last_modified=stamp)
    result = await fetcher.fetch(server.url("/feed.xml"), last_modified=stamp)
    assert server.last_headers["/feed.xml"]["If-Modified-Since"] == stamp
    assert result.not_modified and result.last_modified == stamp


async def test_304_without_validators_keeps_the_ones_sent(server: FeedServer, fetcher: Fetcher) -> None:
    server.add_status("/feed.xml", 304)
    result = await fetcher.fetch(server.url("/feed.xml"), etag='"old"', last_modified="Mon, 01 Jun 2026 00:00:00 GMT")
    assert result.not_modified
    assert result.etag == '"old"' and result.last_modified == "Mon, 01 Jun 2026 00:00:00 GMT"


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br"])
async def test_compressed_bodies_are_decompressed(server: FeedServer, fetcher: Fetcher, encoding: str) -> None:
    server.add_feed("/feed.xml", FTC, encoding=encoding)
    result = await fetcher.fetch(server.url("/feed.xml"))
    assert result.body == FTC.read_bytes()
    assert result.headers["content-encoding"] == encoding


async def test_body_cap_applies_to_the_decompressed_size(server: FeedServer, session: aiohttp.ClientSession) -> None:
    body = b"<rss>" + b"a" * 200_000 + b"</rss>"  # compresses to well under the cap
    server.add_feed("/feed.xml", body, encoding="gzip")
    with pytest.raises(BodyTooLarge, match="body exceeds 100000 bytes"):
        await with_limits(session, max_body_bytes=100_000).fetch(server.url("/feed.xml"))


async def test_gzip_bomb_is_cut_off_at_the_cap(server: FeedServer, fetcher: Fetcher) -> None:
    server.add_gzip_bomb("/bomb.xml", 200 * 1024 * 1024)  # ~200 KB on the wire, 200 MB inflated
    started = time.monotonic()
    with pytest.raises(BodyTooLarge, match=f"body exceeds {LIMITS.max_body_bytes} bytes"):
        await fetcher.fetch(server.url("/bomb.xml"))
    assert time.monotonic() - started < 2


@pytest.mark.parametrize("declare_length", [False, True])
async def test_oversized_body_is_refused(server: FeedServer, fetcher: Fetcher, declare_length: bool) -> None:
    server.add_large("/big.xml", 5 * LIMITS.max_body_bytes, declare_length=declare_length)
    with pytest.raises(BodyTooLarge, match="body exceeds") as info:
        await fetcher.fetch(server.url("/big.xml"))
    assert isinstance(info.value, RetryableError)


async def test_body_at_exactly_the_cap_is_accepted(server: FeedServer, session: aiohttp.ClientSession) -> None:
    server.add_large("/exact.xml", 300_000)
    result = await with_limits(session, max_body_bytes=300_000).fetch(server.url("/exact.xml"))
    assert result.body is not None and len(result.body) == 300_000


async def test_permanent_redirect_chain_reports_new_url(server: FeedServer, fetcher: Fetcher) -> None:
    server.add_redirect("/a", "/b", status=301)
    server.add_redirect("/b", server.url("/c"), status=308)
    server.add_feed("/c", FTC)
    result = await fetcher.fetch(server.url("/a"))
    assert result.status == 200 and result.body == FTC.read_bytes()
    assert result.url == server.url("/c") and result.permanent_url == server.url("/c")
    assert server.hits == {"/a": 1, "/b": 1, "/c": 1}


async def test_temporary_hop_means_no_permanent_url(server: FeedServer, fetcher: Fetcher) -> None:
    server.add_redirect("/a", "/b", status=301)
    server.add_redirect("/b", "/c", status=302)
    server.add_feed("/c", FTC)
    result = await fetcher.fetch(server.url("/a"))
    assert result.url == server.url("/c") and result.permanent_url is None


async def test_conditional_headers_follow_redirects(server: FeedServer, fetcher: Fetcher) -> None:
    server.add_redirect("/old", "/new", status=307)
    server.add_feed("/new", FTC, etag='"e"')
    result = await fetcher.fetch(server.url("/old"), etag='"e"')
    assert result.not_modified and result.url == server.url("/new")


async def test_redirect_loop_is_detected(server: FeedServer, fetcher: Fetcher) -> None:
    server.add_redirect("/a", "/b", status=302)
    server.add_redirect("/b", "/a", status=302)
    with pytest.raises(FetchError, match="redirect loop"):
        await fetcher.fetch(server.url("/a"))
    assert server.hits == {"/a": 1, "/b": 1}


async def test_too_many_redirects(server: FeedServer, session: aiohttp.ClientSession) -> None:
    for index in range(4):
        server.add_redirect(f"/r{index}", f"/r{index + 1}", status=301)
    server.add_feed("/r4", FTC)
    with pytest.raises(FetchError, match="more than 3 redirects"):
        await with_limits(session, max_redirects=3).fetch(server.url("/r0"))
    assert server.hits["/r4"] == 0
    assert (await with_limits(session, max_redirects=4).fetch(server.url("/r0"))).status == 200


async def test_redirect_without_location(server: FeedServer, fetcher: Fetcher) -> None:
    server.add_status("/r", 302)
    with pytest.raises(FetchError, match="without Location") as info:
        await fetcher.fetch(server.url("/r"))
    assert info.value.status == 302


async def test_redirect_to_disallowed_target_is_refused(server: FeedServer, fetcher: Fetcher) -> None:
    server.add_redirect("/r", "http://192.168.0.1/feed", status=301)
    with pytest.raises(UrlRefused, match="192.168.0.1"):
        await fetcher.fetch(server.url("/r"))


async def test_410_means_source_gone(server: FeedServer, fetcher: Fetcher) -> None:
    server.add_status("/gone", 410)
    with pytest.raises(SourceGone) as info:
        await fetcher.fetch(server.url("/gone"))
    assert isinstance(info.value, PermanentError) and info.value.status == 410


@pytest.mark.parametrize("status", [429, 503])
async def test_retry_after_seconds(server: FeedServer, fetcher: Fetcher, status: int) -> None:
    server.add_status("/busy", status, headers={"Retry-After": "120"})
    with pytest.raises(FetchError) as info:
        await fetcher.fetch(server.url("/busy"))
    assert info.value.retryable and info.value.status == status
    assert info.value.retry_after == timedelta(seconds=120)


async def test_retry_after_http_date(server: FeedServer, fetcher: Fetcher) -> None:
    server.add_status("/busy", 429, headers={"Retry-After": formatdate(time.time() + 3600, usegmt=True)})
    with pytest.raises(FetchError) as info:
        await fetcher.fetch(server.url("/busy"))
    assert info.value.retry_after is not None
    assert timedelta(minutes=59) <= info.value.retry_after <= timedelta(minutes=60)


@pytest.mark.parametrize("status", [400, 403, 404, 500, 502])
async def test_other_errors_are_retryable_with_status(server: FeedServer, fetcher: Fetcher, status: int) -> None:
    server.add_status("/x", status)
    with pytest.raises(FetchError, match=f"HTTP {status}") as info:
        await fetcher.fetch(server.url("/x"))
    assert info.value.retryable and info.value.status == status and info.value.retry_after is None


async def test_slow_dripping_body_hits_total_timeout(server: FeedServer, session: aiohttp.ClientSession) -> None:
    server.add_drip("/slow", interval=0.05, count=1000)
    started = time.monotonic()
    with pytest.raises(FetchError, match="timed out after 0.5s"):
        await with_limits(session, total_timeout=0.5).fetch(server.url("/slow"))
    assert time.monotonic() - started < 1.5


async def test_slow_headers_hit_total_timeout(server: FeedServer, session: aiohttp.ClientSession) -> None:
    server.add_drip("/slow", delay_headers=5, count=1)
    with pytest.raises(FetchError, match="timed out"):
        await with_limits(session, total_timeout=0.3).fetch(server.url("/slow"))


async def test_total_timeout_starts_once_the_host_slot_is_taken(server: FeedServer,
                                                                 session: aiohttp.ClientSession) -> None:
    """Three fetches of one host with one slot: the last waits ~0.5 s for its slot, longer than
    the 0.4 s limit, and still succeeds: time queued behind other feeds is not its own."""
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(0.25)
        return web.Response(body=b"<rss/>")

    server.add_handler("/queued", slow)
    fetcher = with_limits(session, per_host=1, total_timeout=0.4)
    started = time.monotonic()
    results = await asyncio.gather(*(fetcher.fetch(server.url("/queued")) for _ in range(3)))
    assert [result.status for result in results] == [200, 200, 200]
    assert time.monotonic() - started >= 0.7  # one after the other: the last did queue


async def test_total_timeout_covers_every_redirect_hop(server: FeedServer, session: aiohttp.ClientSession) -> None:
    """Each hop answers within the limit, the chain does not: the limit is the whole fetch's."""
    def hop(to: str | None) -> Handler:
        async def handler(request: web.Request) -> web.Response:
            await asyncio.sleep(0.25)
            if to is None:
                return web.Response(body=b"<rss/>")
            return web.Response(status=302, headers={"Location": to})
        return handler

    server.add_handler("/hop1", hop("/hop2"))
    server.add_handler("/hop2", hop("/hop3"))
    server.add_handler("/hop3", hop(None))
    assert (await with_limits(session, total_timeout=2).fetch(server.url("/hop1"))).status == 200
    started = time.monotonic()
    with pytest.raises(FetchError, match="timed out after 0.6s"):
        await with_limits(session, total_timeout=0.6).fetch(server.url("/hop1"))
    assert time.monotonic() - started < 0.7


async def test_connection_reset_mid_body(server: FeedServer, fetcher: Fetcher) -> None:
    server.add_reset("/reset")
    with pytest.raises(FetchError, match="connection broken") as info:
        await fetcher.fetch(server.url("/reset"))
    assert info.value.retryable


async def test_connection_refused_is_retryable(fetcher: Fetcher) -> None:
    # A port that was just free on loopback: bind, note it, close.
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    with pytest.raises(FetchError, match=f"cannot connect to 127.0.0.1:{port}"):
        await fetcher.fetch(f"http://127.0.0.1:{port}/feed.xml")


async def test_server_closing_without_answer(fetcher: Fetcher) -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(FetchError, match="disconnected"):
            await fetcher.fetch(f"http://127.0.0.1:{port}/feed.xml")
    finally:
        server.close()
        await server.wait_closed()


async def test_a_host_name_idna_refuses_is_a_refused_url_not_a_crash() -> None:
    class Idna(StubResolver):  # what getaddrinfo raises for a label over 63 characters
        async def resolve(self, host: str, port: int = 0, family: object = 0) -> list:  # type: ignore[override]
            raise UnicodeError("encoding with 'idna' codec failed (UnicodeError: label empty or too long)")

    guard = UrlGuard(GUARD_NETS, resolver=Idna({}))
    async with make_session(LIMITS, guard) as session:
        with pytest.raises(UrlRefused, match="invalid host name"):
            await Fetcher(session, LIMITS, guard).fetch(f"http://{'a' * 64}.com/feed")


async def test_refused_start_url(fetcher: Fetcher) -> None:
    with pytest.raises(UrlRefused):
        await fetcher.fetch("http://10.0.0.1/feed")
    with pytest.raises(UrlRefused, match="scheme"):
        await fetcher.fetch("ftp://127.0.0.1/feed")


async def test_per_host_and_global_limits(server: FeedServer, session: aiohttp.ClientSession) -> None:
    in_flight = {"now": 0, "max": 0}

    async def slow(request: web.Request) -> web.Response:
        in_flight["now"] += 1
        in_flight["max"] = max(in_flight["max"], in_flight["now"])
        await asyncio.sleep(0.05)
        in_flight["now"] -= 1
        return web.Response(body=b"<rss/>")

    server.add_handler("/feed", slow)
    per_host = with_limits(session, per_host=2, global_limit=10)
    await asyncio.gather(*(per_host.fetch(server.url("/feed")) for _ in range(8)))
    assert in_flight["max"] == 2
    in_flight["max"] = 0
    # Two host names (both 127.0.0.1 through a stub resolver) are limited per name...
    guard = UrlGuard(GUARD_NETS, resolver=StubResolver({"a.example": ["127.0.0.1"], "b.example": ["127.0.0.1"]}))
    urls = [server.url("/feed", host="ab"[i % 2] + ".example") for i in range(8)]
    async with make_session(LIMITS, guard) as named:
        two_hosts = Fetcher(named, replace(LIMITS, per_host=2, global_limit=10), guard)
        await asyncio.gather(*(two_hosts.fetch(url) for url in urls))
        assert in_flight["max"] == 4
        in_flight["max"] = 0
        # ...and the global limit caps them together.
        capped = Fetcher(named, replace(LIMITS, per_host=5, global_limit=3), guard)
        await asyncio.gather(*(capped.fetch(url) for url in urls))
        assert in_flight["max"] == 3
    assert server.hits["/feed"] == 24


async def test_host_slots_are_given_back_after_redirects_errors_and_cancellation(server: FeedServer) -> None:
    """With one slot per host, every way a fetch can end (redirected to another host, failed,
    cancelled while queued for its slot) gives its slot back: later fetches of both hosts go
    through, and the fetcher keeps no idle host."""
    release = asyncio.Event()

    async def held(request: web.Request) -> web.Response:
        await release.wait()
        return web.Response(body=b"<rss/>")

    async def hop(request: web.Request) -> web.Response:
        raise web.HTTPFound(server.url("/feed", host="b.example"))

    async def broken(request: web.Request) -> web.Response:
        return web.Response(status=500)

    server.add_feed("/feed", b"<rss/>")
    server.add_handler("/hop", hop)
    server.add_handler("/broken", broken)
    server.add_handler("/held", held)
    guard = UrlGuard(GUARD_NETS, resolver=StubResolver({"a.example": ["127.0.0.1"], "b.example": ["127.0.0.1"]}))
    async with make_session(LIMITS, guard) as named:
        fetcher = Fetcher(named, replace(LIMITS, per_host=1, global_limit=10), guard)
        assert (await fetcher.fetch(server.url("/hop", host="a.example"))).url == server.url("/feed", host="b.example")
        with pytest.raises(FetchError, match="HTTP 500"):
            await fetcher.fetch(server.url("/broken", host="a.example"))
        holding = asyncio.create_task(fetcher.fetch(server.url("/held", host="a.example")))
        queued = asyncio.create_task(fetcher.fetch(server.url("/feed", host="a.example")))
        await asyncio.sleep(0.1)
        queued.cancel()
        with pytest.raises(asyncio.CancelledError):
            await queued
        release.set()
        await holding
        for host in ("a.example", "b.example"):
            await asyncio.wait_for(fetcher.fetch(server.url("/feed", host=host)), 5)
        assert fetcher._hosts == {}


async def test_file_url_uses_mtime_as_last_modified(tmp_path: Path, fetcher: Fetcher) -> None:
    path = tmp_path / "feed one.xml"
    path.write_bytes(FTC.read_bytes())
    first = await fetcher.fetch(path.as_uri())
    assert first.status == 200 and first.body == FTC.read_bytes() and first.last_modified
    again = await fetcher.fetch(path.as_uri(), last_modified=first.last_modified)
    assert again.not_modified and again.body is None and again.last_modified == first.last_modified
    os.utime(path, (time.time() + 10, time.time() + 10))
    changed = await fetcher.fetch(path.as_uri(), last_modified=first.last_modified)
    assert not changed.not_modified and changed.body == FTC.read_bytes()
    # rewritten within the same second as the version last read (a file still being written)
    stamp = os.stat(path).st_mtime_ns
    path.write_bytes(FTC.read_bytes() + b"<!-- more -->")
    os.utime(path, ns=(stamp + 1000, stamp + 1000))
    rewritten = await fetcher.fetch(path.as_uri(), last_modified=changed.last_modified)
    assert not rewritten.not_modified and rewritten.body.endswith(b"<!-- more -->")


async def test_file_url_size_cap_and_missing_file(tmp_path: Path, session: aiohttp.ClientSession) -> None:
    path = tmp_path / "big.xml"
    path.write_bytes(b"x" * 2000)
    with pytest.raises(BodyTooLarge, match="body exceeds 1000 bytes"):
        await with_limits(session, max_body_bytes=1000).fetch(path.as_uri())
    with pytest.raises(FetchError, match="cannot read"):
        await with_limits(session).fetch((tmp_path / "missing.xml").as_uri())


def test_limits_from_settings() -> None:
    settings = Settings.from_env({"FRWATCH_CONNECT_TIMEOUT": "4s", "FRWATCH_FETCH_TIMEOUT": "20s",
                                  "FRWATCH_MAX_BODY_BYTES": "1000", "FRWATCH_MAX_REDIRECTS": "2",
                                  "FRWATCH_PER_HOST_CONCURRENCY": "3", "FRWATCH_FETCH_CONCURRENCY": "7",
                                  "FRWATCH_USER_AGENT": "ua/1"})
    assert FetchLimits.from_settings(settings) == FetchLimits(
        connect_timeout=4, total_timeout=20, user_agent="ua/1", max_body_bytes=1000, max_redirects=2,
        per_host=3, global_limit=7)


def test_header_parsers() -> None:
    assert parse_retry_after("0", utcnow()) == timedelta(0)
    assert parse_retry_after("soon", utcnow()) is None and parse_retry_after(None, utcnow()) is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", utcnow()) == timedelta(0)  # in the past
    assert parse_retry_after("0007", utcnow()) == timedelta(seconds=7)
    assert parse_retry_after("9" * 5000, utcnow()) == parse_retry_after("99999999999", utcnow()) == MAX_RETRY_AFTER
    assert parse_retry_after("Fri, 31 Dec 9999 23:59:59 -0100", utcnow()) is None  # past datetime's range in UTC
    assert parse_max_age("max-age=60, s-maxage=300") == timedelta(seconds=300)
    assert parse_max_age("no-cache") is None and parse_max_age('max-age="90"') == timedelta(seconds=90)
    assert parse_max_age("max-age=99999999999999") == MAX_AGE and parse_max_age("max-age=²") is None


async def test_a_webhook_host_name_idna_refuses_is_a_failed_attempt_not_a_crash() -> None:
    """``send`` (the webhook POST) shares the fetcher's resolver trouble: an old subscription whose
    host IDNA refuses gets a recorded failure, not an exception out of the delivery worker."""
    class Idna(StubResolver):
        async def resolve(self, host: str, port: int = 0, family: object = 0) -> list:  # type: ignore[override]
            raise UnicodeError("encoding with 'idna' codec failed (UnicodeError: label empty or too long)")

    guard = UrlGuard(GUARD_NETS, resolver=Idna({}))
    message = Message(id="msg_1", url=f"http://{'a' * 64}.com/hook", body="{}", secrets=[generate_secret()])
    async with make_session(LIMITS, guard) as session:
        result = await send(session, guard, message, now=utcnow(), timeout=timedelta(seconds=5), user_agent="t")
    assert result.status_code is None and not result.ok
    assert result.error is not None and "invalid host name" in result.error
