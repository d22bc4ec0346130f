"""Batch classification of JSON Lines (shared by ``frwatch classify`` and the service)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from datetime import datetime
from typing import Any, TextIO

from frwatch.classify.classifier import Classifier, ItemText, Verdict
from frwatch.classify.group import group_batch
from frwatch.timeutil import as_utc

OUTPUT_FIELDS = ("is_enforcement", "score", "action_type", "regulator", "jurisdiction", "target",
                 "amount", "currency")


class InputError(ValueError):
    """One input line is not a usable item."""


def parse_published(value: Any) -> datetime | None:
    """ISO 8601 date or datetime → aware UTC datetime (naive values are taken as UTC)."""
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise InputError("'published' must be an ISO 8601 string")
    try:
        return as_utc(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except ValueError as exc:
        raise InputError(f"'published' is not ISO 8601: {value!r}") from exc
    except OverflowError as exc:  # e.g. year 1 at +01:00 is before year 1 in UTC
        raise InputError(f"'published' is out of range: {value!r}") from exc


def item_from_json(line: str) -> ItemText:
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InputError(f"invalid JSON: {exc.msg}") from exc
    if not isinstance(data, dict):
        raise InputError("expected a JSON object")
    for key in ("id", "title"):
        if not isinstance(data.get(key), str) or not data[key].strip():
            raise InputError(f"{key!r} must be a non-empty string")
    for key in ("summary", "link", "language", "source_name"):
        if data.get(key) is not None and not isinstance(data[key], str):
            raise InputError(f"{key!r} must be a string")
    return ItemText(id=data["id"], title=data["title"], summary=data.get("summary") or "",
                    link=data.get("link"), published=parse_published(data.get("published")),
                    language=data.get("language"), source_name=data.get("source_name"))


def verdict_record(item: ItemText, verdict: Verdict, event_id: str | None) -> dict[str, Any]:
    record: dict[str, Any] = {"id": item.id}
    record.update({k: getattr(verdict, k) for k in OUTPUT_FIELDS})
    record["event_id"] = event_id
    record["reasons"] = verdict.reasons
    return record


def classify_stream(lines_in: Iterable[str], out: TextIO, classifier: Classifier,
                    err: TextIO | None = None) -> int:
    """Classify every line, group the batch into events, write one JSON line per valid item.

    Bad lines are reported on ``err`` (stderr) with their line number and skipped.
    Returns the number of bad lines (0 = all good).
    """
    err = err or sys.stderr
    pairs: list[tuple[ItemText, Verdict]] = []
    bad = 0
    for number, line in enumerate(lines_in, start=1):
        if not line.strip():
            continue
        try:
            item = item_from_json(line)
        except InputError as exc:
            bad += 1
            print(f"line {number}: {exc}", file=err)
            continue
        pairs.append((item, classifier.classify(item)))
    for (item, verdict), event_id in zip(pairs, group_batch(pairs)):
        out.write(json.dumps(verdict_record(item, verdict, event_id), ensure_ascii=False) + "\n")
    return bad
