"""The seed case end to end: the article that started frwatch, published as a feed item by a local
server, polled, classified, stored and grouped into one event with the right facts."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import select

from frwatch.ingest.poll import poll_due
from frwatch.models import Event, Item
from frwatch.runtime import Runtime
from frwatch.sources_config import SourceSpec
from frwatch.store import sources as source_store
from tests.feedbuild import FeedItem, rss
from tests.feedserver import FeedServer

SEED = Path(__file__).resolve().parents[1] / "data" / "seed_clearview_ico.txt"


async def test_seed_article_becomes_one_event_with_its_facts(runtime: Runtime) -> None:
    title, _, body = SEED.read_text(encoding="utf-8").strip().partition("\n")
    item = FeedItem(title.strip(), " ".join(body.split()), guid="seed",
                    published=datetime(2022, 5, 23, 10, 0, tzinfo=timezone.utc))
    async with FeedServer() as server:
        server.add_feed("/news.xml", rss([item, FeedItem("Unrelated", "A product launch.", guid="other")]))
        async with runtime.sessions() as s, s.begin():
            await source_store.sync_from_config(
                s, [SourceSpec(id="news", name="SiliconANGLE", url=server.url("/news.xml"), kind="news", language="en")],
                runtime.clock())
        [outcome] = await poll_due(runtime)
    assert outcome.new == 2
    async with runtime.sessions() as s:
        events = list(await s.scalars(select(Event)))
        items = {i.dedup_key: i for i in await s.scalars(select(Item))}
    assert len(events) == 1
    event = events[0]
    assert (event.regulator, event.jurisdiction, event.target, event.action_type) == ("ICO", "GB", "Clearview AI", "fine")
    assert (event.amount, event.currency) == (7_500_000, "GBP")
    assert items["seed"].event_id == event.id and items["other"].event_id is None
    assert items["seed"].reasons and items["seed"].score >= 0.5
