"""One poll cycle: claim due sources, fetch, parse, hand entries to the pipeline, reschedule.

Leases are claimed and committed before any HTTP. Finished polls are collected for a few
milliseconds and written together (on PostgreSQL by a task of its own, while the cycle goes on
claiming and collecting): the bookkeeping of every poll that needs no pipeline (304, an
unchanged body, an error) in one transaction, and the changed feeds, whose entries go through the
pipeline, a few dozen per transaction. A result is written only if this worker still holds the
lease. A failing source is recorded and backed off; it never stops the others (a batch that
cannot be stored is stored again one feed at a time).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable, Sequence

from frwatch import metrics
from frwatch.db import write_transaction
from frwatch.errors import FrwatchError
from frwatch.ingest.fetch import FetchResult, SourceGone
from frwatch.ingest.parse import ParsedFeed, body_hash, parse_feed
from frwatch.ingest.schedule import error_delay, next_poll_delay
from frwatch.pipeline import ProcessResult, process_feeds
from frwatch.runtime import Runtime
from frwatch.store import sources as source_store
from frwatch.store.shapes import POSTGRESQL
from frwatch.store.sources import Lease, PollRecord
from frwatch.storable import storable_text

log = logging.getLogger("frwatch.poll")

PARSE_IN_THREAD_BYTES = 256 * 1024  # big bodies are parsed off the event loop
BATCH_AFTER_S = 0.05  # finished polls wait at most this long to be written together (or free slots to be refilled) …
FLUSH_SIZE = 200  # … or until this many are waiting
STORE_BATCH = 32  # changed feeds stored in one transaction at most
LEASED_PER_SLOT = 8  # sources leased per fetch slot: polls stay ready while the cycle waits on the database


@dataclass
class PollOutcome:
    source_id: str
    outcome: str  # new_items | no_change | not_modified | error | gone | lease_lost
    status: int | None = None
    new: int = 0
    updated: int = 0
    error: str | None = None


@dataclass
class Parsed:
    """A poll whose body changed: its entries wait to go through the pipeline with others' (``store_parsed``)."""
    source: Lease
    result: FetchResult
    feed: ParsedFeed
    digest: str  # body_hash of the body, stored so an unchanged body is not parsed again


@dataclass
class Settled:
    """A poll that needs no pipeline (304, unchanged body, or a failure): only bookkeeping is left,
    written together with others by ``write_settled``. Exactly one of ``result`` and ``error``."""
    source: Lease
    result: FetchResult | None = None
    error: Exception | None = None


def interval_of(source: Lease, rt: Runtime) -> timedelta:
    if source.poll_interval_s:
        return timedelta(seconds=source.poll_interval_s)
    return rt.settings.poll_interval


async def poll_due(rt: Runtime, *, batch: int | None = None, stop: asyncio.Event | None = None,
                   on_queued: Callable[[], None] | None = None) -> list[PollOutcome]:
    """Poll every source due when the cycle starts, once, ``batch`` at a time (until ``stop`` is set).
    ``on_queued`` is called after each commit that queued webhooks (to wake the deliverer).

    ``batch`` (default: ``LEASED_PER_SLOT`` times the fetch concurrency) sources are leased at a
    time, so a claim is shared by many polls and the fetcher has polls waiting while the cycle
    waits on the database; the fetcher's limits decide how many are fetched at once. A free
    slot is refilled within ``BATCH_AFTER_S`` (at once when half of the slots are free), so a
    hanging feed holds only its own slot and never the sources claimed after it. A finished poll
    frees its slot at once; what it found is written every ``BATCH_AFTER_S`` or ``FLUSH_SIZE``
    polls, together with the others'.
    """
    cycle = _Cycle(rt, batch or rt.settings.fetch_concurrency * LEASED_PER_SLOT, stop, on_queued)
    try:
        await cycle.run()
    finally:  # cancelled (shutdown past the grace period) or the claim failed: stop the polls in flight
        await cycle.cancel()
    if cycle.failure is not None:
        raise cycle.failure
    return cycle.outcomes


class _Cycle:
    """The state of one ``poll_due``: polls running, finished polls waiting to be written."""

    def __init__(self, rt: Runtime, batch: int, stop: asyncio.Event | None,
                 on_queued: Callable[[], None] | None):
        self.rt, self.batch, self.stop, self.on_queued = rt, batch, stop, on_queued
        self.loop = asyncio.get_running_loop()
        self.cycle_start = rt.clock()
        self.outcomes: list[PollOutcome] = []
        self.running: set[asyncio.Task[Parsed | Settled]] = set()
        self.finished: list[Parsed | Settled] = []
        self.writing: asyncio.Task[None] | None = None  # the flush under way: one at a time, beside the polls
        # … and beside claims where the database takes concurrent writers: on SQLite (one writer)
        # a claim beside a flush only waits for it, so the cycle waits for each flush there
        self.flush_beside = rt.engine.dialect.name == POSTGRESQL
        self.flush_at = self.claim_at = 0.0
        self.failure: BaseException | None = None
        self.more = True

    async def run(self) -> None:
        while True:
            if self._should_claim():
                await self._claim()
            if not self.running and not self.finished and self.writing is None:
                return
            if self.running or self.writing is not None:
                self._collect(await self._wait())
            if self.finished and self.writing is None and (not self.running or len(self.finished) >= FLUSH_SIZE
                                                           or self.loop.time() >= self.flush_at):
                finished, self.finished = self.finished, []
                if self.flush_beside:
                    self.writing = asyncio.create_task(self._flush(finished))
                else:
                    await self._flush(finished)

    def _should_claim(self) -> bool:
        room = self.batch - len(self.running)
        if not self.more or room <= 0 or (self.stop is not None and self.stop.is_set()):
            return False
        return room >= self.batch // 2 or not self.running or self.loop.time() >= self.claim_at

    async def _claim(self) -> None:
        rt = self.rt
        async with write_transaction(rt.sessions) as session:
            claimed = await source_store.claim_due(session, now=rt.clock(), due_by=self.cycle_start, worker=rt.worker,
                                                   lease=rt.settings.lease_duration,
                                                   limit=self.batch - len(self.running))
        self.more = bool(claimed)
        self.claim_at = self.loop.time() + BATCH_AFTER_S
        self.running.update(asyncio.create_task(_poll(rt, source)) for source in claimed)

    async def _wait(self) -> set[asyncio.Task[Parsed | Settled]]:
        """Until a poll ends, the flush under way ends, or it is time to flush or to refill a
        free slot; returns the polls that ended."""
        deadlines = [self.flush_at] if self.finished and self.writing is None else []
        if self.more and len(self.running) < self.batch:
            deadlines.append(self.claim_at)
        timeout = max(0.0, min(deadlines) - self.loop.time()) if deadlines else None
        writing: set[asyncio.Task[Any]] = set() if self.writing is None else {self.writing}
        done, _ = await asyncio.wait(self.running | writing, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if done & writing:
            self.writing = None
        self.running -= done
        return done - writing  # type: ignore[return-value]

    def _collect(self, done: set[asyncio.Task[Parsed | Settled]]) -> None:
        for task in done:
            if task.exception() is not None:  # a bug outside the per-source guards
                self.failure = self.failure or task.exception()
                continue
            if not self.finished:
                self.flush_at = self.loop.time() + BATCH_AFTER_S
            self.finished.append(task.result())

    async def _flush(self, finished: list[Parsed | Settled]) -> None:
        changed = [poll for poll in finished if isinstance(poll, Parsed)]
        settled = [poll for poll in finished if isinstance(poll, Settled)]
        try:
            for start in range(0, len(changed), STORE_BATCH):
                self.outcomes += await store_parsed(self.rt, changed[start:start + STORE_BATCH], self.on_queued)
            if settled:
                self.outcomes += await write_settled(self.rt, settled)
        except Exception as exc:  # the database went away: the leases expire; the polls in flight still finish
            self.failure = self.failure or exc

    async def cancel(self) -> None:
        """Stop the polls in flight; a flush under way is finished, not cut off mid-transaction."""
        for task in self.running:
            task.cancel()
        if self.running:
            await asyncio.wait(self.running)
        if self.writing is not None:
            await asyncio.wait({self.writing})


async def poll_source(rt: Runtime, source: Lease) -> PollOutcome:
    """Fetch and store one leased source; never raises for the source's own failures."""
    polled = await _poll(rt, source)
    if isinstance(polled, Settled):
        return (await write_settled(rt, [polled]))[0]
    return (await store_parsed(rt, [polled]))[0]


async def _poll(rt: Runtime, source: Lease) -> Parsed | Settled:
    """Fetch, and parse a changed body; what is left to write is handed back."""
    try:
        result = await rt.fetcher.fetch(source.url, etag=source.etag, last_modified=source.last_modified)
        metrics.FETCH_SECONDS.observe(result.elapsed_s)
        if result.not_modified or result.body is None:
            return Settled(source, result=result)
        digest = body_hash(result.body)
        if digest == source.body_hash:
            return Settled(source, result=result)
        return Parsed(source, result, await _parse(result, source), digest)
    except FrwatchError as exc:
        return Settled(source, error=exc)
    except Exception as exc:  # a bug must not stop the other sources; it is logged with its trace
        log.exception("poll failed unexpectedly", extra={"source_id": source.id})
        return Settled(source, error=exc)


async def _parse(result: FetchResult, source: Lease) -> ParsedFeed:
    assert result.body is not None
    if len(result.body) >= PARSE_IN_THREAD_BYTES:
        return await asyncio.to_thread(parse_feed, result.body, url=result.url,
                                       content_type=result.content_type, dedup_mode=source.dedup_mode)
    return parse_feed(result.body, url=result.url, content_type=result.content_type, dedup_mode=source.dedup_mode)


async def store_parsed(rt: Runtime, polls: Sequence[Parsed],
                       on_queued: Callable[[], None] | None = None) -> list[PollOutcome]:
    """Changed feeds through the pipeline with their bookkeeping, in one transaction; when that
    fails, each feed again in its own, and one that still fails is recorded as failed (and backed
    off) so it never takes the others with it. ``on_queued`` is called after a commit that queued
    webhooks. Raises only when even the failure cannot be recorded (the database is gone)."""
    try:
        outcomes, queued = await _store_together(rt, polls)
    except Exception as exc:  # rolled back
        if len(polls) > 1:
            log.warning("storing changed feeds together failed; storing each alone",
                        extra={"feeds": len(polls), "error": str(exc) or type(exc).__name__})
            return [outcome for poll in polls for outcome in await store_parsed(rt, [poll], on_queued)]
        log.exception("storing poll result failed", extra={"source_id": polls[0].source.id})
        return await write_settled(rt, [Settled(polls[0].source, error=exc)])
    if queued and on_queued is not None:
        on_queued()
    return outcomes


async def _store_together(rt: Runtime, polls: Sequence[Parsed]) -> tuple[list[PollOutcome], int]:
    """The transaction of ``store_parsed``: the outcomes, and the number of webhooks queued."""
    now = rt.clock()
    async with write_transaction(rt.sessions) as session:
        held = await source_store.lock_held(session, [poll.source.id for poll in polls], rt.worker)
        kept = [poll for poll in polls if poll.source.id in held]
        results, queued = await process_feeds(session, [(poll.source, poll.feed.entries) for poll in kept],
                                              rt.classifier, now)
        records = []
        for poll in kept:
            values = _success_values(rt, poll.source, poll.result, now, feed_ttl=poll.feed.ttl)
            values.update(body_hash=poll.digest, dedup_mode=poll.feed.dedup_mode)
            records.append(PollRecord(poll.source.id, values))
        await source_store.record_polls(session, records, rt.worker)
    processed = {poll.source.id: result for poll, result in zip(kept, results)}
    outcomes = []
    for poll in polls:
        result = processed.get(poll.source.id)
        if result is None:
            log.warning("lease lost before storing poll result", extra={"source_id": poll.source.id})
            outcome = PollOutcome(poll.source.id, "lease_lost", poll.result.status)
        else:
            metrics.ITEMS_INGESTED.inc(result.new)
            metrics.ENFORCEMENT_DETECTED.inc(result.enforcement)
            for change in result.changes:
                metrics.EVENTS.labels(kind=change.kind.removeprefix("enforcement.")).inc()
            outcome = _success_outcome(poll.source.id, poll.result, result)
        metrics.POLLS.labels(outcome=outcome.outcome).inc()
        outcomes.append(outcome)
    return outcomes, queued


async def write_settled(rt: Runtime, polls: Sequence[Settled]) -> list[PollOutcome]:
    """Write the bookkeeping of many settled polls in one transaction (sources whose lease this
    worker lost are left alone), then count and log each."""
    now = rt.clock()
    outcomes: list[PollOutcome] = []
    records: list[PollRecord] = []
    async with write_transaction(rt.sessions) as session:
        held = await source_store.lock_held(session, [poll.source.id for poll in polls], rt.worker)
        for poll in polls:
            outcome, record = _settle(rt, poll, poll.source.id in held, now)
            outcomes.append(outcome)
            if record is not None:
                records.append(record)
        await source_store.record_polls(session, records, rt.worker)
    for name, count in Counter(outcome.outcome for outcome in outcomes).items():
        metrics.POLLS.labels(outcome=name).inc(count)
    return outcomes


def _settle(rt: Runtime, poll: Settled, held: bool, now: datetime) -> tuple[PollOutcome, PollRecord | None]:
    """A settled poll's outcome, and its bookkeeping (none when the lease was lost)."""
    source = poll.source
    if poll.error is not None:
        return _failure(rt, source, held, poll.error, now)
    assert poll.result is not None
    if not held:
        log.warning("lease lost before storing poll result", extra={"source_id": source.id})
        return PollOutcome(source.id, "lease_lost", poll.result.status), None
    record = PollRecord(source.id, _success_values(rt, source, poll.result, now))
    return _success_outcome(source.id, poll.result, ProcessResult()), record


def _success_values(rt: Runtime, source: Lease, result: FetchResult, now: datetime, *,
                    feed_ttl: timedelta | None = None) -> dict[str, object]:
    """A successful poll's bookkeeping: validators, moved URL, status, next poll."""
    values: dict[str, object] = {}
    if result.permanent_url and result.permanent_url != source.url:
        log.info("source moved permanently", extra={"source_id": source.id, "url": result.permanent_url})
        values["url"] = result.permanent_url
    values.update(
        etag=result.etag, last_modified=result.last_modified, last_status=result.status, last_error=None,
        last_polled_at=now, last_success_at=now,
        next_poll_at=now + next_poll_delay(
            interval_of(source, rt), minimum=rt.settings.min_poll_interval, maximum=rt.settings.max_poll_interval,
            feed_ttl=feed_ttl, max_age=result.max_age))
    return values


def _success_outcome(source_id: str, result: FetchResult, processed: ProcessResult) -> PollOutcome:
    outcome = "not_modified" if result.not_modified else ("new_items" if processed.new or processed.updated else "no_change")
    # most polls change nothing (thousands of lines an hour, and CPU at high rates): those are debug,
    # counted by frwatch_polls_total and shown per source by the API; a poll with news is info
    log.log(logging.INFO if outcome == "new_items" else logging.DEBUG, "polled",
            extra={"source_id": source_id, "status": result.status, "outcome": outcome, "new": processed.new,
                   "updated": processed.updated, "enforcement": processed.enforcement})
    return PollOutcome(source_id, outcome, result.status, processed.new, processed.updated)


def _failure(rt: Runtime, source: Lease, held: bool, exc: Exception,
             now: datetime) -> tuple[PollOutcome, PollRecord | None]:
    """A failed poll's outcome and bookkeeping (none when the lease was lost): error count and
    back-off, or disabled for good on 410."""
    message = storable_text(str(exc) or type(exc).__name__)  # it may quote what the feed's server sent
    status = getattr(exc, "status", None)
    if not held:
        return PollOutcome(source.id, "lease_lost", status, error=message), None
    values: dict[str, object] = {"last_polled_at": now, "last_status": status, "last_error": message[:2000]}
    if isinstance(exc, SourceGone):
        values.update(enabled=False, disabled_reason=f"feed is gone (HTTP 410): {message}")
        outcome = "gone"
    else:
        outcome = "error"
        values["next_poll_at"] = now + error_delay(
            source.error_count + 1, interval_of(source, rt), maximum=rt.settings.max_poll_interval,
            retry_after=getattr(exc, "retry_after", None))
    log.warning("poll failed", extra={"source_id": source.id, "status": status, "error": message,
                                      "outcome": outcome})
    return PollOutcome(source.id, outcome, status, error=message), PollRecord(source.id, values, failed=True)
