"""UrlGuard: every SSRF spelling is refused before any connection is attempted."""

from __future__ import annotations

import asyncio
import ipaddress
from typing import Any

import aiohttp
import pytest
from frwatch.errors import UrlRefused
from frwatch.ingest.fetch import Fetcher, FetchLimits
from frwatch import urlguard
from frwatch.urlguard import UrlGuard, parse_ip_host

from tests.feedserver import FeedServer, StubResolver

LOOPBACK = [ipaddress.ip_network("127.0.0.0/8")]

PRIVATE_URLS = [
    "http://127.0.0.1/feed",
    "http://127.0.0.1:8080/feed",
    "http://[::1]/feed",
    "http://10.1.2.3/",
    "http://172.16.0.1/",
    "http://172.31.255.254/",
    "http://192.168.1.1/",
    "http://169.254.169.254/latest/meta-data/",
    "http://0.0.0.0/",
    "http://0/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:7f00:1]/",
    "http://[::ffff:169.254.169.254]/",
    "http://[64:ff9b::a00:1]/",  # NAT64 of 10.0.0.1
    "http://[2002:c0a8:101::1]/",  # 6to4 of 192.168.1.1
    "http://[fe80::1%25eth0]/",
    "http://[fc00::1]/",
    "http://[::]/",
    "http://2130706433/",
    "http://0177.0.0.1/",
    "http://0x7f.1/",
    "http://0x7f000001/",
    "http://127.1/",
    "http://127.0.1/",
    "http://017700000001/",
    "http://127.0.0.1./",
    "http://100.64.0.1/",  # carrier-grade NAT
    "http://224.0.0.1/",  # multicast
    "http://255.255.255.255/",
    "http://user:pw@127.0.0.1/",
    "https://10.0.0.1:443/",
    "http://１２７.０.０.１/",  # full-width digits and dots: yarl's IDNA form, which aiohttp connects to, is 127.0.0.1
    "http://127。0。0。1:8080/",  # ideographic full stops
    "http://１０.0.0.1/",
]


@pytest.mark.parametrize("url", PRIVATE_URLS)
def test_private_ip_literals_are_refused(url: str) -> None:
    with pytest.raises(UrlRefused, match="not public"):
        UrlGuard().check_url(url)


@pytest.mark.parametrize("spelling", ["2130706433", "0177.0.0.1", "0x7f.1", "127.1", "0x7f.0.0.1", "017700000001"])
def test_legacy_spellings_decode_to_loopback(spelling: str) -> None:
    assert parse_ip_host(spelling) == ipaddress.ip_address("127.0.0.1")


@pytest.mark.parametrize("host", ["example.org", "1.2.3.4.5", "0xg", "256.1.1.1", "1.2.3.256", "12a.0.0.1", "٣.٣.٣.٣"])
def test_non_addresses_are_names(host: str) -> None:
    assert parse_ip_host(host) is None


@pytest.mark.parametrize("url", [
    "https://8.8.8.8/feed", "http://[2606:4700:4700::1111]/", "https://www.ftc.gov/feeds/press-release.xml",
])
def test_public_urls_pass(url: str) -> None:
    UrlGuard().check_url(url)


@pytest.mark.parametrize("url,reason", [
    ("file:///etc/passwd", "scheme"),
    ("gopher://example.org/", "scheme"),
    ("ftp://example.org/feed", "scheme"),
    ("javascript:alert(1)", "scheme"),
    ("http:///feed", "no host"),
    ("http://[::1/", "refused URL"),
    ("example.org/feed", "scheme"),
    ("http://example.org:99999/feed", "Port out of range"),
    ("https://example.org:0/", "port 0"),
    ("http://example.org:http/", "Port could not be cast"),
])
def test_bad_urls_are_refused_with_reason(url: str, reason: str) -> None:
    with pytest.raises(UrlRefused, match=reason):
        UrlGuard().check_url(url)


@pytest.mark.parametrize("url", ["http://134744072/", "http://0x8.8.8.8/", "http://2130706433/", "http://127.0.0.1./",
                                 "http://１２７.０.０.１/", "http://８.８.８.８/"])
def test_non_canonical_spellings_are_refused_even_when_the_address_is_allowed(url: str) -> None:
    with pytest.raises(UrlRefused, match="non-canonical"):
        UrlGuard(LOOPBACK).check_url(url)


def test_schemes_can_be_widened_for_local_sources() -> None:
    UrlGuard().check_url("https://example.org/", schemes=("https",))
    with pytest.raises(UrlRefused, match="scheme"):
        UrlGuard().check_url("http://example.org/", schemes=("https",))


def test_allowed_networks_open_exactly_those_ranges() -> None:
    guard = UrlGuard(LOOPBACK + [ipaddress.ip_network("10.5.0.0/16")])
    guard.check_url("http://127.0.0.1:9000/feed")
    guard.check_url("http://[::ffff:127.0.0.1]/")  # mapped form of an allowed address
    guard.check_url("http://10.5.3.4/")
    with pytest.raises(UrlRefused):
        guard.check_url("http://10.6.0.1/")
    with pytest.raises(UrlRefused):
        guard.check_url("http://[::1]/")  # IPv6 loopback is not in 127.0.0.0/8


def test_a_host_judged_once_is_judged_the_same_for_every_url() -> None:
    guard = UrlGuard(LOOPBACK)
    for path in ("/a", "/b"):  # the second time from the guard's memory of the host
        guard.check_url(f"http://127.0.0.1:9000{path}")
        with pytest.raises(UrlRefused, match=f"'http://10.0.0.1{path}'.*10.0.0.1 is not public"):
            guard.check_url(f"http://10.0.0.1{path}")
        with pytest.raises(UrlRefused, match=f"'http://0x7f.1{path}'.*non-canonical"):
            guard.check_url(f"http://0x7f.1{path}")
    assert UrlGuard().check_url("https://10.0.0.1.example.org/") is None  # a name: judged when it resolves


def test_is_allowed_ip() -> None:
    guard = UrlGuard()
    assert guard.is_allowed_ip("93.184.216.34")
    assert guard.is_allowed_ip(ipaddress.ip_address("2a00:1450:4009:81f::200e"))
    for address in ("127.0.0.1", "::1", "10.0.0.1", "169.254.169.254", "0.0.0.0", "::", "fd00::1",
                    "::ffff:10.0.0.1", "240.0.0.1", "ff02::1", "192.0.2.1", "2001:db8::1",
                    "fec0::1", "3fff::1", "192.0.0.8", "192.0.0.200"):
        assert not guard.is_allowed_ip(address), address


async def test_check_resolved_refuses_names_resolving_to_private_addresses(caplog: pytest.LogCaptureFixture) -> None:
    stub = StubResolver({
        "internal.example": ["10.0.0.7"],
        "mixed.example": ["93.184.216.34", "192.168.0.10"],
        "v6local.example": ["::1"],
        "public.example": ["93.184.216.34", "2606:2800:220:1::1"],
    })
    guard = UrlGuard(resolver=stub)
    for host, address in (("internal.example", "10.0.0.7"), ("mixed.example", "192.168.0.10"),
                          ("v6local.example", "::1")):
        with pytest.raises(UrlRefused, match=f"'{host}'.*not public") as refused:
            await guard.check_resolved(f"https://{host}/hook")
        assert address not in str(refused.value)  # shown to whoever submitted the URL: no map of the network
        assert [r.addresses for r in caplog.records if getattr(r, "host", None) == host] == [[address]]  # logged
    with pytest.raises(UrlRefused, match="cannot resolve"):
        await guard.check_resolved("https://nowhere.example/hook")
    assert await guard.check_resolved("https://public.example/hook") == ["93.184.216.34", "2606:2800:220:1::1"]
    assert await guard.check_resolved("https://8.8.8.8/") == ["8.8.8.8"]
    with pytest.raises(UrlRefused):
        await guard.check_resolved("http://2130706433/")


async def test_an_unresolvable_name_may_pass_but_a_private_one_never(monkeypatch: pytest.MonkeyPatch) -> None:
    class Hanging(StubResolver):
        async def resolve(self, host: str, port: int = 0, family: Any = 0) -> Any:
            await asyncio.sleep(3600)

    guard = UrlGuard(resolver=StubResolver({"internal.example": ["10.0.0.7"]}))
    assert await guard.check_resolved("https://nowhere.example/feed", unresolvable_ok=True) == []
    with pytest.raises(UrlRefused, match="'internal.example'.*not public"):
        await guard.check_resolved("https://internal.example/feed", unresolvable_ok=True)
    class Idna(StubResolver):  # what getaddrinfo raises for a label over 63 characters
        async def resolve(self, host: str, port: int = 0, family: Any = 0) -> Any:
            raise UnicodeError("encoding with 'idna' codec failed (UnicodeError: label too long)")

    with pytest.raises(UrlRefused, match="invalid host name"):
        await UrlGuard(resolver=Idna({})).check_resolved(f"https://{'a' * 64}.com/feed", unresolvable_ok=True)
    monkeypatch.setattr(urlguard, "RESOLVE_TIMEOUT_S", 0.05)
    hanging = UrlGuard(resolver=Hanging({}))
    with pytest.raises(UrlRefused, match="no answer within 0.05s"):
        await hanging.check_resolved("https://slow.example/hook")
    assert await hanging.check_resolved("https://slow.example/feed", unresolvable_ok=True) == []


class NoConnectConnector(aiohttp.TCPConnector):
    """Fails the test if any TCP connection is opened."""

    async def _create_connection(self, req, traces, timeout):  # type: ignore[no-untyped-def,override]
        raise AssertionError(f"a connection was attempted to {req.url}")


async def test_connector_refuses_private_resolution_before_connecting() -> None:
    stub = StubResolver({"rebind.example": ["169.254.169.254"]})
    guard = UrlGuard(resolver=stub)
    async with aiohttp.ClientSession(connector=guard.make_connector()) as session:
        with pytest.raises(UrlRefused, match="'rebind.example'.*not public"):
            await session.get("http://rebind.example/latest/meta-data/")
    assert stub.asked == ["rebind.example"]


async def test_connector_connects_only_to_allowed_resolutions() -> None:
    """A name resolving to an allowed address works end to end (the stub points it at our server)."""
    stub = StubResolver({"feeds.example": ["127.0.0.1"]})
    guard = UrlGuard(LOOPBACK, resolver=stub)
    async with FeedServer() as server:
        server.add_feed("/feed.xml", b"<rss/>")
        async with (
            aiohttp.ClientSession(connector=guard.make_connector()) as session,
            session.get(server.url("/feed.xml", host="feeds.example")) as resp,
        ):
            assert await resp.read() == b"<rss/>"


def limits() -> FetchLimits:
    return FetchLimits(connect_timeout=2, total_timeout=5, user_agent="frwatch-test")


@pytest.mark.parametrize("url", ["http://10.0.0.1/feed", "http://[::ffff:127.0.0.1]/", "http://0x7f.1/"])
async def test_fetcher_refuses_ip_literals_before_any_connection(url: str) -> None:
    guard = UrlGuard()
    async with aiohttp.ClientSession(connector=NoConnectConnector()) as session:
        with pytest.raises(UrlRefused):
            await Fetcher(session, limits(), guard).fetch(url)


@pytest.mark.parametrize("location", [
    "http://10.0.0.1/feed", "http://169.254.169.254/latest/meta-data/", "http://[::1]:80/", "http://167772161/",
    "http://internal.example/feed", "file:///etc/passwd", "http://１２７.０.０.１/feed", "http://10。0。0。1/feed",
])
async def test_redirect_to_private_address_is_refused(location: str) -> None:
    """The public hop is allowed (loopback stands in for it); the private target is never contacted."""
    stub = StubResolver({"internal.example": ["10.1.1.1"]})
    guard = UrlGuard(LOOPBACK, resolver=stub)
    async with FeedServer() as server:
        server.add_redirect("/feed", location, status=302)
        async with aiohttp.ClientSession(connector=guard.make_connector()) as session:
            with pytest.raises(UrlRefused):
                await Fetcher(session, limits(), guard).fetch(server.url("/feed"))
        assert server.hits["/feed"] == 1


async def test_connector_refuses_sockets_to_addresses_not_allowed() -> None:
    """The last layer: whatever reaches the connector unchecked (an IP literal skips the resolver),
    it opens no socket to an address the guard refuses, and opens one to an allowed address."""
    async with FeedServer() as server:
        server.add_feed("/feed.xml", b"<rss/>")
        async with aiohttp.ClientSession(connector=UrlGuard().make_connector()) as session:
            with pytest.raises(UrlRefused, match="refused address 127.0.0.1"):
                await session.get(server.url("/feed.xml"))
        assert server.hits.get("/feed.xml", 0) == 0
        async with (
            aiohttp.ClientSession(connector=UrlGuard(LOOPBACK).make_connector()) as session,
            session.get(server.url("/feed.xml")) as resp,
        ):
            assert await resp.read() == b"<rss/>"
