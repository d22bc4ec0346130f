"""Query-string parsing for the read routes: filters, limits and keyset cursors.

Every bad parameter is a 400 problem naming it (``field``); unknown parameters are refused too,
so a misspelt filter never silently returns everything.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from datetime import datetime
from typing import Any, Callable, Collection, TypeVar

from aiohttp import web
from multidict import MultiMapping

from frwatch.api.problems import Problem
from frwatch.store.queries import Cursor, Filters, Page
from frwatch.timeutil import as_utc

T = TypeVar("T")

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
MAX_TEXT = 200
MAX_VALUES = 20  # values of one list filter
MAX_WORDS = 10  # words of q, each a substring search
EVENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_ROW_ID = 2**31 - 1  # PostgreSQL INTEGER
ACTION_TYPES = ("fine", "enforcement_notice", "deletion_order", "ban", "reprimand", "settlement", "judgment",
                "determination", "warning", "penalty_payment")
_JURISDICTION = re.compile(r"^[A-Z]{2}(-[A-Z]{2})?$")
_LANGUAGE = re.compile(r"^[a-z]{2}$")
_WHOLE_NUMBER = re.compile(r"[0-9]+")  # ASCII only: str.isdigit() also takes "²" and "١٢"

Params = MultiMapping[str]


def bad(name: str, reason: str) -> Problem:
    return Problem(400, f"{name}: {reason}", field=name)


def check_text(name: str, value: str) -> str:
    """Refuse what no database column can hold (PostgreSQL rejects NUL) or is absurdly long."""
    if "\x00" in value:
        raise bad(name, "must not contain NUL characters")
    if len(value) > MAX_TEXT:
        raise bad(name, f"at most {MAX_TEXT} characters")
    return value


def refuse_unknown(params: Params, allowed: Collection[str]) -> None:
    expected = f"expected one of {', '.join(sorted(allowed))}" if allowed else "this route takes no parameters"
    for name in params:
        if name not in allowed:
            raise bad(name, f"unknown parameter; {expected}")


def single(params: Params, name: str, parse: Callable[[str], T]) -> T | None:
    """The one value of ``name`` parsed, or None when absent. Repeating it is an error."""
    values = params.getall(name, [])
    if not values:
        return None
    if len(values) > 1:
        raise bad(name, "give it once")
    try:
        return parse(check_text(name, values[0]))
    except ValueError as exc:
        raise bad(name, str(exc)) from None


def many(params: Params, name: str, parse: Callable[[str], str] = str.strip) -> tuple[str, ...]:
    """Every value of a list filter: the parameter repeated, or comma-separated, or both."""
    out: list[str] = []
    for raw in params.getall(name, []):
        for part in check_text(name, raw).split(","):
            if part.strip():
                try:
                    out.append(parse(part.strip()))
                except ValueError as exc:
                    raise bad(name, str(exc)) from None
    if len(out) > MAX_VALUES:
        raise bad(name, f"at most {MAX_VALUES} values")
    return tuple(dict.fromkeys(out))


def parse_time(value: str) -> datetime:
    """ISO 8601 date or date-time; without an offset it is UTC."""
    try:
        return as_utc(datetime.fromisoformat(value.strip()))
    except (ValueError, OverflowError):
        raise ValueError(f"not an ISO 8601 date or date-time: {value!r}") from None


def parse_limit(value: str) -> int:
    if not _WHOLE_NUMBER.fullmatch(value):
        raise ValueError(f"not a whole number: {value!r}")
    if not 1 <= int(value) <= MAX_LIMIT:
        raise ValueError(f"must be between 1 and {MAX_LIMIT}")
    return int(value)


def parse_score(value: str) -> float:
    try:
        score = float(value)
    except ValueError:
        raise ValueError(f"not a number: {value!r}") from None
    if not math.isfinite(score) or not 0 <= score <= 1:
        raise ValueError("must be between 0 and 1")
    return score


def parse_bool(value: str) -> bool:
    lowered = value.lower()
    if lowered not in ("true", "false"):
        raise ValueError("must be true or false")
    return lowered == "true"


def _jurisdiction(value: str) -> str:
    code = value.upper()
    if not _JURISDICTION.match(code):  # EU is two capitals too
        raise ValueError(f"not a jurisdiction (GB, EU, US-CA…): {value!r}")
    return code


def _language(value: str) -> str:
    if not _LANGUAGE.match(value.lower()):
        raise ValueError(f"not an ISO 639-1 language code: {value!r}")
    return value.lower()


def _words(value: str) -> str:
    """Free text of at most MAX_WORDS words (every one must match), stripped."""
    if len(value.split()) > MAX_WORDS:
        raise ValueError(f"at most {MAX_WORDS} words")
    return value.strip()


def parse_event_id(value: str) -> str:
    if not EVENT_ID.match(value):
        raise ValueError(f"not an event id: {value!r}")
    return value


def _action_type(value: str) -> str:
    if value not in ACTION_TYPES:
        raise ValueError(f"unknown action type {value!r}; one of {', '.join(ACTION_TYPES)}")
    return value


def encode_cursor(cursor: Cursor) -> str:
    raw = json.dumps([cursor.seen.isoformat(), cursor.id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(token: str) -> Cursor:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        seen, row_id = json.loads(raw)
        if isinstance(row_id, bool) or not isinstance(row_id, (str, int)):
            raise TypeError(row_id)
        return Cursor(as_utc(datetime.fromisoformat(seen)), row_id)
    except (binascii.Error, ValueError, TypeError, OverflowError):
        raise ValueError("not a cursor returned by this API") from None


COMMON = ("since", "until", "jurisdiction", "regulator", "action_type", "target", "language", "min_score", "q")
EVENT_PARAMS = COMMON
ITEM_PARAMS = COMMON + ("source", "enforcement", "event_id")
PAGE_PARAMS = ("limit", "cursor")


def parse_filters(params: Params, *, items: bool = False) -> Filters:
    since = single(params, "since", parse_time)
    until = single(params, "until", parse_time)
    if since and until and since > until:
        raise bad("since", "must not be after until")
    q = single(params, "q", _words)
    values = dict(
        since=since, until=until,
        jurisdictions=many(params, "jurisdiction", _jurisdiction),
        regulators=many(params, "regulator"),
        action_types=many(params, "action_type", _action_type),
        targets=many(params, "target"),
        languages=many(params, "language", _language),
        min_score=single(params, "min_score", parse_score),
        q=q or None,
    )
    if items:
        values.update(sources=many(params, "source"), enforcement=single(params, "enforcement", parse_bool),
                      event_id=single(params, "event_id", parse_event_id))
    return Filters(**values)  # type: ignore[arg-type]


def parse_row_id(value: str) -> int:
    """An item or delivery-attempt id: a positive whole number an INTEGER column can hold."""
    if not _WHOLE_NUMBER.fullmatch(value) or not 1 <= int(value) <= MAX_ROW_ID:
        raise ValueError(f"not an item id: {value!r}")
    return int(value)


def parse_page(params: Params, *, int_ids: bool = False) -> Page:
    """``limit`` and ``cursor``; a cursor must come from the same listing (item or event ids)."""
    after = single(params, "cursor", decode_cursor)
    if after is not None and isinstance(after.id, int) != int_ids:
        raise bad("cursor", "not a cursor of this listing")
    if after is not None and isinstance(after.id, int) and not 0 <= after.id <= MAX_ROW_ID:
        raise bad("cursor", "not a cursor returned by this API")
    return Page(limit=single(params, "limit", parse_limit) or DEFAULT_LIMIT, after=after)


def page_response(request: web.Request, data: list[dict[str, Any]], next_cursor: Cursor | None) -> web.Response:
    """``{"data": [...], "next_cursor": ...}``, and a ``Link: rel="next"`` header when more follow."""
    token = encode_cursor(next_cursor) if next_cursor else None
    headers = {}
    if token:
        headers["Link"] = f'<{request.rel_url.update_query(cursor=token)}>; rel="next"'
    return web.json_response({"data": data, "next_cursor": token}, headers=headers)
