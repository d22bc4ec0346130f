"""The read API (events, items), the sources admin routes and their problem documents, through
the aiohttp app on a migrated database (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import update

from frwatch.api import export
from frwatch.ingest.parse import Entry
from frwatch.pipeline import process_entries
from frwatch.sources_config import SourceSpec
from frwatch.notify.matching import DETECTED
from frwatch.notify.signing import generate_secret
from frwatch.store import outbox as outbox_store
from frwatch.store import sources as source_store
from frwatch.store import subscriptions as subscription_store
from tests.conftest import ADMIN_HEADERS
from frwatch.models import Event
from tests.integration.read_seed import Seeded, _item, add_event, bearer, integrator_token, seed

PROBLEM = "application/problem+json"


@pytest.fixture
async def data(runtime: Any) -> Seeded:
    return await seed(runtime.sessions)


@pytest.fixture
async def reader(runtime: Any) -> dict[str, str]:
    """An integrator's headers: events and items are readable by any API key."""
    token, _ = await integrator_token(runtime.sessions)
    return bearer(token)


async def problem(resp: Any, status: int) -> dict[str, Any]:
    assert resp.status == status, await resp.text()
    assert resp.content_type == PROBLEM
    body = await resp.json()
    assert body["status"] == status and body["detail"]
    return body


async def ids(api: Any, path: str, headers: dict[str, str], **params: Any) -> list[Any]:
    resp = await api.get(path, params=params, headers=headers)
    assert resp.status == 200, await resp.text()
    return [row["id"] for row in (await resp.json())["data"]]


# --- events ---------------------------------------------------------------------------------------

async def test_events_need_a_token(api: Any, data: Seeded) -> None:
    await problem(await api.get("/v1/events"), 401)
    await problem(await api.get("/v1/events", headers=bearer("frw_nope")), 401)


async def test_events_newest_first_with_facts_and_sources(api: Any, data: Seeded, reader: dict[str, str]) -> None:
    resp = await api.get("/v1/events", headers=reader)
    body = await resp.json()
    assert [e["id"] for e in body["data"]] == [data.ftc, data.cnil, data.ico]
    assert body["next_cursor"] is None and "Link" not in resp.headers
    ico = body["data"][2]
    assert ico["regulator"] == "ICO" and ico["jurisdiction"] == "GB" and ico["amount"] == 7_500_000
    assert ico["currency"] == "GBP" and ico["action_type"] == "fine" and ico["item_count"] == 2
    assert {s["id"] for s in ico["sources"]} == {"ico-uk", "news-en"}
    assert ico["first_seen_at"].startswith("2026-01-10T10:00:00")


@pytest.mark.parametrize("params, expected", [
    ({"jurisdiction": "GB"}, ["ico"]),
    ({"jurisdiction": "US"}, ["ftc"]),  # US matches US-DC
    ({"jurisdiction": "gb,fr"}, ["cnil", "ico"]),
    ({"regulator": "cnil"}, ["cnil"]),
    ({"action_type": "ban"}, ["ftc"]),
    ({"target": "clearview"}, ["cnil", "ico"]),
    ({"language": "fr"}, ["cnil", "ico"]),  # ICO has a French report
    ({"min_score": "0.85"}, ["ico"]),
    ({"q": "clearview UK"}, ["ico"]),  # every word, in title, summary, target or regulator
    ({"q": "50%_"}, []),  # LIKE wildcards are literal
    ({"q": "PRONONCÉE échéance"}, ["cnil"]),  # case folded beyond ASCII, on SQLite too
    ({"since": "2026-01-10T11:00:00Z"}, ["ftc", "cnil"]),
    ({"until": "2026-01-10T11:00:00+00:00"}, ["cnil", "ico"]),
    ({"since": "2026-01-10T10:30:00", "until": "2026-01-10T11:30:00"}, ["cnil"]),
])
async def test_event_filters(api: Any, data: Seeded, params: dict[str, str], expected: list[str]) -> None:
    assert await ids(api, "/v1/events", ADMIN_HEADERS, **params) == [getattr(data, name) for name in expected]


async def test_repeated_list_filters_are_or(api: Any, data: Seeded) -> None:
    resp = await api.get("/v1/events?regulator=ICO&regulator=FTC", headers=ADMIN_HEADERS)
    assert [e["id"] for e in (await resp.json())["data"]] == [data.ftc, data.ico]


@pytest.mark.parametrize("query, field", [
    ("limit=0", "limit"), ("limit=201", "limit"), ("limit=ten", "limit"), ("limit=5&limit=6", "limit"),
    ("limit=%D9%A1%D9%A0", "limit"),
    ("min_score=1.5", "min_score"), ("min_score=nan", "min_score"), ("since=yesterday", "since"),
    ("since=0001-01-01T00:00:00%2B01:00", "since"),
    ("since=2026-02-01&until=2026-01-01", "since"), ("action_type=smack", "action_type"),
    ("jurisdiction=Britain", "jurisdiction"), ("language=english", "language"), ("cursor=xyz", "cursor"),
    ("q=a%00b", "q"), ("q=" + "+".join("abcdefghijk"), "q"), ("colour=red", "colour"),
])
async def test_bad_query_is_a_problem_naming_the_field(api: Any, data: Seeded, query: str, field: str) -> None:
    body = await problem(await api.get(f"/v1/events?{query}", headers=ADMIN_HEADERS), 400)
    assert body["field"] == field and body["detail"].startswith(field)


async def test_cursor_pages_are_stable_under_inserts(api: Any, runtime: Any, data: Seeded) -> None:
    for hour in range(6, 11):
        await add_event(runtime.sessions, f"evt_more_{hour}", hour)
    expected = await ids(api, "/v1/events", ADMIN_HEADERS)
    assert len(expected) == 8
    seen: list[str] = []
    url: str | None = "/v1/events?limit=3"
    while url:
        resp = await api.get(url, headers=ADMIN_HEADERS)
        body = await resp.json()
        seen += [e["id"] for e in body["data"]]
        if len(seen) == 3:  # something new arrives while a client is paging
            await add_event(runtime.sessions, "evt_newest", 20)
        url = resp.links["next"]["url"].path_qs if body["next_cursor"] else None  # type: ignore[union-attr]
    assert seen == expected


async def test_a_cursor_of_another_listing_is_refused(api: Any, data: Seeded) -> None:
    items = await (await api.get("/v1/items?limit=1", headers=ADMIN_HEADERS)).json()
    body = await problem(await api.get(f"/v1/events?cursor={items['next_cursor']}", headers=ADMIN_HEADERS), 400)
    assert body["field"] == "cursor"


async def test_event_detail_has_every_report(api: Any, data: Seeded, reader: dict[str, str]) -> None:
    body = await (await api.get(f"/v1/events/{data.ico}", headers=reader)).json()
    assert body["id"] == data.ico and body["item_count"] == 2
    assert sorted(i["language"] for i in body["items"]) == ["en", "fr"]
    assert all(i["event_id"] == data.ico and i["verdict"]["is_enforcement"] for i in body["items"])
    assert [s["name"] for s in body["sources"]] == ["Biometric Update", "ICO news"]
    assert body["items_truncated"] is False


async def test_event_detail_shows_the_first_hundred_reports(api: Any, runtime: Any, data: Seeded,
                                                            reader: dict[str, str]) -> None:
    async with runtime.sessions() as session, session.begin():
        event = await session.get(Event, data.ftc)
        session.add_all(_item("news-en", f"ftc-{n:03}", 4 + n, f"Report {n}", event=event, language="en")
                        for n in range(120))
    body = await (await api.get(f"/v1/events/{data.ftc}", headers=reader)).json()
    assert body["items_truncated"] is True
    titles = [item["title"] for item in body["items"]]  # oldest first: the seeded report, then these
    assert len(titles) == 100 and titles[1:] == [f"Report {n}" for n in range(99)]
    assert [s["id"] for s in body["sources"]] == ["news-en"]  # from every report, not just those shown
    paged = await (await api.get(f"/v1/items?event_id={data.ftc}&limit=200", headers=reader)).json()
    assert len(paged["data"]) == 121


@pytest.mark.parametrize("event_id", ["evt_missing", "a%00b", "x" * 65])
async def test_unknown_event_is_404(api: Any, data: Seeded, event_id: str) -> None:
    await problem(await api.get(f"/v1/events/{event_id}", headers=ADMIN_HEADERS), 404)


# --- items ----------------------------------------------------------------------------------------

async def test_items_include_near_misses_with_their_verdict(api: Any, data: Seeded, reader: dict[str, str]) -> None:
    body = await (await api.get("/v1/items?enforcement=false", headers=reader)).json()
    assert [i["id"] for i in body["data"]] == [data.hostile_item, data.near_miss]
    near = body["data"][1]
    assert near["verdict"]["is_enforcement"] is False and near["verdict"]["score"] == 0.35
    assert near["source"] == {"id": "news-en", "name": "Biometric Update"} and near["event_id"] is None


async def test_item_filters(api: Any, data: Seeded) -> None:
    assert len(await ids(api, "/v1/items", ADMIN_HEADERS)) == 6
    assert len(await ids(api, "/v1/items", ADMIN_HEADERS, enforcement="true")) == 4
    assert len(await ids(api, "/v1/items", ADMIN_HEADERS, source="news-en")) == 4
    assert len(await ids(api, "/v1/items", ADMIN_HEADERS, event_id=data.ico)) == 2
    assert await ids(api, "/v1/items", ADMIN_HEADERS, q="stadium") == [data.near_miss]
    assert len(await ids(api, "/v1/items", ADMIN_HEADERS, language="fr")) == 2
    await problem(await api.get("/v1/items?enforcement=maybe", headers=ADMIN_HEADERS), 400)


async def test_items_paginate(api: Any, data: Seeded) -> None:
    first = await (await api.get("/v1/items?limit=4", headers=ADMIN_HEADERS)).json()
    rest = await (await api.get(f"/v1/items?limit=4&cursor={first['next_cursor']}", headers=ADMIN_HEADERS)).json()
    all_ids = [i["id"] for i in first["data"] + rest["data"]]
    assert len(all_ids) == 6 == len(set(all_ids)) and rest["next_cursor"] is None


async def test_item_detail_and_404s(api: Any, data: Seeded, reader: dict[str, str]) -> None:
    body = await (await api.get(f"/v1/items/{data.near_miss}", headers=reader)).json()
    assert body["id"] == data.near_miss and body["revisions"] == []
    arabic_indic = str(data.near_miss).translate({ord(d): chr(0x660 + int(d)) for d in "0123456789"})
    for bad_id in ("999999", "abc", str(2**63), "-1", arabic_indic):
        await problem(await api.get(f"/v1/items/{bad_id}", headers=reader), 404)


# --- sources (admin) ------------------------------------------------------------------------------

NEW_SOURCE = {"id": "garante-it", "name": "Garante", "url": "https://www.garanteprivacy.it/rss", "kind": "regulator",
              "regulator": "Garante", "jurisdiction": "it", "language": "IT", "poll_interval": "1h"}


async def test_sources_are_admin_only(api: Any, data: Seeded, reader: dict[str, str]) -> None:
    await problem(await api.get("/v1/sources"), 401)
    await problem(await api.get("/v1/sources", headers=reader), 403)
    await problem(await api.post("/v1/sources", json=NEW_SOURCE, headers=reader), 403)


async def test_sources_list_health(api: Any, data: Seeded) -> None:
    body = await (await api.get("/v1/sources", headers=ADMIN_HEADERS)).json()
    cnil = next(s for s in body["data"] if s["id"] == "cnil-fr")
    assert cnil["health"]["status"] == "ok" and cnil["health"]["last_status"] == 200
    assert cnil["health"]["error_count"] == 0 and cnil["health"]["next_poll_at"].startswith("2026-01-10T09:15")


async def test_add_patch_remove_a_source(api: Any, data: Seeded) -> None:
    resp = await api.post("/v1/sources", json=NEW_SOURCE, headers=ADMIN_HEADERS)
    assert resp.status == 201, await resp.text()
    created = await resp.json()
    assert created["jurisdiction"] == "IT" and created["language"] == "it" and created["poll_interval"] == "1h"
    assert created["origin"] == "api" and created["health"]["status"] == "never_polled"
    await problem(await api.post("/v1/sources", json=NEW_SOURCE, headers=ADMIN_HEADERS), 409)

    resp = await api.patch("/v1/sources/garante-it", json={"enabled": False, "poll_interval": None},
                           headers=ADMIN_HEADERS)
    patched = await resp.json()
    assert patched["enabled"] is False and patched["poll_interval"] is None
    assert patched["health"]["status"] == "disabled"
    assert (await (await api.get("/v1/sources/garante-it", headers=ADMIN_HEADERS)).json())["enabled"] is False

    resp = await api.delete("/v1/sources/garante-it", headers=ADMIN_HEADERS)
    assert (await resp.json())["outcome"] == "deleted"
    await problem(await api.get("/v1/sources/garante-it", headers=ADMIN_HEADERS), 404)


async def test_a_source_with_items_is_disabled_unless_purged(api: Any, data: Seeded) -> None:
    resp = await api.delete("/v1/sources/cnil-fr", headers=ADMIN_HEADERS)
    assert (await resp.json())["outcome"] == "disabled"
    resp = await api.delete("/v1/sources/cnil-fr?purge=true", headers=ADMIN_HEADERS)
    assert (await resp.json())["outcome"] == "deleted"
    await problem(await api.delete("/v1/sources/cnil-fr", headers=ADMIN_HEADERS), 404)


async def test_purging_a_source_recounts_its_events_and_deletes_those_left_without_reports(
        api: Any, runtime: Any, data: Seeded) -> None:
    """CNIL's event has one report (from cnil-fr), ICO's two (ico-uk, news-en). A message still owed
    about a deleted event is dropped; one already delivered stays in the log without its event."""
    now = runtime.clock()
    async with runtime.sessions() as session, session.begin():
        sub = await subscription_store.create(session, owner_id=None, secret=generate_secret(), now=now,
                                              url="https://hooks.example/in", description="", enabled=True,
                                              event_types=[], filters={})
        owed = outbox_store.add(session, subscription_id=sub.id, event_id=data.cnil, event_type=DETECTED,
                                payload="{}", now=now)
        sent = outbox_store.add(session, subscription_id=sub.id, event_id=data.cnil, event_type=DETECTED,
                                payload="{}", now=now)
        sent.status = outbox_store.DELIVERED
        await session.execute(update(Event).where(Event.id == data.ftc).values(related_event_id=data.cnil))
    for source in ("cnil-fr", "ico-uk"):
        resp = await api.delete(f"/v1/sources/{source}?purge=true", headers=ADMIN_HEADERS)
        assert (await resp.json())["outcome"] == "deleted"
    await problem(await api.get(f"/v1/events/{data.cnil}", headers=ADMIN_HEADERS), 404)
    ico = await (await api.get(f"/v1/events/{data.ico}", headers=ADMIN_HEADERS)).json()
    assert ico["item_count"] == 1 and [item["source"]["id"] for item in ico["items"]] == ["news-en"]
    ftc = await (await api.get(f"/v1/events/{data.ftc}", headers=ADMIN_HEADERS)).json()
    assert ftc["related_event_id"] is None
    async with runtime.sessions() as session:
        assert await outbox_store.get(session, owed.id) is None
        kept = await outbox_store.get(session, sent.id)
        assert kept is not None and kept.event_id is None and kept.status == outbox_store.DELIVERED


async def test_a_new_url_is_polled_at_once(api: Any, runtime: Any, data: Seeded) -> None:
    before = runtime.clock()
    resp = await api.patch("/v1/sources/ico-uk", json={"url": "https://ico.example/new.xml"}, headers=ADMIN_HEADERS)
    body = await resp.json()
    assert body["url"] == "https://ico.example/new.xml"
    assert datetime.fromisoformat(body["health"]["next_poll_at"]) >= before


@pytest.mark.parametrize("change, field", [
    ({"url": "file:///etc/passwd"}, "url"), ({"url": "http://10.1.2.3/x"}, "url"),
    ({"url": "ftp://example.com/x"}, "url"), ({"kind": "blog"}, "kind"), ({"jurisdiction": "Britain"}, "jurisdiction"),
    ({"language": "eng"}, "language"), ({"poll_interval": "soon"}, "poll_interval"),
    ({"poll_interval": "90d"}, "poll_interval"), ({"name": ""}, "name"), ({"name": "a\x00b"}, "name"),
    ({"name": "x" * 301}, "name"), ({"enabled": "yes"}, "enabled"), ({"colour": "red"}, "colour"),
    ({"id": "Bad Id"}, "id"), ({"regulator": 7}, "regulator"),
])
async def test_invalid_source_bodies_name_the_field(api: Any, data: Seeded, change: dict[str, Any],
                                                    field: str) -> None:
    body = await problem(await api.post("/v1/sources", json={**NEW_SOURCE, **change}, headers=ADMIN_HEADERS), 422)
    assert body["field"] == field


async def test_missing_field_bad_json_and_big_bodies(api: Any, data: Seeded) -> None:
    body = await problem(await api.post("/v1/sources", json={"id": "x"}, headers=ADMIN_HEADERS), 422)
    assert body["field"] == "name"
    await problem(await api.post("/v1/sources", data=b"{not json", headers={**ADMIN_HEADERS,
                                                                            "Content-Type": "application/json"}), 400)
    await problem(await api.post("/v1/sources", json=[NEW_SOURCE], headers=ADMIN_HEADERS), 400)
    await problem(await api.patch("/v1/sources/ico-uk", json={"id": "other"}, headers=ADMIN_HEADERS), 422)
    await problem(await api.post("/v1/sources", data=b"x" * (2 * 1024 * 1024),
                                 headers={**ADMIN_HEADERS, "Content-Type": "application/json"}), 413)


async def test_unknown_routes_and_methods_are_problems(api: Any) -> None:
    await problem(await api.get("/v1/nothing-here", headers=ADMIN_HEADERS), 404)
    resp = await api.put("/v1/events", headers=ADMIN_HEADERS)
    await problem(resp, 405)
    assert "GET" in resp.headers["Allow"]


# --- export ---------------------------------------------------------------------------------------

async def test_csv_export_of_filtered_events(api: Any, runtime: Any, data: Seeded, reader: dict[str, str]) -> None:
    await add_event(runtime.sessions, "evt_formula", 7, title="=HYPERLINK(\"http://evil\")", target="Clearview AI")
    resp = await api.get("/v1/exports/events?target=clearview", headers=reader)
    assert resp.status == 200 and resp.content_type == "text/csv"
    assert "attachment" in resp.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(await resp.text())))
    assert [row["id"] for row in rows] == ["evt_formula", data.cnil, data.ico]
    assert rows[0]["title"].startswith("'=")  # no formula when opened in a spreadsheet
    assert rows[2]["amount"] == "7500000.0" and rows[2]["sources"] == "Biometric Update; ICO news"


async def test_json_export_streams_every_page(api: Any, runtime: Any, data: Seeded, monkeypatch: Any) -> None:
    monkeypatch.setattr(export, "BATCH", 2)
    resp = await api.get("/v1/exports/events?format=json", headers=ADMIN_HEADERS)
    body = json.loads(await resp.text())
    assert [e["id"] for e in body] == [data.ftc, data.cnil, data.ico]
    empty = await api.get("/v1/exports/events?format=json&regulator=nobody", headers=ADMIN_HEADERS)
    assert json.loads(await empty.text()) == []
    await problem(await api.get("/v1/exports/events?format=xls", headers=ADMIN_HEADERS), 400)
    await problem(await api.get("/v1/exports/events"), 401)


# --- through the pipeline -------------------------------------------------------------------------

def entry(key: str, title: str, summary: str, published: datetime) -> Entry:
    return Entry(key=key, guid=key, link=f"https://news.example/{key}", title=title, summary=summary,
                 published=published, content_hash=hashlib.sha256(f"{title}\n{summary}".encode()).hexdigest())


async def test_pipeline_output_is_readable(api: Any, runtime: Any, reader: dict[str, str]) -> None:
    """Entries classified and grouped by the real pipeline show up as one event with two reports,
    and the near-miss as an item with its (negative) verdict."""
    published = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)
    now = runtime.clock()
    async with runtime.sessions() as session, session.begin():
        source = source_store.new_source(SourceSpec(id="news", name="News", url="https://news.example/rss",
                                                    kind="news", language="en"), origin="config", now=now)
        session.add(source)
        await session.flush()
        await process_entries(session, source, [
            entry("a1", "ICO fines Clearview AI £7.5 million over facial recognition database",
                  "The UK Information Commissioner's Office fined Clearview AI Inc £7,552,800 and issued an "
                  "enforcement notice ordering it to delete images of UK residents.", published),
            entry("b1", "UK watchdog fines facial recognition firm Clearview AI £7.5m",
                  "Britain's data protection regulator, the ICO, said Clearview AI must stop scraping and delete "
                  "the faces of people in the UK.", published + timedelta(hours=5)),
            entry("c1", "ICO publishes annual report", "The regulator's annual report is out.", published),
        ], runtime.classifier, now)
    events = (await (await api.get("/v1/events?jurisdiction=GB&action_type=fine", headers=reader)).json())["data"]
    assert len(events) == 1 and events[0]["regulator"] == "ICO" and events[0]["currency"] == "GBP"
    detail = await (await api.get(f"/v1/events/{events[0]['id']}", headers=reader)).json()
    assert sorted(item["source"]["id"] for item in detail["items"]) == ["news", "news"]
    near = (await (await api.get("/v1/items?enforcement=false", headers=reader)).json())["data"]
    assert [item["title"] for item in near] == ["ICO publishes annual report"]
    assert near[0]["verdict"]["is_enforcement"] is False and near[0]["event_id"] is None


async def test_the_same_source_added_at_once_is_created_once(api: Any, data: Seeded) -> None:
    """Concurrent adds of one id: one 201, the others the same 409 as a later add (not a 500 from
    the primary key when both checked before either inserted)."""
    source = dict(NEW_SOURCE, id="race-it")
    responses = await asyncio.gather(*(api.post("/v1/sources", json=source, headers=ADMIN_HEADERS)
                                       for _ in range(8)))
    statuses = sorted(response.status for response in responses)
    assert statuses == [201] + [409] * 7, [await response.text() for response in responses]
    for response in responses:
        if response.status == 409:
            assert (await problem(response, 409))["field"] == "id"
