"""Validating JSON request bodies into clean values, or a problem naming the field.

    FIELDS = {"url": Field(string(max_length=2048), required=True), "enabled": Field(boolean())}
    body = validate(await read_json(request), FIELDS)            # POST: required fields needed
    changes = validate(await read_json(request), FIELDS, partial=True)   # PATCH

Body: wrong Content-Type → 415, unreadable JSON or not an object → 400, unknown field, missing
required field, wrong type or value out of range → 422 with ``field`` (dotted path, e.g.
``filters.min_score``). Query strings are parsed by ``api.query`` (400 naming the parameter).
"""

from __future__ import annotations

import json
import logging
import math
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Mapping

from aiohttp import web

from frwatch.api.problems import Problem
from frwatch.api.query import parse_time
from frwatch.errors import UrlRefused
from frwatch.storable import encodable
from frwatch.urlguard import UrlGuard

log = logging.getLogger("frwatch.api")

Check = Callable[[Any, str], Any]  # (raw value, field path) → clean value; raises Problem


def invalid(field: str, message: str) -> Problem:
    return Problem(422, f"{field}: {message}", field=field)


@dataclass(frozen=True)
class Field:
    check: Check
    required: bool = False
    nullable: bool = False


async def read_json(request: web.Request) -> dict[str, Any]:
    """The body as a JSON object. A body over the app's size limit is a 413 before this runs."""
    if request.content_type != "application/json" and not request.content_type.endswith("+json"):
        raise Problem(415, "send the body as JSON with Content-Type: application/json")
    try:
        body = json.loads(await request.read())
    except (ValueError, UnicodeDecodeError) as exc:
        raise Problem(400, f"body is not valid JSON: {exc}") from None
    except RecursionError:  # [[[[… nested deeper than the parser's stack: not a body we take
        raise Problem(400, "body is not valid JSON: nested too deeply") from None
    if not isinstance(body, dict):
        raise Problem(400, "body must be a JSON object")
    return body


def validate(body: Mapping[str, Any], fields: Mapping[str, Field], *, partial: bool = False,
             prefix: str = "") -> dict[str, Any]:
    """Clean values of the fields present in ``body`` (every required one unless ``partial``)."""
    for name in body:
        if name not in fields:
            raise invalid(prefix + name, "unknown field")
    clean: dict[str, Any] = {}
    for name, spec in fields.items():
        path = prefix + name
        if name not in body:
            if spec.required and not partial:
                raise invalid(path, "is required")
            continue
        value = body[name]
        if value is None:
            if not spec.nullable:
                raise invalid(path, "must not be null")
            clean[name] = None
        else:
            clean[name] = spec.check(value, path)
    return clean


def string(*, min_length: int = 0, max_length: int = 1000, pattern: str | None = None,
           normalize: Callable[[str], str] | None = None) -> Check:
    """A string, stripped (and normalised, e.g. ``str.upper``) before its length and pattern are checked."""
    regex = re.compile(pattern) if pattern else None

    def check(value: Any, path: str) -> str:
        if not isinstance(value, str):
            raise invalid(path, "must be a string")
        text = value.strip()
        text = normalize(text) if normalize else text
        if "\x00" in text:
            raise invalid(path, "must not contain NUL characters")
        if not text.isascii() and not encodable(text):
            raise invalid(path, "must be valid Unicode text (no unpaired surrogates)")
        if not min_length <= len(text) <= max_length:
            raise invalid(path, f"must be {min_length} to {max_length} characters long")
        if regex and not regex.fullmatch(text):
            raise invalid(path, f"must match {pattern}")
        return text

    return check


def boolean() -> Check:
    def check(value: Any, path: str) -> bool:
        if not isinstance(value, bool):
            raise invalid(path, "must be true or false")
        return value

    return check


def number(*, minimum: float | None = None, maximum: float | None = None) -> Check:
    def check(value: Any, path: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise invalid(path, "must be a number")
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            raise invalid(path, f"must be between {minimum} and {maximum}")
        return float(value)

    return check


def one_of(*allowed: str) -> Check:
    def check(value: Any, path: str) -> str:
        if value not in allowed:
            raise invalid(path, f"must be one of {', '.join(allowed)}")
        return str(value)

    return check


def list_of(item: Check, *, max_items: int = 100) -> Check:
    """A list; duplicates are dropped, order kept."""
    def check(value: Any, path: str) -> list[Any]:
        if not isinstance(value, list):
            raise invalid(path, "must be a list")
        if len(value) > max_items:
            raise invalid(path, f"must have at most {max_items} entries")
        return list(dict.fromkeys(item(entry, f"{path}[{index}]") for index, entry in enumerate(value)))

    return check


def timestamp() -> Check:
    """An ISO 8601 date-time; without an offset it is taken as UTC."""
    def check(value: Any, path: str) -> datetime:
        if not isinstance(value, str):
            raise invalid(path, "must be an ISO 8601 date-time string")
        try:
            return parse_time(value)
        except ValueError:
            raise invalid(path, "must be an ISO 8601 date-time, e.g. 2026-01-31T12:00:00Z") from None

    return check


def obj(fields: Mapping[str, Field]) -> Check:
    """A nested object validated field by field (paths like ``filters.min_score``)."""
    def check(value: Any, path: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise invalid(path, "must be an object")
        return validate(value, fields, prefix=f"{path}.")

    return check


async def resolved_public_url(guard: UrlGuard, url: str, field: str = "url", *, unresolvable_ok: bool = False,
                              reveal: bool = True) -> str:
    """Refuse (422 on ``field``) a URL that is not http(s) or whose host resolves to a non-public
    address (unless allowed), or cannot be resolved now (unless ``unresolvable_ok``); the
    connection is checked again at every use. Unless ``reveal`` (the admin), a host refused for
    what it resolves to gets one answer whether it resolves to a refused address or not at all,
    so an integrator cannot probe which internal names exist; the reason is logged."""
    try:
        guard.check_url(url)
    except UrlRefused as exc:
        raise invalid(field, str(exc)) from None
    try:
        await guard.check_resolved(url, unresolvable_ok=unresolvable_ok)
    except UrlRefused as exc:
        if reveal:
            raise invalid(field, str(exc)) from None
        log.info("url refused", extra={"field": field, "url": url, "error": str(exc)})
        raise invalid(field, "its host must resolve to public addresses only") from None
    return url
