"""The poll cycle end to end over real HTTP on 127.0.0.1 and a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from aiohttp import web
from sqlalchemy import func, select, text

from frwatch import metrics
from frwatch.ingest.poll import poll_due
from frwatch.models import Event, Item, ItemRevision, Source
from frwatch.runtime import Runtime, open_runtime
from frwatch.sources_config import SourceSpec
from frwatch.store import sources as source_store
from tests.conftest import make_settings, truncate_all
from tests.feedbuild import FeedItem, rss
from tests.feedserver import FeedServer

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "feeds"
START = datetime(2026, 11, 27, 12, 0, tzinfo=timezone.utc)


class Clock:
    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


async def add_sources(rt: Runtime, server: FeedServer, **paths: str) -> None:
    specs = [SourceSpec(id=sid, name=sid, url=server.url(path), kind="news", language="en")
             for sid, path in paths.items()]
    async with rt.sessions() as s, s.begin():
        await source_store.sync_from_config(s, specs, rt.clock())


async def count(rt: Runtime, model: type, *where: object) -> int:
    async with rt.sessions() as s:
        return await s.scalar(select(func.count()).select_from(model).where(*where)) or 0


async def source(rt: Runtime, source_id: str) -> Source:
    async with rt.sessions() as s:
        found = await source_store.get(s, source_id)
    assert found is not None
    return found


def sample(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


async def test_first_poll_stores_items_second_gets_304(runtime: Runtime, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="frwatch")
    clock = runtime.clock = Clock()
    before = (sample("frwatch_polls_total", outcome="new_items"), sample("frwatch_polls_total", outcome="not_modified"),
              sample("frwatch_items_ingested_total"), sample("frwatch_fetch_duration_seconds_count"))
    async with FeedServer() as server:
        server.add_feed("/ftc.xml", FIXTURES / "real" / "ftc-press-release-competition.xml", etag='"v1"')
        await add_sources(runtime, server, ftc="/ftc.xml")
        outcomes = await poll_due(runtime)
        stored = await count(runtime, Item)
        assert [o.outcome for o in outcomes] == ["new_items"] and outcomes[0].new == stored > 10
        assert await poll_due(runtime) == []          # not due yet
        clock.advance(timedelta(hours=1))
        outcomes = await poll_due(runtime)
        assert [(o.outcome, o.status) for o in outcomes] == [("not_modified", 304)]
        assert server.last_headers["/ftc.xml"]["If-None-Match"] == '"v1"'
        assert await count(runtime, Item) == stored
    after = (sample("frwatch_polls_total", outcome="new_items"), sample("frwatch_polls_total", outcome="not_modified"),
             sample("frwatch_items_ingested_total"), sample("frwatch_fetch_duration_seconds_count"))
    assert [a - b for a, b in zip(after, before)] == [1, 1, stored, 2]
    # the poll with news is logged at info, the one that changed nothing at debug
    assert [(r.levelno, r.outcome, r.source_id) for r in caplog.records if r.getMessage() == "polled"] == [
        (logging.INFO, "new_items", "ftc"), (logging.DEBUG, "not_modified", "ftc")]
    state = await source(runtime, "ftc")
    assert state.polls == 2 and state.error_count == 0 and state.lease_owner is None
    assert START + timedelta(hours=1) + timedelta(minutes=13) <= state.next_poll_at <= START + timedelta(hours=1, minutes=17)


async def test_unchanged_body_without_validators_is_not_parsed_again(runtime: Runtime,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="frwatch")
    clock = runtime.clock = Clock()
    async with FeedServer() as server:
        server.add_feed("/f.xml", rss([FeedItem("A", "a", guid="1"), FeedItem("B", "b", guid="2")]))
        await add_sources(runtime, server, f="/f.xml")
        assert [o.new for o in await poll_due(runtime)] == [2]
        clock.advance(timedelta(hours=1))
        assert [(o.outcome, o.status) for o in await poll_due(runtime)] == [("no_change", 200)]
    assert [(r.levelno, r.outcome) for r in caplog.records if r.getMessage() == "polled"] == [
        (logging.INFO, "new_items"), (logging.DEBUG, "no_change")]


async def test_new_and_edited_items(runtime: Runtime) -> None:
    clock = runtime.clock = Clock()
    async with FeedServer() as server:
        server.add_feed("/f.xml", rss([FeedItem("First", "one", guid="1")]))
        await add_sources(runtime, server, f="/f.xml")
        await poll_due(runtime)
        server.add_feed("/f.xml", rss([FeedItem("First (corrected)", "one, corrected", guid="1"),
                                       FeedItem("Second", "two", guid="2")]))
        clock.advance(timedelta(hours=1))
        [outcome] = await poll_due(runtime)
    assert (outcome.new, outcome.updated) == (1, 1)
    assert await count(runtime, Item) == 2
    async with runtime.sessions() as s:
        item = await s.scalar(select(Item).where(Item.dedup_key == "1"))
        revisions = list(await s.scalars(select(ItemRevision)))
    assert item is not None and item.title == "First (corrected)" and item.revision == 2
    assert [(r.revision, r.title) for r in revisions] == [(1, "First")]


async def test_broken_sources_never_stop_the_others(runtime: Runtime) -> None:
    runtime.clock = Clock()
    async with FeedServer() as server:
        server.add_feed("/good.xml", rss([FeedItem("Fine", "ok", guid="g1")]))
        server.add_status("/error.xml", 500, body=b"oops")
        server.add_status("/gone.xml", 410)
        server.add_status("/busy.xml", 429, headers={"Retry-After": "7200"})
        server.add_feed("/html.xml", b"<html><body><p>Not a feed</p></body></html>", content_type="text/html")
        server.add_large("/huge.xml", runtime.settings.max_body_bytes + 1024 * 1024)
        await add_sources(runtime, server, good="/good.xml", error="/error.xml", gone="/gone.xml",
                          busy="/busy.xml", html="/html.xml", huge="/huge.xml", missing="/nothing-here.xml")
        outcomes = {o.source_id: o for o in await poll_due(runtime)}
    assert outcomes["good"].outcome == "new_items"
    assert {sid: o.outcome for sid, o in outcomes.items() if sid != "good"} == {
        "error": "error", "gone": "gone", "busy": "error", "html": "error", "huge": "error", "missing": "error"}
    assert await count(runtime, Item) == 1            # nothing half-parsed from the huge or broken ones
    gone, busy, error, huge = [await source(runtime, sid) for sid in ("gone", "busy", "error", "huge")]
    assert gone.enabled is False and "410" in gone.disabled_reason
    assert busy.enabled and busy.last_status == 429 and busy.next_poll_at >= START + timedelta(hours=2)
    assert error.last_status == 500 and error.error_count == 1 and error.last_error
    assert "exceeds" in huge.last_error
    assert all(s.lease_owner is None for s in (gone, busy, error, huge))


async def test_errors_back_off_and_recover(runtime: Runtime) -> None:
    clock = runtime.clock = Clock()
    async with FeedServer() as server:
        server.add_status("/f.xml", 503)
        await add_sources(runtime, server, f="/f.xml")
        delays = []
        for _ in range(4):
            await poll_due(runtime)
            state = await source(runtime, "f")
            delays.append(state.next_poll_at - clock.now)
            clock.now = state.next_poll_at
        assert delays[0] < delays[1] < delays[2] < delays[3] and state.error_count == 4 and state.enabled
        server.add_feed("/f.xml", rss([FeedItem("Back", "up", guid="b")]))
        [outcome] = await poll_due(runtime)
    assert outcome.outcome == "new_items"
    state = await source(runtime, "f")
    assert state.error_count == 0 and state.last_error is None


async def test_permanent_redirect_updates_stored_url(runtime: Runtime) -> None:
    runtime.clock = Clock()
    async with FeedServer() as server:
        server.add_feed("/new.xml", rss([FeedItem("Moved", "x", guid="m")]))
        server.add_redirect("/old.xml", "/mid.xml", status=301)
        server.add_redirect("/mid.xml", "/new.xml", status=308)
        server.add_redirect("/temp.xml", "/new.xml", status=302)
        await add_sources(runtime, server, moved="/old.xml", temp="/temp.xml")
        await poll_due(runtime)
        assert (await source(runtime, "moved")).url == server.url("/new.xml")
        assert (await source(runtime, "temp")).url == server.url("/temp.xml")


async def test_enforcement_reports_group_into_one_event(runtime: Runtime) -> None:
    runtime.clock = Clock()
    published = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)
    async with FeedServer() as server:
        server.add_feed("/a.xml", rss([FeedItem(
            "ICO fines Clearview AI £7.5 million over facial recognition database",
            "The UK Information Commissioner's Office fined Clearview AI Inc £7,552,800 and issued an "
            "enforcement notice ordering it to delete images of UK residents.", guid="a1", published=published),
            FeedItem("ICO publishes annual report", "The regulator's annual report is out.", guid="a2")]))
        server.add_feed("/b.xml", rss([FeedItem(
            "UK watchdog fines facial recognition firm Clearview AI £7.5m",
            "Britain's data protection regulator, the ICO, said Clearview AI must stop scraping and delete "
            "the faces of people in the UK.", guid="b1", published=published + timedelta(hours=5))]))
        await add_sources(runtime, server, a="/a.xml", b="/b.xml")
        await poll_due(runtime)
    assert await count(runtime, Item) == 3
    assert await count(runtime, Item, Item.is_enforcement.is_(True)) == 2
    async with runtime.sessions() as s:
        events = list(await s.scalars(select(Event)))
    assert len(events) == 1
    event = events[0]
    assert (event.regulator, event.jurisdiction, event.action_type, event.currency) == ("ICO", "GB", "fine", "GBP")
    assert event.target == "Clearview AI" and event.item_count == 2


async def test_guids_that_change_on_every_fetch_do_not_duplicate(runtime: Runtime) -> None:
    clock = runtime.clock = Clock()
    async with FeedServer() as server:
        await add_sources(runtime, server, f="/f.xml")
        for fetch in range(3):
            server.add_feed("/f.xml", rss([FeedItem("Same story", "same text", guid=f"random-{fetch}"),
                                           FeedItem("Other story", "other text", guid=f"other-{fetch}")]))
            await poll_due(runtime)
            clock.advance(timedelta(hours=1))
    assert await count(runtime, Item) == 2


async def test_a_new_entry_with_the_text_of_one_still_listed_is_a_new_item(runtime: Runtime) -> None:
    """Two bulletins with the same title and no summary under their own guids: the second is
    another item, not the first re-keyed (which lost it and flipped the first's key every poll)."""
    clock = runtime.clock = Clock()
    first, second, third = (FeedItem("Weekly enforcement bulletin", "", guid=f"b-{n}") for n in (1, 2, 3))
    async with FeedServer() as server:
        await add_sources(runtime, server, f="/f.xml")
        news = []
        for items in ([first], [second, first], [second, first, FeedItem("Other", "x", guid="o")],
                      [third, second]):  # the oldest of that text gone from the document
            server.add_feed("/f.xml", rss(items))
            news += [o.new for o in await poll_due(runtime)]
            clock.advance(timedelta(hours=1))
        async with runtime.sessions() as session:
            keys = sorted(await session.scalars(select(Item.dedup_key)))
    assert news == [1, 1, 1, 1] and keys == ["b-1", "b-2", "b-3", "o"]


async def test_items_removed_and_re_added_are_not_new(runtime: Runtime) -> None:
    clock = runtime.clock = Clock()
    a, b = FeedItem("A", "a", guid="a"), FeedItem("B", "b", guid="b")
    async with FeedServer() as server:
        await add_sources(runtime, server, f="/f.xml")
        news = []
        for items in ([a, b], [b], [a, b]):
            server.add_feed("/f.xml", rss(items))
            news += [o.new for o in await poll_due(runtime)]
            clock.advance(timedelta(hours=1))
    assert news == [2, 0, 0] and await count(runtime, Item) == 2


async def test_a_later_action_against_the_same_company_is_a_new_linked_event(runtime: Runtime) -> None:
    clock = runtime.clock = Clock()
    fine_day = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
    async with FeedServer() as server:
        server.add_feed("/cnil.xml", rss([FeedItem(
            "CNIL fines Clearview AI €20 million over facial recognition",
            "France's data protection authority CNIL imposed a €20 million fine on Clearview AI and ordered it "
            "to delete the facial images of people in France.", guid="c1", published=fine_day)]))
        await add_sources(runtime, server, cnil="/cnil.xml")
        await poll_due(runtime)
        server.add_feed("/cnil.xml", rss([FeedItem(
            "CNIL imposes €5.2 million penalty payment on Clearview AI",
            "The CNIL imposed an overdue penalty payment of €5.2 million on Clearview AI for failing to comply "
            "with its order to stop processing and delete facial images.", guid="c2",
            published=fine_day + timedelta(days=200))]))
        clock.advance(timedelta(days=200))
        await poll_due(runtime)
    async with runtime.sessions() as s:
        first, second = list(await s.scalars(select(Event).order_by(Event.occurred_at)))
    assert (first.action_type, first.amount) == ("fine", 20_000_000)
    assert (second.action_type, second.amount) == ("penalty_payment", 5_200_000)
    assert second.related_event_id == first.id and first.related_event_id is None


class BrokenClassifier:
    def classify(self, text: object) -> object:
        raise RuntimeError("classifier bug")


async def test_a_failure_while_storing_releases_the_lease_and_backs_off(runtime: Runtime) -> None:
    """A bug past the fetch (here the classifier) rolls the items back but is recorded like any
    failed poll: the lease is given back and the source retried later, not left leased."""
    runtime.clock = Clock()
    runtime.classifier = BrokenClassifier()  # type: ignore[assignment]
    async with FeedServer() as server:
        server.add_feed("/news.xml", rss([FeedItem("Fine", "ok", guid="g1")]))
        await add_sources(runtime, server, news="/news.xml")
        outcomes = await poll_due(runtime)
    assert [(o.outcome, o.error) for o in outcomes] == [("error", "classifier bug")]
    state = await source(runtime, "news")
    assert state.lease_owner is None and state.error_count == 1 and state.last_error == "classifier bug"
    assert state.next_poll_at > START and state.body_hash is None
    assert await count(runtime, Item) == 0


async def test_write_back_locks_in_id_order_so_a_concurrent_writer_cannot_deadlock(runtime: Runtime) -> None:
    """Another writer (the config sync's flush updates rows in id order) holds "b" and then wants
    "c" while the poll writes back a, b (failed) and c. Written shape by shape without locking
    every row first, the poll would hold "c" and wait for "b" (PostgreSQL: deadlock detected)."""
    from sqlalchemy import update

    from frwatch.ingest.fetch import FetchError, FetchResult
    from frwatch.ingest.poll import Settled, write_settled

    specs = [SourceSpec(id=name, name=name.upper(), url=f"https://{name}.example/feed", kind="news") for name in "abc"]
    async with runtime.sessions() as s, s.begin():
        await source_store.sync_from_config(s, specs, runtime.clock())
        leases = {lease.id: lease for lease in await source_store.claim_due(
            s, now=runtime.clock(), worker=runtime.worker, lease=timedelta(minutes=5), limit=10)}

    def not_modified(url: str) -> FetchResult:
        return FetchResult(status=304, url=url, permanent_url=None, not_modified=True, body=None, content_type=None)

    polls = [Settled(leases["a"], result=not_modified("https://a.example/feed")),
             Settled(leases["b"], error=FetchError("HTTP 503", status=503)),
             Settled(leases["c"], result=not_modified("https://c.example/feed"))]
    async with runtime.sessions() as other, other.begin():
        await other.execute(update(Source).where(Source.id == "b").values(name="B2"))
        poll = asyncio.create_task(write_settled(runtime, polls))
        await asyncio.sleep(0.3)  # the write-back waits for "b" now
        await other.execute(update(Source).where(Source.id == "c").values(name="C2"))
    assert [outcome.outcome for outcome in await poll] == ["not_modified", "error", "not_modified"]
    async with runtime.sessions() as s:
        rows = {src.id: src for src in await s.scalars(select(Source))}
    assert [(rows[i].name, rows[i].polls, rows[i].error_count, rows[i].lease_owner) for i in "abc"] == [
        ("A", 1, 0, None), ("B2", 1, 1, None), ("C2", 1, 0, None)]


@pytest.mark.postgres
async def test_a_cycle_goes_on_polling_while_a_write_back_waits(pg_database: str) -> None:
    """On PostgreSQL a flush runs beside the cycle: while the first feed's write-back waits for
    a row lock held elsewhere, the cycle claims and fetches the next source (one at a time here)."""
    await truncate_all(pg_database)
    async with open_runtime(make_settings(pg_database)) as rt, FeedServer() as server, rt.engine.connect() as holder:
        fetched: list[str] = []
        other_fetched = asyncio.Event()

        def feed(source_id: str):  # type: ignore[no-untyped-def]
            async def handler(request: web.Request) -> web.Response:
                fetched.append(source_id)
                if len(fetched) == 1:  # its lease is committed: hold its row until the other one is fetched
                    await holder.begin()
                    await holder.execute(text("SELECT id FROM sources WHERE id = :id FOR UPDATE"), {"id": source_id})
                else:
                    other_fetched.set()
                return web.Response(body=rss([FeedItem(f"Item of {source_id}", "text", guid=source_id)]),
                                    content_type="application/rss+xml")
            return handler

        server.add_handler("/a.xml", feed("a"))
        server.add_handler("/b.xml", feed("b"))
        await add_sources(rt, server, a="/a.xml", b="/b.xml")
        cycle = asyncio.create_task(poll_due(rt, batch=1))
        await asyncio.wait_for(other_fetched.wait(), 10)  # before the first write-back could finish
        assert not cycle.done()
        await holder.rollback()
        outcomes = await asyncio.wait_for(cycle, 10)
    assert sorted((outcome.source_id, outcome.outcome) for outcome in outcomes) == [
        ("a", "new_items"), ("b", "new_items")]
