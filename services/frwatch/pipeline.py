"""From parsed entries to stored items, events and owed webhooks, in the caller's transaction.

``ingest`` hands entries here; this module classifies the new and edited ones, stores them,
groups enforcement items into events and queues the webhooks those event changes owe — all in
one transaction, so no alert is lost between commit and send.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Iterable, Protocol, Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from frwatch.classify import Classifier, ItemText, Verdict
from frwatch.classify.group import GROUP_WINDOW, EventFacts, match_event, target_key
from frwatch.ingest.parse import Entry
from frwatch.models import Event, Item
from frwatch.notify.enqueue import EventChange, enqueue_event_changes
from frwatch.notify.matching import DETECTED, UPDATED
from frwatch.store import events as event_store
from frwatch.store import items as item_store
from frwatch.store.items import NewItem
from frwatch.store import locks


@dataclass
class ProcessResult:
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    enforcement: int = 0
    changes: list[EventChange] = field(default_factory=list)


class FeedSource(Protocol):
    """What the pipeline reads of an item's source (a ``Source`` row or a poll's ``Lease``)."""
    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def language(self) -> str | None: ...
    @property
    def jurisdiction(self) -> str | None: ...
    @property
    def regulator(self) -> str | None: ...


Feed = tuple[FeedSource, Sequence[Entry]]  # a source and the entries of one of its documents


def item_text(entry: Entry, source: FeedSource) -> ItemText:
    return ItemText(id=entry.key, title=entry.title, summary=entry.summary, link=entry.link,
                    published=entry.published, language=source.language, source_name=source.name,
                    source_jurisdiction=source.jurisdiction, source_regulator=source.regulator)


async def process_entries(session: AsyncSession, source: FeedSource, entries: Sequence[Entry],
                          classifier: Classifier, now: datetime) -> ProcessResult:
    """``process_feeds`` for one feed."""
    [result], _ = await process_feeds(session, [(source, entries)], classifier, now)
    return result


async def process_feeds(session: AsyncSession, feeds: Sequence[Feed], classifier: Classifier,
                        now: datetime) -> tuple[list[ProcessResult], int]:
    """Store new entries, revise edited ones, group enforcement items and queue webhooks, for
    several feeds (of different sources) in a few statements. Returns each feed's result and the
    number of webhooks queued (outbox rows written)."""
    results = [ProcessResult() for _ in feeds]
    changed = await _changed_entries(session, feeds, results)
    new_items, touched = await _classify_and_store(session, feeds, changed, classifier, results, now)
    with session.no_autoflush:  # events are written below, then the new items pointing at them
        await _group(session, touched, results, now)
    await session.flush()
    await item_store.insert_new(session, new_items)
    queued = await enqueue_event_changes(session, [change for result in results for change in result.changes], now)
    return results, queued


async def _changed_entries(session: AsyncSession, feeds: Sequence[Feed],
                           results: list[ProcessResult]) -> list[tuple[int, Entry, int | None]]:
    """The entries that are new or edited, as (feed index, entry, the stored item's id or None
    when new), in feed order; the unchanged ones are counted. One query for all feeds."""
    unique = [list({entry.key: entry for entry in entries}.values()) for _, entries in feeds]
    stored = await item_store.find_known(session, {
        source.id: ([entry.key for entry in entries], [entry.content_hash for entry in entries])
        for (source, _), entries in zip(feeds, unique)})
    rekeyed: list[tuple[int, str]] = []
    changed: list[tuple[int, Entry, int | None]] = []
    for index, ((source, _), entries) in enumerate(zip(feeds, unique)):
        known, stored_text = stored.get(source.id, ({}, {}))
        # An entry whose key is new but whose text is already stored is the same item under a new key
        # (guids that change on every fetch, or the feed's dedup mode just changed): re-key, never
        # duplicate. Not when the document still lists an item of that text under its own key: the
        # new entry is another one with the same text ("Weekly enforcement bulletin"), a new item.
        listed = {entry.content_hash for entry in entries if entry.key in known}
        unknown_hashes = {entry.content_hash for entry in entries if entry.key not in known} - listed
        same_text = {text_hash: item for text_hash, item in stored_text.items() if text_hash in unknown_hashes}
        for entry in entries:
            item_row = known.get(entry.key)
            if item_row is None and entry.content_hash in same_text:
                item_row = same_text.pop(entry.content_hash)
                rekeyed.append((item_row.id, entry.key))
            if item_row is not None and item_row.content_hash == entry.content_hash:
                results[index].unchanged += 1
            else:
                changed.append((index, entry, item_row.id if item_row else None))
    await item_store.rekey(session, rekeyed)
    return changed


async def _classify_and_store(session: AsyncSession, feeds: Sequence[Feed],
                              changed: Sequence[tuple[int, Entry, int | None]], classifier: Classifier,
                              results: list[ProcessResult], now: datetime
                              ) -> tuple[list[NewItem], list[tuple[int, Item | NewItem, Verdict]]]:
    """Classify the changed entries; revise the edited items in place and return the new ones (to
    be inserted after their events), with every enforcement item and its feed's index."""
    edited = await item_store.load(session, [item_id for _, _, item_id in changed if item_id is not None])
    new_items: list[NewItem] = []
    touched: list[tuple[int, Item | NewItem, Verdict]] = []
    for index, entry, item_id in changed:
        source, result = feeds[index][0], results[index]
        verdict = classifier.classify(item_text(entry, source))
        if item_id is None:
            item: Item | NewItem = NewItem(
                source_id=source.id, dedup_key=entry.key, guid=entry.guid, link=entry.link, title=entry.title,
                summary=entry.summary, language=source.language, content_hash=entry.content_hash,
                published_at=entry.published or now, first_seen_at=now, updated_at=now,
                **item_store.verdict_values(verdict))
            new_items.append(item)
            result.new += 1
        else:
            item = edited[item_id]
            item_store.revise(session, item, title=entry.title, summary=entry.summary, link=entry.link,
                              content_hash=entry.content_hash, verdict=verdict, now=now)
            result.updated += 1
        if verdict.is_enforcement:
            touched.append((index, item, verdict))
            result.enforcement += 1
    return new_items, touched


async def _group(session: AsyncSession, touched: Sequence[tuple[int, Item | NewItem, Verdict]],
                 results: list[ProcessResult], now: datetime) -> None:
    """Put each enforcement item into its event, noting the change in its feed's result.

    Two reports of one action polled at once must not both see "no event yet": what the
    candidates are searched by (target and regulator) is locked first, so unrelated actions
    group in parallel, then the candidates of every report are read (and locked) in one query."""
    await locks.xact_lock_names(session, locks.EVENT_GROUPING, grouping_names(verdict for _, _, verdict in touched))
    probes = [_probe(item, verdict) for _, item, verdict in touched]
    pool = event_store.EventPool(await event_store.candidate_pool(session, probes, GROUP_WINDOW))
    for (index, item, verdict), probe in zip(touched, probes):
        change = await assign_event(session, item, verdict, probe, pool, now)
        if change is not None:
            results[index].changes.append(change)


def grouping_names(verdicts: Iterable[Verdict]) -> set[str]:
    """The lock names covering the event candidates of these verdicts (see ``assign_event``)."""
    names: set[str] = set()
    for verdict in verdicts:
        key = target_key(verdict.target)
        if key:
            names.add(key)
        if verdict.regulator:
            names.add("reg:" + verdict.regulator)
    return names


def _probe(item: Item | NewItem, verdict: Verdict) -> event_store.Probe:
    return event_store.Probe(target_key=target_key(verdict.target), regulator=verdict.regulator,
                             occurred_at=item.published_at)


async def assign_event(session: AsyncSession, item: Item | NewItem, verdict: Verdict, probe: event_store.Probe,
                       pool: event_store.EventPool, now: datetime) -> EventChange | None:
    """Put an enforcement item into its event: a new one (detected, added to ``pool`` for the
    reports after it) or one of ``pool`` (updated; a stored candidate is loaded whole and
    replaces its entry in ``pool``)."""
    if item.event_id is not None:
        event = await event_store.get(session, item.event_id)
        return EventChange(event=event, kind=UPDATED) if event else None
    facts = EventFacts.from_verdict(verdict, probe.occurred_at)
    candidates = pool.candidates(probe, GROUP_WINDOW)
    by_id = {event.id: event for event in candidates}
    outcome, event_id = match_event(facts, [(event.id, event_store.facts_of(event)) for event in candidates])
    if outcome == "same" and event_id is not None:
        chosen = by_id[event_id]
        if isinstance(chosen, Event):
            event = chosen
        else:  # stored, and locked by the pool's query
            loaded = await event_store.get(session, event_id)
            assert loaded is not None
            event = loaded
        changed = event_store.attach(event, item, now)
        if "target" in changed:
            event.target_key = target_key(event.target)
        pool.put(event)  # loaded whole, or its target or regulator filled in
        item.event_id = event.id
        return EventChange(event=event, kind=UPDATED)
    related = event_id if outcome == "related" else None
    event = event_store.create(session, item, target_key=probe.target_key, occurred_at=probe.occurred_at,
                               related_event_id=related, now=now)
    pool.put(event)
    item.event_id = event.id  # the id is made here, not by the database
    return EventChange(event=event, kind=DETECTED)
