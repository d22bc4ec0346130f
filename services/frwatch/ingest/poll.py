"""One poll cycle: claim due sources, fetch, parse, hand entries to the pipeline, reschedule.

Leases are claimed and committed before any HTTP; results are written in one transaction per
source, only if this worker still holds the lease. A failing source is recorded and backed off;
it never stops the others.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta

from frwatch import metrics
from frwatch.errors import FrwatchError
from frwatch.ingest.fetch import FetchResult, SourceGone
from frwatch.ingest.parse import ParsedFeed, body_hash, parse_feed
from frwatch.ingest.schedule import error_delay, next_poll_delay
from frwatch.models import Source
from frwatch.pipeline import ProcessResult, process_entries
from frwatch.runtime import Runtime
from frwatch.store import sources as source_store

log = logging.getLogger("frwatch.poll")

PARSE_IN_THREAD_BYTES = 256 * 1024  # big bodies are parsed off the event loop


@dataclass
class PollOutcome:
    source_id: str
    outcome: str  # new_items | no_change | not_modified | error | gone | lease_lost
    status: int | None = None
    new: int = 0
    updated: int = 0
    error: str | None = None


def interval_of(source: Source, rt: Runtime) -> timedelta:
    if source.poll_interval_s:
        return timedelta(seconds=source.poll_interval_s)
    return rt.settings.poll_interval


async def poll_due(rt: Runtime, *, batch: int | None = None, stop: asyncio.Event | None = None) -> list[PollOutcome]:
    """Poll every source due when the cycle starts, once, ``batch`` at a time (until ``stop`` is set).

    A slot is refilled as soon as its poll ends, so a hanging feed holds only its own slot and
    never the sources claimed after it.
    """
    batch = batch or rt.settings.fetch_concurrency * 2
    cycle_start = rt.clock()
    outcomes: list[PollOutcome] = []
    running: set[asyncio.Task[PollOutcome]] = set()
    failure: BaseException | None = None
    more = True
    try:
        while True:
            if more and len(running) < batch and (stop is None or not stop.is_set()):
                async with rt.sessions() as session, session.begin():
                    claimed = await source_store.claim_due(session, now=rt.clock(), due_by=cycle_start,
                                                           worker=rt.worker, lease=rt.settings.lease_duration,
                                                           limit=batch - len(running))
                more = bool(claimed)
                running.update(asyncio.create_task(poll_source(rt, source)) for source in claimed)
            if not running:
                break
            done, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task.exception() is None:
                    outcomes.append(task.result())
                else:  # e.g. the database went away while storing: the others still finish
                    failure = failure or task.exception()
    finally:  # cancelled (shutdown past the grace period) or the claim failed: stop the polls in flight
        for task in running:
            task.cancel()
        if running:
            await asyncio.wait(running)
    if failure is not None:
        raise failure
    return outcomes


async def poll_source(rt: Runtime, source: Source) -> PollOutcome:
    """Fetch and store one leased source; never raises for the source's own failures."""
    outcome = await _poll(rt, source)
    metrics.POLLS.labels(outcome=outcome.outcome).inc()
    return outcome


async def _poll(rt: Runtime, source: Source) -> PollOutcome:
    try:
        result = await rt.fetcher.fetch(source.url, etag=source.etag, last_modified=source.last_modified)
        metrics.FETCH_SECONDS.observe(result.elapsed_s)
        parsed = None
        if not result.not_modified and result.body is not None and body_hash(result.body) != source.body_hash:
            parsed = await _parse(result, source)
    except FrwatchError as exc:
        return await _record_failure(rt, source, exc)
    except Exception as exc:  # a bug must not stop the other sources; it is logged with its trace
        log.exception("poll failed unexpectedly", extra={"source_id": source.id})
        return await _record_failure(rt, source, exc)
    try:
        return await _record_success(rt, source, result, parsed)
    except Exception as exc:  # rolled back; recorded (lease released, backed off) if the database lets us
        log.exception("storing poll result failed", extra={"source_id": source.id})
        return await _record_failure(rt, source, exc)


async def _parse(result: FetchResult, source: Source) -> ParsedFeed:
    assert result.body is not None
    if len(result.body) >= PARSE_IN_THREAD_BYTES:
        return await asyncio.to_thread(parse_feed, result.body, url=result.url,
                                       content_type=result.content_type, dedup_mode=source.dedup_mode)
    return parse_feed(result.body, url=result.url, content_type=result.content_type, dedup_mode=source.dedup_mode)


async def _record_success(rt: Runtime, leased: Source, result: FetchResult, parsed: ParsedFeed | None) -> PollOutcome:
    now = rt.clock()
    async with rt.sessions() as session, session.begin():
        source = await source_store.lock_for_result(session, leased.id, rt.worker)
        if source is None:
            log.warning("lease lost before storing poll result", extra={"source_id": leased.id})
            return PollOutcome(leased.id, "lease_lost", result.status)
        processed = ProcessResult()
        if parsed is not None:
            processed = await process_entries(session, source, parsed.entries, rt.classifier, now)
            source.body_hash = body_hash(result.body or b"")
            source.dedup_mode = parsed.dedup_mode
        if result.permanent_url and result.permanent_url != source.url:
            log.info("source moved permanently", extra={"source_id": source.id, "url": result.permanent_url})
            source.url = result.permanent_url
        source.etag, source.last_modified = result.etag, result.last_modified
        source.last_status, source.last_error, source.error_count = result.status, None, 0
        source.last_polled_at = source.last_success_at = now
        source.polls += 1
        source.next_poll_at = now + next_poll_delay(
            interval_of(source, rt), minimum=rt.settings.min_poll_interval, maximum=rt.settings.max_poll_interval,
            feed_ttl=parsed.ttl if parsed else None, max_age=result.max_age)
        source.lease_owner = source.lease_until = None
    metrics.ITEMS_INGESTED.inc(processed.new)
    metrics.ENFORCEMENT_DETECTED.inc(processed.enforcement)
    for change in processed.changes:
        metrics.EVENTS.labels(kind=change.kind.removeprefix("enforcement.")).inc()
    outcome = "not_modified" if result.not_modified else ("new_items" if processed.new or processed.updated else "no_change")
    log.info("polled", extra={"source_id": leased.id, "status": result.status, "outcome": outcome,
                              "new": processed.new, "updated": processed.updated,
                              "enforcement": processed.enforcement})
    return PollOutcome(leased.id, outcome, result.status, processed.new, processed.updated)


async def _record_failure(rt: Runtime, leased: Source, exc: Exception) -> PollOutcome:
    now = rt.clock()
    message = str(exc) or type(exc).__name__
    status = getattr(exc, "status", None)
    async with rt.sessions() as session, session.begin():
        source = await source_store.lock_for_result(session, leased.id, rt.worker)
        if source is None:
            return PollOutcome(leased.id, "lease_lost", status, error=message)
        source.last_polled_at = now
        source.last_status, source.last_error = status, message[:2000]
        source.error_count += 1
        source.polls += 1
        source.lease_owner = source.lease_until = None
        if isinstance(exc, SourceGone):
            source.enabled = False
            source.disabled_reason = f"feed is gone (HTTP 410): {message}"
            outcome = "gone"
        else:
            outcome = "error"
            source.next_poll_at = now + error_delay(
                source.error_count, interval_of(source, rt), maximum=rt.settings.max_poll_interval,
                retry_after=getattr(exc, "retry_after", None))
    log.warning("poll failed", extra={"source_id": leased.id, "status": status, "error": message,
                                      "outcome": outcome})
    return PollOutcome(leased.id, outcome, status, error=message)
