"""Hostile API input (issue 6 §6): auth bypass attempts on every route, unreadable bodies on
every route that takes one, and strings with SQL, HTML and control characters — stored and
returned verbatim, never executed, never rendered as markup in the dashboard or the Atom feed.

Already covered (not repeated): Schemathesis fuzzing of the live app with admin and integrator
tokens (tests/integration/test_openapi.py::test_live_app_honours_the_document); one integrator
reaching another's subscription by id (test_subscriptions_api.py::test_integrators_see_only_their_own);
malformed JSON, wrong type and oversized body on POST /v1/subscriptions (…::test_unreadable_bodies);
seeded hostile text in the dashboard and Atom feed (test_dashboard.py, test_atom.py).
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
from typing import Any

import feedparser
import pytest
from frwatch.api.openapi import spec
from frwatch.ingest.poll import poll_due
from frwatch.runtime import Runtime

from tests.conftest import ADMIN_HEADERS
from tests.faults.support import add_sources
from tests.feedbuild import FeedItem, rss
from tests.feedserver import FeedServer
from tests.webhooks import WebhookReceiver, seed_event

PROBLEM = "application/problem+json"
METHODS = ("get", "post", "patch", "delete", "put")
SQL = "Robert'); DROP TABLE subscriptions; -- \" OR 1=1 --"
HTML = "<script>alert(1)</script><img src=x onerror=alert(2)>&amp;<b>bold</b>"
CONTROL = "bell\x07 esc\x1b[31m red \u202eRTL\u202c zero\u200bwidth bom\ufeff del\x7f end"
HOSTILE = [SQL, HTML, CONTROL, "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ☃ 👩🏽‍⚖️", "%_\\%' LIKE wildcards"]


def api_routes() -> list[tuple[str, str]]:
    """Every documented /v1 operation, ids filled in with a made-up one."""
    return sorted((method.upper(), re.sub(r"\{\w+\}", "sub_doesnotexist", path))
                  for path, item in spec()["paths"].items() if path.startswith("/v1/")
                  for method in item if method in METHODS)


ADMIN_ONLY = re.compile(r"^/v1/(sources|api-keys)")


async def problem(response: Any, status: int) -> dict[str, Any]:
    text = await response.text()
    assert response.status == status, (response.method, response.url.path, response.status, text)
    assert response.content_type == PROBLEM, text
    return json.loads(text)


async def new_key(api: Any, name: str) -> tuple[str, dict[str, str]]:
    response = await api.post("/v1/api-keys", json={"name": name}, headers=ADMIN_HEADERS)
    assert response.status == 201, await response.text()
    body = await response.json()
    return body["id"], {"Authorization": f"Bearer {body['key']}"}


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_auth_bypass_attempts_are_refused_on_every_route(api: Any) -> None:
    revoked_id, revoked = await new_key(api, "revoked")
    assert (await api.delete(f"/v1/api-keys/{revoked_id}", headers=ADMIN_HEADERS)).status == 204
    _, integrator = await new_key(api, "integrator")
    basic = base64.b64encode(b"admin:admin-token").decode()
    refused: list[dict[str, str]] = [
        {},
        {"Authorization": ""},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer    "},
        {"Authorization": "bearer wrong-token"},
        {"Authorization": "Bearer admin-toke"},
        {"Authorization": "Bearer admin-token-and-more"},
        {"Authorization": "Bearer ADMIN-TOKEN"},
        {"Authorization": "Bearer admin-token, Bearer admin-token"},
        {"Authorization": "Token admin-token"},
        {"Authorization": "admin-token"},
        {"Authorization": f"Basic {basic}"},  # Basic is for feed readers of the Atom feed only
        {"Authorization": "Bearer frw_" + "A" * 43},
        {"Authorization": "Bearer ' OR '1'='1"},
        revoked,
        {"Cookie": "frwatch_token=admin-token"},  # the dashboard's cookie is never honoured by /v1 (no CSRF)
        {"X-Forwarded-User": "admin", "X-Api-Key": "admin-token"},
    ]
    for method, path in api_routes():
        for headers in refused:
            body = {} if method in ("POST", "PATCH") else None
            response = await api.request(method, path, json=body, headers=headers)
            await problem(response, 401)
        if ADMIN_ONLY.match(path):
            response = await api.request(method, path, json={} if method in ("POST", "PATCH") else None,
                                         headers=integrator)
            await problem(response, 403)
    # nothing was created or changed by any of it
    sources = await (await api.get("/v1/sources", headers=ADMIN_HEADERS)).json()
    subscriptions = await (await api.get("/v1/subscriptions", headers=ADMIN_HEADERS)).json()
    keys = await (await api.get("/v1/api-keys", headers=ADMIN_HEADERS)).json()
    assert sources["data"] == [] and subscriptions["data"] == []
    assert sorted(k["name"] for k in keys["data"]) == ["integrator", "revoked"]
    # the read-only pages: a wrong Basic password or cookie shows nothing
    bad_basic = base64.b64encode(b"reader:wrong").decode()
    await problem(await api.get("/feeds/events.atom", headers={"Authorization": f"Basic {bad_basic}"}), 401)
    await problem(await api.get("/feeds/events.atom", headers={"Authorization": "Basic !!!not-base64"}), 401)
    page = await api.get("/", headers={"Cookie": "frwatch_token=wrong"}, allow_redirects=False)
    assert page.status == 303 and page.headers["Location"].startswith("/login")


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_another_tenants_deliveries_cannot_be_replayed_or_redelivered(api: Any, runtime: Runtime) -> None:
    _, alice = await new_key(api, "alice")
    _, bob = await new_key(api, "bob")
    async with WebhookReceiver() as receiver:
        created = await api.post("/v1/subscriptions", json={"url": receiver.url("/hook")}, headers=bob)
        bobs = (await created.json())["id"]
        await seed_event(runtime)
        from frwatch.notify.worker import deliver_due
        await deliver_due(runtime)
        deliveries = await (await api.get(f"/v1/subscriptions/{bobs}/deliveries", headers=bob)).json()
        attempt = deliveries["data"][0]
        delivery_id = attempt.get("message_id") or attempt.get("outbox_id") or attempt["id"]
        await problem(await api.post(f"/v1/deliveries/{delivery_id}/redeliver", headers=alice), 404)
        await problem(await api.post(f"/v1/subscriptions/{bobs}/replay", json={"since": "2020-01-01T00:00:00Z"},
                                     headers=alice), 404)
        assert len(receiver.received) == 1  # nothing was sent on alice's behalf


def body_routes(sub_id: str) -> list[tuple[str, str]]:
    return [("POST", "/v1/subscriptions"), ("PATCH", f"/v1/subscriptions/{sub_id}"),
            ("POST", f"/v1/subscriptions/{sub_id}/rotate-secret"), ("POST", f"/v1/subscriptions/{sub_id}/replay"),
            ("POST", "/v1/sources"), ("PATCH", "/v1/sources/src"), ("POST", "/v1/api-keys")]


BAD_BODIES: list[tuple[str, bytes, str | None, set[int]]] = [
    # (label, bytes, content type, acceptable statuses)
    ("truncated", b'{"url": ', "application/json", {400}),
    ("array", b"[1, 2]", "application/json", {400}),
    ("string", b'"text"', "application/json", {400}),
    ("null", b"null", "application/json", {400}),
    ("empty", b"", "application/json", {400}),
    ("invalid utf-8", b'{"name": "\xff\xfe\xfa"}', "application/json", {400}),
    ("lone surrogate", b'{"name": "\\ud800", "url": "\\udfff"}', "application/json", {400, 422}),
    ("NUL escape", b'{"name": "a\\u0000b", "description": "a\\u0000b", "url": "http://x/\\u0000"}',
     "application/json", {422}),
    ("NaN", b'{"filters": {"min_score": NaN}, "url": "http://127.0.0.1:9/"}', "application/json", {400, 422}),
    ("huge number", b'{"filters": {"min_score": 1e999999}, "name": 1' + b"0" * 5000 + b"}", "application/json",
     {400, 422}),
    ("duplicate keys", b'{"name": "a", "name": "b", "url": 1, "url": 2}', "application/json", {400, 422}),
    ("form", b"url=http://127.0.0.1:9/", "application/x-www-form-urlencoded", {415}),
    ("text", b'{"url": "http://127.0.0.1:9/"}', "text/plain", {415}),
    ("no type", b'{"url": "http://127.0.0.1:9/"}', None, {415}),
    ("xml", b"<subscription><url>http://127.0.0.1:9/</url></subscription>", "application/xml", {415}),
    ("multipart", b"--b\r\nContent-Disposition: form-data; name=url\r\n\r\nx\r\n--b--\r\n",
     "multipart/form-data; boundary=b", {415}),
    ("oversized", b'{"description": "' + b"a" * (1024 * 1024 + 1) + b'"}', "application/json", {413}),
]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_unreadable_bodies_are_problems_on_every_route_that_takes_one(api: Any) -> None:
    created = await api.post("/v1/subscriptions", json={"url": "http://127.0.0.1:9/hook"}, headers=ADMIN_HEADERS)
    sub_id = (await created.json())["id"]
    source = {"id": "src", "name": "Source", "url": "http://127.0.0.1:9/feed.xml", "kind": "news"}
    assert (await api.post("/v1/sources", json=source, headers=ADMIN_HEADERS)).status == 201
    failures = []
    for method, path in body_routes(sub_id):
        for label, data, content_type, statuses in BAD_BODIES:
            headers = dict(ADMIN_HEADERS)
            if content_type:
                headers["Content-Type"] = content_type
            response = await api.request(method, path, data=data, headers=headers,
                                         skip_auto_headers=() if content_type else ("Content-Type",))
            text = await response.text()
            if label == "empty" and path.endswith("/rotate-secret") and response.status == 200:
                continue  # its body is optional: no body means "generate a new secret"
            if response.status not in statuses or response.content_type != PROBLEM:
                failures.append((method, path, label, response.status, text[:200]))
    # an oversized body sent chunked (no Content-Length) is cut off too
    async def chunks():  # type: ignore[no-untyped-def]
        yield b'{"description": "'
        for _ in range(20):
            yield b"a" * 65536
        yield b'"}'
    chunked = await api.post("/v1/subscriptions", data=chunks(),
                             headers={**ADMIN_HEADERS, "Content-Type": "application/json"})
    if chunked.status != 413:
        failures.append(("POST", "/v1/subscriptions", "chunked oversized", chunked.status, await chunked.text()))
    assert failures == [], "\n".join(map(str, failures))
    # nothing was changed by any of it
    subscription = await (await api.get(f"/v1/subscriptions/{sub_id}", headers=ADMIN_HEADERS)).json()
    assert subscription["description"] == "" and subscription["url"] == "http://127.0.0.1:9/hook"
    assert len((await (await api.get("/v1/subscriptions", headers=ADMIN_HEADERS)).json())["data"]) == 1


DEEP = b'{"filters": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_deeply_nested_json_is_a_400_not_a_500(api: Any) -> None:
    statuses = set()
    for method, path in body_routes("sub_doesnotexist"):
        response = await api.request(method, path, data=DEEP,
                                     headers={**ADMIN_HEADERS, "Content-Type": "application/json"})
        statuses.add((path, response.status))
    assert {status for _, status in statuses} <= {400, 404}, statuses


async def test_hostile_strings_are_stored_and_returned_verbatim(api: Any) -> None:
    for text in HOSTILE:
        created = await api.post("/v1/subscriptions", json={"url": "http://127.0.0.1:9/hook", "description": text},
                                 headers=ADMIN_HEADERS)
        assert created.status == 201, await created.text()
        sub = await created.json()
        assert sub["description"] == text
        again = await (await api.get(f"/v1/subscriptions/{sub['id']}", headers=ADMIN_HEADERS)).json()
        assert again["description"] == text
        key = await api.post("/v1/api-keys", json={"name": text}, headers=ADMIN_HEADERS)
        assert key.status == 201 and (await key.json())["name"] == text
    printable = [t for t in HOSTILE if not re.search(r"[\x00-\x1f\x7f]", t)]
    for n, text in enumerate(printable):
        body = {"id": f"s{n}", "name": text, "regulator": text[:100], "url": f"http://127.0.0.1:9/{n}.xml",
                "kind": "news"}
        created = await api.post("/v1/sources", json=body, headers=ADMIN_HEADERS)
        assert created.status == 201, await created.text()
        assert (await created.json())["name"] == text
    # control characters in a source name are refused (they end up in logs and the sources file)
    refused = await api.post("/v1/sources", json={"id": "ctl", "name": CONTROL, "url": "http://127.0.0.1:9/c.xml",
                                                  "kind": "news"}, headers=ADMIN_HEADERS)
    assert (await problem(refused, 422))["field"] == "name"
    listed = await (await api.get("/v1/subscriptions?limit=100", headers=ADMIN_HEADERS)).json()
    assert sorted(s["description"] for s in listed["data"]) == sorted(HOSTILE)  # no table was dropped
    # hostile text as query parameters: a problem or a (possibly empty) page, never a 500
    for text in (*HOSTILE, "\x00", "a\x00b"):
        for path in ("/v1/events", "/v1/items", "/v1/exports/events"):
            for name in ("q", "regulator", "target", "jurisdiction"):
                response = await api.get(path, params={name: text}, headers=ADMIN_HEADERS)
                assert response.status in (200, 400), (path, name, repr(text), response.status,
                                                       await response.text())
        if "\x00" in text:
            continue  # NUL in a path: test_nul_in_an_id_is_a_404_not_a_500
        for path in ("/v1/events/", "/v1/items/", "/v1/subscriptions/", "/v1/sources/", "/v1/api-keys/"):
            method = "DELETE" if path == "/v1/api-keys/" else "GET"
            response = await api.request(method, path + text.replace("/", "%2F").replace("?", "%3F")
                                         .replace("#", "%23"), headers=ADMIN_HEADERS)
            assert response.status in (400, 404), (path, repr(text), response.status)
    dashboard = await (await api.get("/", headers=ADMIN_HEADERS)).text()
    assert "<script>alert(1)</script>" not in dashboard and "<img src=x" not in dashboard


ID_ROUTES = [("GET", "/v1/subscriptions/{}"), ("PATCH", "/v1/subscriptions/{}"), ("DELETE", "/v1/subscriptions/{}"),
             ("POST", "/v1/subscriptions/{}/ping"), ("POST", "/v1/subscriptions/{}/rotate-secret"),
             ("GET", "/v1/subscriptions/{}/deliveries"), ("POST", "/v1/subscriptions/{}/replay"),
             ("POST", "/v1/deliveries/{}/redeliver"), ("DELETE", "/v1/api-keys/{}"), ("GET", "/v1/events/{}"),
             ("GET", "/v1/items/{}"), ("GET", "/v1/sources/{}"), ("PATCH", "/v1/sources/{}"),
             ("DELETE", "/v1/sources/{}")]


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_nul_in_an_id_is_a_404_not_a_500(api: Any) -> None:
    answers = {}
    for method, template in ID_ROUTES:
        response = await api.request(method, template.format("sub%00x"), json={} if method in ("POST", "PATCH")
                                     else None, headers=ADMIN_HEADERS)
        answers[(method, template)] = response.status
    assert {status for status in answers.values()} <= {404, 422}, answers


async def test_hostile_feed_text_reaches_api_dashboard_and_atom_inert(api: Any, runtime: Runtime) -> None:
    """Through the whole path: a feed item with markup, SQL and control characters in plain-text
    fields is stored as text, returned verbatim by the API, escaped in the dashboard and Atom feed."""
    title = ("ICO fines Clearview AI £7.5 million over facial recognition <script>alert(1)</script> "
             "'; DROP TABLE items; -- \x1b[31m")
    summary = ("The Information Commissioner's Office fined Clearview AI Inc £7,552,800 for facial "
               "recognition. <img src=x onerror=alert(2)> Robert'); DROP TABLE events;--")
    async with FeedServer() as server:
        # titles are plain text in RSS when escaped: the angle brackets are characters, not markup
        body = rss([FeedItem(title, summary, guid="h1", link="https://news.example/h1")]).replace(
            b"<description>", b"<description type='text'>")
        server.add_feed("/h.xml", body)
        await add_sources(runtime, {"h": server.url("/h.xml")})
        [outcome] = await poll_due(runtime)
        assert outcome.new == 1, outcome
    items = await (await api.get("/v1/items", headers=ADMIN_HEADERS)).json()
    [item] = items["data"]
    stored = item["title"]
    assert "<script>alert(1)</script>" in stored and "DROP TABLE items" in stored
    assert "\x1b" not in stored and stored.endswith("DROP TABLE items; -- [31m")  # the ESC alone is dropped
    events = await (await api.get("/v1/events", headers=ADMIN_HEADERS)).json()
    assert events["data"], "the story should have made an event"
    event_title = events["data"][0]["title"]
    page = await (await api.get("/", headers=ADMIN_HEADERS)).text()
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<img src=x" not in page
    atom = await (await api.get("/feeds/events.atom", headers=ADMIN_HEADERS)).read()
    assert b"<script>" not in atom and b"<img src=x" not in atom
    parsed = feedparser.parse(atom, sanitize_html=False)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.entries[0].title == event_title


async def raw_request(api: Any, head: bytes, body: bytes = b"") -> tuple[int, str, bytes]:
    """Send bytes no HTTP client would (header values that are not UTF-8); the status, content
    type and body of the answer."""
    reader, writer = await asyncio.open_connection(api.server.host, api.server.port)
    try:
        writer.write(head + b"\r\nConnection: close\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        answer = await reader.read()
    finally:
        writer.close()
    status_line, _, rest = answer.partition(b"\r\n")
    headers, _, payload = rest.partition(b"\r\n\r\n")
    content_type = next((line.split(b":", 1)[1].split(b";")[0].strip().decode() for line in headers.split(b"\r\n")
                         if line.lower().startswith(b"content-type:")), "")
    return int(status_line.split()[1]), content_type, payload


async def test_header_bytes_that_are_not_utf8_are_refused_not_a_500(api: Any) -> None:
    _, integrator = await new_key(api, "integrator")
    token = integrator["Authorization"].encode()
    for head in (b"GET /v1/subscriptions HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer \xff\xfe",
                 b"GET /v1/subscriptions HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer frw_\xc3\x28",
                 b"GET /feeds/events.atom HTTP/1.1\r\nHost: t\r\nCookie: frwatch_token=\xff"):
        status, content_type, payload = await raw_request(api, head)
        assert (status, content_type) == (401, PROBLEM), (head, status, payload)
    for query in (b"q=%ff%fe", b"q=%ed%a0%80", b"regulator=\xff", b"cursor=%ff", b"limit=%ff"):  # bytes, escaped or not
        for path in (b"/v1/events", b"/v1/items", b"/v1/exports/events"):
            head = b"GET " + path + b"?" + query + b" HTTP/1.1\r\nHost: t\r\nAuthorization: " + token
            status, _, payload = await raw_request(api, head)
            assert status in (200, 400), (path, query, status, payload)
    status, _, _ = await raw_request(api, b"GET / HTTP/1.1\r\nHost: t\r\nCookie: frwatch_token=\xff")
    assert status == 303  # the dashboard sends an unknown cookie to its login page
    body = json.dumps({"url": "http://127.0.0.1:9/hook"}).encode()
    status, content_type, payload = await raw_request(
        api, b"POST /v1/subscriptions HTTP/1.1\r\nHost: t\r\nAuthorization: " + token
        + b"\r\nContent-Type: application/json\r\nIdempotency-Key: \xff", body)
    assert (status, content_type) == (400, PROBLEM) and json.loads(payload)["field"] == "Idempotency-Key", payload
    listed = await (await api.get("/v1/subscriptions", headers=integrator)).json()
    assert listed["data"] == []  # the refused request created nothing


async def test_unpaired_surrogates_in_json_strings_are_a_422_not_a_500(api: Any) -> None:
    # "\ud800" is valid JSON that decodes to a string no database or hash can take
    created = await api.post("/v1/subscriptions", json={"url": "http://127.0.0.1:9/hook"}, headers=ADMIN_HEADERS)
    sub = await created.json()
    for method, path, body, field in (
            ("POST", "/v1/subscriptions", {"url": "http://127.0.0.1:9/hook", "description": "a\ud800"}, "description"),
            ("PATCH", f"/v1/subscriptions/{sub['id']}", {"description": "\udc80"}, "description"),
            ("POST", "/v1/api-keys", {"name": "\ud800"}, "name"),
            ("POST", "/v1/sources", {"id": "s", "name": "\udfff", "url": "http://127.0.0.1:9/s.xml", "kind": "news"},
             "name")):
        response = await api.request(method, path, json=body, headers=ADMIN_HEADERS)
        assert (await problem(response, 422))["field"] == field
    assert (await (await api.get(f"/v1/subscriptions/{sub['id']}", headers=ADMIN_HEADERS)).json())["description"] == ""


async def test_a_malformed_host_header_is_a_400_not_a_500(api: Any) -> None:
    """The Atom feed's links are built from the Host header (as its reader reached the service)."""
    token = ADMIN_HEADERS["Authorization"].encode()
    for host in (b"x:abc", b"exa mple:99999", b"\xff", b"x:70000"):
        head = b"GET /feeds/events.atom HTTP/1.1\r\nHost: " + host + b"\r\nAuthorization: " + token
        status, content_type, payload = await raw_request(api, head)
        assert (status, content_type) == (400, PROBLEM), (host, status, payload)
    status, content_type, payload = await raw_request(
        api, b"GET /feeds/events.atom HTTP/1.1\r\nHost: frwatch.example:8443\r\nAuthorization: " + token)
    assert status == 200 and b'href="http://frwatch.example:8443/feeds/events.atom"' in payload, payload


async def test_an_unknown_query_parameter_is_a_400_on_every_route(api: Any) -> None:
    """A misspelt parameter is never silently ignored (``?purge=true`` means something on one route only)."""
    for method, path in api_routes():
        response = await api.request(method, path, params={"colour": "red"}, headers=ADMIN_HEADERS,
                                     json={} if method in ("POST", "PATCH") else None)
        assert (await problem(response, 400))["field"] == "colour", (method, path)
    undocumented = [(method, path) for path, item in spec()["paths"].items() if path.startswith("/v1/")
                    for method, operation in item.items() if method in METHODS and "400" not in operation["responses"]]
    assert undocumented == []  # the OpenAPI document says so
