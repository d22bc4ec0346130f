"""Reading and validating the sources file (``config/sources.yaml``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from frwatch.errors import ConfigError
from frwatch.timeutil import parse_duration

ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
KINDS = ("regulator", "news")
JURISDICTION = re.compile(r"^([A-Z]{2}|EU|US-[A-Z]{2})$")
LANGUAGE = re.compile(r"^[a-z]{2}$")
FIELDS = {"id", "name", "url", "kind", "regulator", "jurisdiction", "language", "enabled", "poll_interval"}


@dataclass(frozen=True)
class SourceSpec:
    id: str
    name: str
    url: str
    kind: str
    regulator: str | None = None
    jurisdiction: str | None = None
    language: str | None = None
    enabled: bool = True
    poll_interval: timedelta | None = None


def _check_url(url: Any) -> str:
    if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https", "file"):
        raise ValueError("must be an http(s):// or file:// URL")
    if urlsplit(url).scheme != "file" and not urlsplit(url).hostname:
        raise ValueError("has no host")
    return url


def _optional_match(value: Any, pattern: re.Pattern[str], what: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not pattern.match(value):
        raise ValueError(f"must be {what}")
    return value


def parse_source(raw: Any) -> SourceSpec:
    """One entry (a mapping) → SourceSpec. Raises ValueError('field: problem')."""
    if not isinstance(raw, dict):
        raise ValueError("entry must be a mapping")
    unknown = set(raw) - FIELDS
    if unknown:
        raise ValueError(f"{sorted(unknown)[0]}: unknown field")
    values: dict[str, Any] = {}
    checks = {
        "id": lambda v: v if isinstance(v, str) and ID_PATTERN.match(v) else _fail("must match [a-z0-9-], 1-64 chars"),
        "name": lambda v: v if isinstance(v, str) and v.strip() else _fail("must be a non-empty string"),
        "url": _check_url,
        "kind": lambda v: v if v in KINDS else _fail(f"must be one of {', '.join(KINDS)}"),
        "regulator": lambda v: v if v is None or isinstance(v, str) else _fail("must be a string"),
        "jurisdiction": lambda v: _optional_match(v, JURISDICTION, "ISO 3166-1 alpha-2, EU or US-XX"),
        "language": lambda v: _optional_match(v, LANGUAGE, "an ISO 639-1 code such as en"),
        "enabled": lambda v: v if isinstance(v, bool) else _fail("must be true or false"),
        "poll_interval": lambda v: None if v is None else parse_duration(v),
    }
    for name in ("id", "name", "url", "kind"):
        if name not in raw:
            raise ValueError(f"{name}: missing")
    for name, check in checks.items():
        if name in raw:
            try:
                values[name] = check(raw[name])
            except ValueError as exc:
                raise ValueError(f"{name}: {exc}") from None
    return SourceSpec(**values)


def _fail(message: str) -> Any:
    raise ValueError(message)


def load_sources(path: Path) -> list[SourceSpec]:
    """The whole file, or ConfigError naming the entry and field."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"sources file {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"sources file {path}: not valid YAML ({exc})") from None
    if not isinstance(document, dict) or not isinstance(document.get("sources"), list):
        raise ConfigError(f"sources file {path}: needs a top-level 'sources:' list")
    specs: list[SourceSpec] = []
    seen: set[str] = set()
    for index, raw in enumerate(document["sources"]):
        label = raw.get("id", f"#{index + 1}") if isinstance(raw, dict) else f"#{index + 1}"
        try:
            spec = parse_source(raw)
        except ValueError as exc:
            raise ConfigError(f"sources file {path}: entry {label}: {exc}") from None
        if spec.id in seen:
            raise ConfigError(f"sources file {path}: entry {label}: id: duplicate")
        seen.add(spec.id)
        specs.append(spec)
    return specs
