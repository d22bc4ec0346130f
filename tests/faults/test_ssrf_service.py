"""SSRF at the service level (issue 6 §7): feed sources (sources file and API), subscriptions
(API) and redirects, with host names answered by a stub resolver.

A safety net patches the event loop so that any connection to a non-loopback address fails the
test instead of leaving the machine: every refusal below must come from frwatch's own guard,
before any connection. Unit-level spellings and resolver checks are in tests/unit/test_urlguard.py;
a redirect refused by the fetcher alone is test_urlguard.py::test_redirect_to_private_address_is_refused,
a webhook name resolving to loopback refused at connect is
test_webhooks_delivery.py::test_url_guard_is_applied_at_connect.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import AsyncIterator
from typing import Any

import pytest
from frwatch.api.app import create_app
from frwatch.ingest.poll import poll_due
from frwatch.models import DeliveryAttempt, Outbox
from frwatch.notify.worker import deliver_due

from tests.conftest import ADMIN_HEADERS
from tests.faults.support import add_sources, fault_runtime, rows, source
from tests.feedbuild import FeedItem, rss
from tests.feedserver import FeedServer
from tests.webhooks import WebhookReceiver, add_subscription, seed_event

NAMES = {
    "internal.test": ["10.1.2.3"],
    "metadata.test": ["169.254.169.254"],
    "loopback.test": ["127.0.0.1"],
    "v6-loopback.test": ["::1"],
    "mapped.test": ["::ffff:192.168.0.10"],
    "mixed.test": ["93.184.216.34", "172.16.0.5"],  # one public, one private: refused
    "zero.test": ["0.0.0.0"],
}
PRIVATE_HOSTS = ["127.0.0.1", "[::1]", "10.0.0.1", "172.16.5.4", "172.31.255.254", "192.168.1.1",
                 "169.254.169.254", "0.0.0.0", "[::ffff:127.0.0.1]", "[::ffff:10.0.0.1]", "[::]",
                 "2130706433", "0177.0.0.1", "0x7f.0.0.1", "127.1", "017700000001", "[fd00::1]", "[fe80::1]",
                 *NAMES]


def private_urls(port: int) -> dict[str, str]:
    return {f"p{n:02d}": f"http://{host}:{port}/feed.xml" for n, host in enumerate(PRIVATE_HOSTS)}


@pytest.fixture
async def loopback_only() -> AsyncIterator[list[Any]]:
    """Make any connection attempt to a non-loopback address fail loudly (and be recorded)."""
    loop = asyncio.get_running_loop()
    attempts: list[Any] = []
    real_sock_connect, real_create_connection = loop.sock_connect, loop.create_connection

    def check(address: Any) -> None:
        host = address[0] if isinstance(address, tuple) else address
        if host is not None and not ipaddress.ip_address(str(host).split("%")[0]).is_loopback:
            attempts.append(address)
            raise AssertionError(f"the test tried to connect to {address}")

    async def sock_connect(sock: Any, address: Any) -> Any:
        check(address)
        return await real_sock_connect(sock, address)

    async def create_connection(*args: Any, **kwargs: Any) -> Any:
        host = kwargs.get("host", args[1] if len(args) > 1 else None)
        if host is not None:
            try:
                check((host,))
            except ValueError:
                pass  # a name: resolved later, through sock_connect
        return await real_create_connection(*args, **kwargs)

    loop.sock_connect = sock_connect  # type: ignore[method-assign]
    loop.create_connection = create_connection  # type: ignore[method-assign]
    try:
        yield attempts
    finally:
        loop.sock_connect = real_sock_connect  # type: ignore[method-assign]
        loop.create_connection = real_create_connection  # type: ignore[method-assign]


@pytest.fixture
async def strict_app(aiohttp_client: Any, db_url: str, loopback_only: list[Any]) -> AsyncIterator[tuple[Any, Any]]:
    """An API over a runtime that allows no private network at all (not even loopback)."""
    async with fault_runtime(db_url, names=NAMES, allow=()) as rt:
        yield rt, await aiohttp_client(create_app(rt))


async def test_config_sources_to_private_addresses_are_recorded_as_errors_without_connecting(
        db_url: str, loopback_only: list[Any]) -> None:
    async with FeedServer() as server:
        server.add_feed("/feed.xml", rss([FeedItem("Must never be read", "x", guid="1")]))
        async with fault_runtime(db_url, names=NAMES, allow=()) as rt:
            urls = private_urls(server.port)
            await add_sources(rt, urls)
            outcomes = {o.source_id: o for o in await poll_due(rt)}
            states = {sid: await source(rt, sid) for sid in urls}
    assert server.hits == {} and loopback_only == []
    for sid, url in urls.items():
        assert outcomes[sid].outcome == "error", (url, outcomes[sid])
        assert "refused" in (states[sid].last_error or ""), (url, states[sid].last_error)
        assert states[sid].enabled  # an operator may later allow the network; it is retried, backed off


async def test_api_sources_with_private_urls_are_refused_or_never_connected(strict_app: Any,
                                                                             loopback_only: list[Any]) -> None:
    rt, api = strict_app
    for sid, url in private_urls(8080).items():  # every IP spelling, and every name resolving to one
        response = await api.post("/v1/sources", json={"id": sid, "name": sid, "url": url, "kind": "news"},
                                  headers=ADMIN_HEADERS)
        assert response.status == 422, (url, await response.text())
        assert (await response.json())["field"] == "url"
    # a name that does not resolve now is accepted (a feed's DNS may be down for a while) …
    ok = await api.post("/v1/sources", json={"id": "ok", "name": "ok", "url": "https://feeds.example.org/a.xml",
                                             "kind": "news"}, headers=ADMIN_HEADERS)
    assert ok.status == 201
    # … PATCHing it to a private address or name is refused the same way as adding one
    for url in ("http://169.254.169.254/latest/meta-data/", "http://internal.test/feed.xml"):
        patched = await api.patch("/v1/sources/ok", json={"url": url}, headers=ADMIN_HEADERS)
        assert patched.status == 422, url
    # … and when the name later resolves to a private address, polling it connects nowhere
    rt.guard._resolver.table["feeds.example.org"] = ["10.20.30.40"]  # type: ignore[attr-defined]
    [outcome] = await poll_due(rt)
    assert outcome.source_id == "ok" and outcome.outcome == "error" and "refused" in (outcome.error or "")
    assert loopback_only == []


async def test_subscriptions_to_private_urls_are_refused_at_creation(strict_app: Any,
                                                                     loopback_only: list[Any]) -> None:
    _, api = strict_app
    for url in private_urls(80).values():
        response = await api.post("/v1/subscriptions", json={"url": url.replace("/feed.xml", "/hook")},
                                  headers=ADMIN_HEADERS)
        assert response.status == 422, (url, response.status, await response.text())
        assert (await response.json())["field"] == "url"
    assert (await api.post("/v1/subscriptions", json={"url": "http://unknown-name.test/hook"},
                           headers=ADMIN_HEADERS)).status == 422  # does not resolve: refused too
    admin = await api.post("/v1/subscriptions", json={"url": "http://internal.test/hook"}, headers=ADMIN_HEADERS)
    assert "'internal.test': it resolves to an address that is not public" in (await admin.json())["detail"]
    # an integrator learns the same of a name resolving to a refused address and of one resolving to
    # nothing, and never an address: no probing of the operator's network through subscriptions
    key = await (await api.post("/v1/api-keys", json={"name": "integrator"}, headers=ADMIN_HEADERS)).json()
    integrator = {"Authorization": f"Bearer {key['key']}"}
    details = set()
    for host in [*NAMES, "unknown-name.test"]:
        response = await api.post("/v1/subscriptions", json={"url": f"http://{host}/hook"}, headers=integrator)
        assert response.status == 422, (host, await response.text())
        details.add((await response.json())["detail"])
    assert len(details) == 1 and "public addresses only" in details.pop()
    listed = await (await api.get("/v1/subscriptions", headers=ADMIN_HEADERS)).json()
    assert listed["data"] == []
    assert loopback_only == []


async def test_redirects_and_rebinding_to_private_addresses_are_refused(db_url: str,
                                                                        loopback_only: list[Any]) -> None:
    """Loopback is allowed here (the test servers live there); what they point at is not."""
    names = dict(NAMES, **{"feeds.test": ["127.0.0.1"], "hooks.test": ["127.0.0.1"]})
    async with FeedServer() as server, WebhookReceiver() as receiver, fault_runtime(db_url, names=names) as rt:
        targets = ["http://10.0.0.1/feed.xml", "http://169.254.169.254/latest/meta-data/",
                   "http://[::ffff:192.168.0.1]/", "http://2130706433/", "http://internal.test/feed.xml",
                   "http://mixed.test/feed.xml", "http://metadata.test/", "file:///etc/passwd"]
        urls = {}
        for n, target in enumerate(targets):
            server.add_redirect(f"/r{n}", target, status=(301, 302, 303, 307, 308)[n % 5])
            urls[f"r{n}"] = server.url(f"/r{n}")
        # a redirect two hops deep, the second hop to the metadata address
        server.add_redirect("/deep", "/deep-2")
        server.add_redirect("/deep-2", "http://169.254.169.254/")
        urls["deep"] = server.url("/deep")
        # DNS rebinding: the name pointed at the (allowed) loopback server when it was added
        server.add_feed("/feed.xml", rss([FeedItem("Read once", "x", guid="1")]))
        urls["rebind"] = server.url("/feed.xml", host="feeds.test")
        await add_sources(rt, urls)
        rt.guard._resolver.table["feeds.test"] = ["10.9.8.7"]  # type: ignore[attr-defined]
        outcomes = {o.source_id: o for o in await poll_due(rt)}
        for sid in urls:
            state = await source(rt, sid)
            assert outcomes[sid].outcome == "error", (sid, outcomes[sid])
            assert "refused" in (state.last_error or ""), (sid, state.last_error)
        assert server.hits["/feed.xml"] == 0

        # webhooks: a redirect is never followed, wherever it points; a rebound name is refused
        receiver.respond("/moved", 307, headers={"Location": "http://169.254.169.254/latest/meta-data/"})
        await add_subscription(rt, receiver.url("/moved"))
        await add_subscription(rt, receiver.url("/hook", host="hooks.test"))
        rt.guard._resolver.table["hooks.test"] = ["192.168.7.7"]  # type: ignore[attr-defined]
        await seed_event(rt)
        assert await deliver_due(rt) == 2
        attempts = {a.status_code: a for a in await rows(rt, DeliveryAttempt)}
        assert attempts[307].error == "HTTP 307"
        assert "refused" in (attempts[None].error or "")
        assert [r.path for r in receiver.received] == ["/moved"]
        assert {m.status for m in await rows(rt, Outbox)} == {"pending"}  # owed, retried later
    assert loopback_only == []
