"""``/feeds/events.atom``: valid Atom that feedparser reads back, filtered like /v1/events,
behind the same tokens (Bearer or Basic) unless the dashboard is public."""

from __future__ import annotations

import base64
from typing import Any

import feedparser
import pytest
from sqlalchemy import update
from defusedxml import ElementTree

from frwatch.api.app import create_app
from frwatch.models import Item
from frwatch.runtime import open_runtime
from tests.conftest import ADMIN_HEADERS, make_settings
from tests.integration.read_seed import HOSTILE, Seeded, add_event, integrator_token, seed

FEED = "/feeds/events.atom"


@pytest.fixture
async def data(runtime: Any) -> Seeded:
    return await seed(runtime.sessions)


def basic(token: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"reader:{token}".encode()).decode()}


async def read_feed(api: Any, query: str = "", headers: dict[str, str] = ADMIN_HEADERS) -> Any:
    resp = await api.get(FEED + query, headers=headers)
    assert resp.status == 200, await resp.text()
    assert resp.content_type == "application/atom+xml"
    body = await resp.read()
    ElementTree.fromstring(body)  # well-formed XML
    parsed = feedparser.parse(body)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    return parsed


async def test_feedparser_reads_the_events_back(api: Any, data: Seeded) -> None:
    parsed = await read_feed(api)
    assert parsed.feed.title.startswith("frwatch")
    assert [e.id for e in parsed.entries] == [f"urn:frwatch:event:{i}" for i in (data.ftc, data.cnil, data.ico)]
    ico = parsed.entries[2]
    assert ico.title == "ICO fines Clearview AI £7.5m"
    assert ico.link == "https://ico-uk.example/i1"  # the earliest report
    assert "7,500,000 GBP" in ico.summary and "against Clearview AI Inc" in ico.summary
    assert {t.term for t in ico.tags} == {"fine", "GB", "ICO"}
    assert ico.author == "ICO"
    assert ico.published_parsed[:4] == (2026, 1, 10, 10)
    assert any(link.rel == "self" for link in parsed.feed.links)


async def test_filters_and_limit(api: Any, data: Seeded) -> None:
    parsed = await read_feed(api, "?jurisdiction=FR,GB&limit=1")
    assert [e.id for e in parsed.entries] == [f"urn:frwatch:event:{data.cnil}"]
    resp = await api.get(FEED + "?cursor=abc", headers=ADMIN_HEADERS)
    assert resp.status == 400 and resp.content_type == "application/problem+json"


async def test_hostile_text_and_links_stay_inert(api: Any, runtime: Any, data: Seeded) -> None:
    await add_event(runtime.sessions, "evt_hostile", 9, title=HOSTILE)
    async with runtime.sessions() as session, session.begin():
        await session.execute(update(Item).where(Item.event_id == "evt_hostile").values(link="javascript:alert(1)"))
    parsed = await read_feed(api)
    entry = parsed.entries[0]
    assert entry.title == HOSTILE  # text, escaped in the XML, not markup
    assert "link" not in entry or not entry.link.startswith("javascript")


async def test_conditional_get(api: Any, data: Seeded) -> None:
    first = await api.get(FEED, headers=ADMIN_HEADERS)
    again = await api.get(FEED, headers={**ADMIN_HEADERS, "If-None-Match": first.headers["ETag"]})
    assert again.status == 304


async def test_tokens_and_public_mode(api: Any, aiohttp_client: Any, db_url: str, runtime: Any,
                                      data: Seeded) -> None:
    resp = await api.get(FEED)
    assert resp.status == 401 and resp.content_type == "application/problem+json"
    assert "Basic" in resp.headers["WWW-Authenticate"]
    token, _ = await integrator_token(runtime.sessions)
    assert len((await read_feed(api, headers=basic(token))).entries) == 3
    assert (await api.get(FEED, headers=basic("wrong"))).status == 401
    async with open_runtime(make_settings(db_url, dashboard_public=True)) as public_rt:
        public = await aiohttp_client(create_app(public_rt))
        assert len((await read_feed(public, headers={})).entries) == 3
