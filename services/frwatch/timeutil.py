"""Time helpers: every datetime in frwatch is timezone-aware UTC."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import Callable

Clock = Callable[[], datetime]

_DURATION = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}
MAX_RETRY_AFTER = timedelta(days=365)  # longer asks are read as this; callers clamp far below it


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def as_utc(value: datetime) -> datetime:
    """Naive datetimes are taken as UTC (SQLite returns them so)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def parse_duration(text: str | int | float) -> timedelta:
    """'30s', '15m', '2h', '1d', '90' (seconds) → timedelta; ValueError otherwise."""
    if isinstance(text, (int, float)):
        seconds = float(text)
    else:
        m = _DURATION.match(str(text))
        if not m:
            raise ValueError(f"not a duration: {text!r} (use e.g. 30s, 15m, 2h)")
        seconds = float(m.group(1)) * _UNITS[m.group(2)]
    if seconds < 0:
        raise ValueError(f"duration must not be negative: {text!r}")
    return timedelta(seconds=seconds)


def format_duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def parse_seconds(value: str, longest: timedelta) -> timedelta | None:
    """Delta-seconds as HTTP headers write them (digits only), at most ``longest``; None when
    ``value`` is not such a number."""
    if not (value.isascii() and value.isdigit()):  # str.isdigit alone also accepts "²", which int() refuses
        return None
    digits, cap = value.lstrip("0"), int(longest.total_seconds())
    # more digits than the cap has are the cap (int() refuses over 4,300 digits)
    return timedelta(seconds=cap if len(digits) > len(str(cap)) else min(int(digits or "0"), cap))


def parse_retry_after(value: str | None, now: datetime) -> timedelta | None:
    """HTTP ``Retry-After`` as delta-seconds or an HTTP date, at most ``MAX_RETRY_AFTER``; None
    when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    seconds = parse_seconds(value, MAX_RETRY_AFTER)
    if seconds is not None:
        return seconds
    try:
        return min(max(as_utc(parsedate_to_datetime(value)) - now, timedelta(0)), MAX_RETRY_AFTER)
    except (TypeError, ValueError, OverflowError):  # unreadable, or a date past datetime's range in UTC
        return None
