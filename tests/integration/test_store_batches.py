"""Changed feeds stored several to a transaction, and what happens when such a batch fails."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import event, func, select

from frwatch.ingest.parse import body_hash, parse_feed
from frwatch.ingest.poll import Parsed, store_parsed
from frwatch.models import Item, Source
from frwatch.runtime import Runtime
from frwatch.sources_config import SourceSpec
from frwatch.store import items as item_store
from frwatch.store import sources as source_store
from tests.feedbuild import FeedItem, rss
from tests.feedserver import FeedServer

FEEDS = ("a", "b", "c")


async def fetched(rt: Runtime, server: FeedServer) -> list[Parsed]:
    """Each feed served, leased to ``rt``'s worker, fetched over HTTP and parsed: ready to store."""
    for name in FEEDS:
        server.add_feed(f"/{name}.xml", rss([
            FeedItem(f"ICO fines {name.upper()} Corp over facial recognition",
                     f"The Information Commissioner's Office fined {name.upper()} Corp for scraping faces.",
                     guid=f"{name}-1"),
            FeedItem(f"Weather for {name}", "Sunny.", guid=f"{name}-2")]))
    async with rt.sessions() as session, session.begin():
        await source_store.sync_from_config(session, [SourceSpec(id=name, name=name, url=server.url(f"/{name}.xml"),
                                                                 kind="news", language="en") for name in FEEDS],
                                            rt.clock())
        leases = await source_store.claim_due(session, now=rt.clock(), worker=rt.worker,
                                              lease=timedelta(minutes=5), limit=10)
    polls = []
    for lease in sorted(leases, key=lambda lease: lease.id):
        result = await rt.fetcher.fetch(lease.url)
        assert result.body is not None
        polls.append(Parsed(lease, result, parse_feed(result.body, url=result.url), body_hash(result.body)))
    return polls


async def stored(rt: Runtime) -> tuple[dict[str, int], dict[str, Source]]:
    async with rt.sessions() as session:
        counts = dict((await session.execute(select(Item.source_id, func.count()).group_by(Item.source_id))).all())
        sources = {source.id: source for source in await session.scalars(select(Source))}
    return counts, sources  # type: ignore[return-value]


async def test_changed_feeds_are_stored_together_in_one_transaction(runtime: Runtime) -> None:
    async with FeedServer() as server:
        polls = await fetched(runtime, server)
    commits: list[object] = []

    def committed(connection: object) -> None:
        commits.append(connection)

    event.listen(runtime.engine.sync_engine, "commit", committed)
    try:
        outcomes = await store_parsed(runtime, polls)
    finally:
        event.remove(runtime.engine.sync_engine, "commit", committed)
    assert [(o.source_id, o.outcome, o.new) for o in outcomes] == [(name, "new_items", 2) for name in FEEDS]
    assert len(commits) == 1
    counts, sources = await stored(runtime)
    assert counts == {name: 2 for name in FEEDS}
    assert all(s.lease_owner is None and s.polls == 1 and s.body_hash for s in sources.values())


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_a_feed_that_cannot_be_stored_does_not_take_the_batch_with_it(runtime: Runtime) -> None:
    """PostgreSQL refuses a NUL in text (the parser never yields one; here it is put in by hand):
    the batch rolls back, each feed is stored alone, and only the bad one is recorded as failed."""
    async with FeedServer() as server:
        polls = await fetched(runtime, server)
    bad = polls[1]
    polls[1] = replace(bad, feed=replace(bad.feed, entries=[replace(bad.feed.entries[0], key="b-\x00-1")]))
    outcomes = await store_parsed(runtime, polls)
    assert [(o.source_id, o.outcome) for o in outcomes] == [("a", "new_items"), ("b", "error"), ("c", "new_items")]
    counts, sources = await stored(runtime)
    assert counts == {"a": 2, "c": 2}
    assert sources["b"].error_count == 1 and sources["b"].lease_owner is None and sources["b"].last_error
    assert sources["b"].body_hash is None  # not stored: the next poll tries the body again


async def test_known_items_are_found_past_the_bound_value_limit(runtime: Runtime) -> None:
    """A batch may ask about more keys and hashes than PostgreSQL binds in one statement (32,767):
    the lookup is split, and the oldest item of a text still wins across the parts."""
    now = runtime.clock()
    async with runtime.sessions() as session, session.begin():
        await source_store.sync_from_config(session, [SourceSpec(id="big", name="big", url="https://big.example/feed",
                                                                 kind="news")], now)
        for key, text_hash in (("k5", "h5"), ("k19999", "h19999"), ("again", "h5")):  # "again": same text, newer
            session.add(Item(source_id="big", dedup_key=key, title=key, summary="", content_hash=text_hash,
                             published_at=now, first_seen_at=now, updated_at=now, reasons=[]))
    keys, hashes = [f"k{n}" for n in range(20_000)], [f"h{n}" for n in range(20_000)]
    async with runtime.sessions() as session:
        found = await item_store.find_known(session, {"big": (keys, hashes)})
    by_key, by_content = found["big"]
    assert sorted(by_key) == ["k19999", "k5"]
    assert sorted(by_content) == ["h19999", "h5"] and by_content["h5"].dedup_key == "k5"
