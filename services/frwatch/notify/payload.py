"""Webhook bodies: ``{"type", "timestamp", "data"}`` as the exact JSON text that is signed.

A body never exceeds ``MAX_PAYLOAD_BYTES``: an event with too many reports is summarised (the
newest reports kept, ``data.items_omitted`` says how many were left out) rather than dropped.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Mapping, Sequence

from frwatch.models import Event, Item
from frwatch.notify.matching import PING

MAX_PAYLOAD_BYTES = 256 * 1024
MAX_TEXT_CHARS = 4000  # titles and summaries are cut to this so one huge field cannot crowd out the rest


def iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def _cut(text: str | None) -> str | None:
    if text is None or len(text) <= MAX_TEXT_CHARS:
        return text
    return text[: MAX_TEXT_CHARS - 1] + "…"


def event_data(event: Event) -> dict[str, Any]:
    return {
        "id": event.id, "title": _cut(event.title), "summary": _cut(event.summary),
        "regulator": event.regulator, "jurisdiction": event.jurisdiction, "target": event.target,
        "action_type": event.action_type, "amount": event.amount, "currency": event.currency,
        "amount_eur": event.amount_eur, "score": event.score, "reasons": list(event.reasons or []),
        "first_seen": iso(event.first_seen_at), "occurred_at": iso(event.occurred_at),
        "related_event_id": event.related_event_id,
    }


def item_data(item: Item, source_name: str | None) -> dict[str, Any]:
    return {
        "id": item.id, "title": _cut(item.title), "link": item.link, "source": source_name,
        "source_id": item.source_id, "language": item.language, "published": iso(item.published_at),
    }


def encode(body: Mapping[str, Any]) -> str:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def _size(body: Mapping[str, Any]) -> int:
    return len(encode(body).encode())


def envelope(event_type: str, now: datetime, data: Mapping[str, Any]) -> dict[str, Any]:
    return {"type": event_type, "timestamp": iso(now), "data": dict(data)}


def event_body(event_type: str, event: Event, items: Sequence[Item], source_names: Mapping[str, str],
               now: datetime, *, limit: int = MAX_PAYLOAD_BYTES) -> str:
    """The body announcing an event change, summarised to fit ``limit`` bytes."""
    newest_first = sorted(items, key=lambda item: (item.published_at, item.id), reverse=True)
    reports = [item_data(item, source_names.get(item.source_id)) for item in newest_first]
    body = envelope(event_type, now, {"event": event_data(event), "items": reports})
    if _size(body) <= limit:
        return encode(body)
    keep_low, keep_high = 0, len(reports)  # binary search for the most reports that fit
    while keep_low < keep_high:
        middle = (keep_low + keep_high + 1) // 2
        body["data"].update(items=reports[:middle], items_omitted=len(reports) - middle)
        if _size(body) <= limit:
            keep_low = middle
        else:
            keep_high = middle - 1
    body["data"].update(items=reports[:keep_low], items_omitted=len(reports) - keep_low)
    return encode(body)


def ping_body(subscription_id: str, now: datetime) -> str:
    return encode(envelope(PING, now, {"subscription_id": subscription_id}))
