"""Event grouping against the database: the one-query candidate pool and the pipeline using it."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from frwatch.classify import Classifier
from frwatch.classify.group import GROUP_WINDOW
from frwatch.ingest.parse import Entry
from frwatch.models import Event, Item, Source
from frwatch.pipeline import process_entries
from frwatch.sources_config import SourceSpec
from frwatch.store import events as event_store
from frwatch.store import sources as source_store

T0 = datetime(2026, 1, 12, 9, 0, tzinfo=timezone.utc)


def event(event_id: str, *, target_key: str | None, regulator: str | None, occurred_at: datetime) -> Event:
    return Event(id=event_id, title=event_id, summary="", target_key=target_key, regulator=regulator, score=0.9,
                 reasons=[], occurred_at=occurred_at, first_seen_at=T0, updated_at=T0, item_count=1)


async def test_candidates_are_picked_per_report_from_one_pool(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session, session.begin():
        session.add_all([
            event("same_target", target_key="clearview", regulator=None, occurred_at=T0 - timedelta(days=2)),
            event("same_regulator", target_key="other", regulator="ICO", occurred_at=T0 + timedelta(days=20)),
            event("earlier_action", target_key="clearview", regulator="CNIL", occurred_at=T0 - timedelta(days=900)),
            event("too_old", target_key="clearview", regulator=None, occurred_at=T0 - timedelta(days=6 * 365)),
            event("regulator_too_far", target_key=None, regulator="ICO", occurred_at=T0 - timedelta(days=40)),
            event("unrelated", target_key="acme", regulator="AEPD", occurred_at=T0),
        ])
    probes = [event_store.Probe(target_key="clearview", regulator="ICO", occurred_at=T0),
              event_store.Probe(target_key=None, regulator="ICO", occurred_at=T0 - timedelta(days=45))]
    async with sessions() as session, session.begin():
        pool = await event_store.candidate_pool(session, probes, GROUP_WINDOW)
        # a superset: one query per key kind over the span of all probes
        assert {"same_target", "same_regulator", "earlier_action", "regulator_too_far"} <= {e.id for e in pool}
        assert "unrelated" not in {e.id for e in pool} and "too_old" not in {e.id for e in pool}
        first = event_store.EventPool(pool).candidates(probes[0], GROUP_WINDOW)
        assert [e.id for e in first] == ["same_regulator", "same_target", "earlier_action"]  # newest first
        second = event_store.EventPool(pool).candidates(probes[1], GROUP_WINDOW)
        assert [e.id for e in second] == ["regulator_too_far"]
        assert await event_store.candidate_pool(session, [event_store.Probe(None, None, T0)], GROUP_WINDOW) == []


def entry(key: str, title: str, summary: str, published: datetime) -> Entry:
    return Entry(key=key, guid=key, link=f"https://news.example/{key}", title=title, summary=summary,
                 published=published, content_hash=hashlib.sha256(f"{title}\n{summary}".encode()).hexdigest())


async def add_news_source(session: AsyncSession) -> Source:
    source = source_store.new_source(SourceSpec(id="news", name="News", url="https://news.example/rss",
                                                kind="news", language="en"), origin="config", now=T0)
    session.add(source)
    await session.flush()
    return source


async def test_one_document_groups_reports_and_links_a_later_action(
        sessions: async_sessionmaker[AsyncSession]) -> None:
    """Reports in one document are grouped against the events made for the reports before them;
    a second action against the same party a year later is a new event related to the first."""
    classifier = Classifier.load()
    async with sessions() as session, session.begin():
        source = await add_news_source(session)
        result = await process_entries(session, source, [
            entry("a1", "ICO fines Clearview AI £7.5 million over facial recognition database",
                  "The UK Information Commissioner's Office fined Clearview AI Inc £7,552,800 and ordered it "
                  "to delete images of UK residents.", T0),
            entry("b1", "UK watchdog fines facial recognition firm Clearview AI £7.5m",
                  "Britain's data protection regulator, the ICO, said Clearview AI must stop scraping and delete "
                  "the faces of people in the UK.", T0 + timedelta(hours=5)),
            entry("c1", "ICO fines Clearview AI again over facial recognition database",
                  "The UK Information Commissioner's Office fined Clearview AI Inc £2,000,000 for failing to "
                  "delete images of UK residents.", T0 + timedelta(days=400)),
        ], classifier, T0 + timedelta(days=400))
    assert (result.new, result.enforcement) == (3, 3)
    async with sessions() as session:
        items = {item.dedup_key: item for item in await session.scalars(select(Item))}
        events = {e.id: e for e in await session.scalars(select(Event))}
    assert items["a1"].event_id == items["b1"].event_id != items["c1"].event_id
    first, later = events[items["a1"].event_id], events[items["c1"].event_id]  # type: ignore[index]
    assert first.item_count == 2 and later.item_count == 1
    assert later.related_event_id == first.id
    assert sorted(change.kind for change in result.changes) == ["enforcement.detected"] * 2 + ["enforcement.updated"]


async def test_a_later_poll_joins_the_stored_event_and_fills_its_facts(
        sessions: async_sessionmaker[AsyncSession]) -> None:
    """The pool holds stored events as locked candidates; the one a report joins is loaded whole,
    counted and completed, and a second report of the same poll finds it so."""
    classifier = Classifier.load()
    async with sessions() as session, session.begin():
        source = await add_news_source(session)
        first = await process_entries(session, source, [
            entry("a1", "ICO fines Clearview AI over facial recognition database",
                  "The UK Information Commissioner's Office fined Clearview AI and ordered it to delete images "
                  "of UK residents.", T0)], classifier, T0)
    assert [change.kind for change in first.changes] == ["enforcement.detected"]
    async with sessions() as session, session.begin():
        source = await source_store.get(session, "news")
        assert source is not None
        later = await process_entries(session, source, [
            entry("b1", "UK watchdog fines facial recognition firm Clearview AI £7.5m",
                  "Britain's data protection regulator, the ICO, fined Clearview AI £7,552,800 over scraped faces.",
                  T0 + timedelta(hours=5)),
            entry("c1", "Clearview AI fined £7.5m by UK ICO for facial recognition",
                  "The ICO's penalty orders Clearview AI to delete the faces of UK residents.",
                  T0 + timedelta(hours=6))], classifier, T0 + timedelta(hours=6))
    assert [change.kind for change in later.changes] == ["enforcement.updated"] * 2
    async with sessions() as session:
        [event_row] = list(await session.scalars(select(Event)))
        items = list(await session.scalars(select(Item)))
    assert {item.event_id for item in items} == {event_row.id}
    assert event_row.item_count == 3
    by_key = {item.dedup_key: item for item in items}
    assert by_key["a1"].amount is None and by_key["b1"].amount is not None
    assert (event_row.amount, event_row.currency) == (by_key["b1"].amount, "GBP")  # filled by the later report


async def test_reports_of_other_dates_in_a_batch_do_not_crowd_out_a_reports_candidates(
        sessions: async_sessionmaker[AsyncSession]) -> None:
    """A batch may hold a new report and an edited one from a year ago, both about ICO: the
    newest ICO events (more than the pool's bound for two reports) must not push the old report's
    own candidate out of the pool."""
    old = T0 - timedelta(days=400)
    async with sessions() as session, session.begin():
        session.add_all(event(f"ico_{n:03}", target_key=None, regulator="ICO", occurred_at=T0 - timedelta(hours=n))
                        for n in range(2 * event_store.MAX_CANDIDATES + 10))
        session.add(event("ico_last_year", target_key=None, regulator="ICO", occurred_at=old - timedelta(days=1)))
    probes = [event_store.Probe(target_key=None, regulator="ICO", occurred_at=T0),
              event_store.Probe(target_key=None, regulator="ICO", occurred_at=old)]
    async with sessions() as session, session.begin():
        pool = await event_store.candidate_pool(session, probes, GROUP_WINDOW)
    assert [e.id for e in event_store.EventPool(pool).candidates(probes[1], GROUP_WINDOW)] == ["ico_last_year"]
    assert len(event_store.EventPool(pool).candidates(probes[0], GROUP_WINDOW)) == event_store.MAX_CANDIDATES
    assert len({e.id for e in pool}) == len(pool)  # each event once


async def test_the_pool_is_bounded_per_report(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session, session.begin():
        session.add_all(event(f"ico_{n:02}", target_key=None, regulator="ICO", occurred_at=T0 - timedelta(hours=n))
                        for n in range(event_store.MAX_CANDIDATES + 10))
    probe = event_store.Probe(target_key=None, regulator="ICO", occurred_at=T0)
    async with sessions() as session, session.begin():
        pool = await event_store.candidate_pool(session, [probe], GROUP_WINDOW)
    assert [e.id for e in pool] == [f"ico_{n:02}" for n in range(event_store.MAX_CANDIDATES)]  # the newest
