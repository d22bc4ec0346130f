"""All configuration, read once from ``FRWATCH_*`` environment variables.

Nothing else in frwatch reads ``os.environ``. Each setting is declared once in ``SPECS``
(name, default, parser, help); ``config/example.env`` and the README table list the same
names, and a test keeps them in step.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field, fields
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable, Mapping
from urllib.parse import urlsplit

from frwatch.errors import ConfigError
from frwatch.timeutil import parse_duration

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _url(value: str) -> str:
    parts = urlsplit(value)
    if not parts.scheme or "://" not in value:
        raise ValueError(f"not a URL: {value!r}")
    return value


def _db_url(value: str) -> str:
    _url(value)
    scheme = urlsplit(value).scheme
    if scheme not in ("sqlite+aiosqlite", "postgresql+asyncpg"):
        raise ValueError(f"unsupported database {scheme!r}: use sqlite+aiosqlite:// or postgresql+asyncpg://")
    return value


def _port(value: str) -> int:
    port = int(value)
    if not 0 <= port <= 65535:
        raise ValueError(f"port out of range: {value}")
    return port


def _positive_int(value: str) -> int:
    number = int(value)
    if number <= 0:
        raise ValueError(f"must be a positive whole number: {value}")
    return number


def _non_negative_int(value: str) -> int:
    number = int(value)
    if number < 0:
        raise ValueError(f"must not be negative: {value}")
    return number


def _positive_duration(value: str) -> timedelta:
    delta = parse_duration(value)
    if delta <= timedelta(0):
        raise ValueError(f"must be longer than zero: {value}")
    return delta


def _networks(value: str) -> tuple[Network, ...]:
    items = [part.strip() for part in value.split(",") if part.strip()]
    return tuple(ipaddress.ip_network(item, strict=False) for item in items)


def _durations(value: str) -> tuple[timedelta, ...]:
    items = tuple(_positive_duration(part) for part in value.split(",") if part.strip())
    if not items:
        raise ValueError("needs at least one duration")
    return items


def _choice(*allowed: str) -> Callable[[str], str]:
    def parse(value: str) -> str:
        if value.lower() not in allowed:
            raise ValueError(f"must be one of {', '.join(allowed)}: {value!r}")
        return value.lower()

    return parse


def _bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"not a boolean: {value!r}")


def _optional(value: str) -> str | None:
    return value or None


def _optional_path(value: str) -> Path | None:
    return Path(value) if value else None


@dataclass(frozen=True)
class Spec:
    env: str
    default: str
    parse: Callable[[str], Any]
    help: str


SPECS: dict[str, Spec] = {
    "database_url": Spec("FRWATCH_DATABASE_URL", "sqlite+aiosqlite:///./frwatch.db", _db_url,
                         "SQLAlchemy async URL: sqlite+aiosqlite:///path or postgresql+asyncpg://user@host/db"),
    "host": Spec("FRWATCH_HOST", "127.0.0.1", str, "address the HTTP API listens on"),
    "port": Spec("FRWATCH_PORT", "8080", _port, "port the HTTP API listens on"),
    "admin_token": Spec("FRWATCH_ADMIN_TOKEN", "", _optional,
                        "bearer token of the administrator; empty disables admin routes"),
    "sources": Spec("FRWATCH_SOURCES", "config/sources.yaml", Path, "sources file synced into the database at start-up"),
    "poll_interval": Spec("FRWATCH_POLL_INTERVAL", "15m", _positive_duration,
                          "default poll interval of a source without its own"),
    "min_poll_interval": Spec("FRWATCH_MIN_POLL_INTERVAL", "5m", _positive_duration,
                              "no source is polled more often than this"),
    "max_poll_interval": Spec("FRWATCH_MAX_POLL_INTERVAL", "24h", _positive_duration,
                              "no healthy source waits longer than this; also the cap of error back-off"),
    "tick_interval": Spec("FRWATCH_TICK_INTERVAL", "5s", _positive_duration,
                          "how often the scheduler looks for due sources and owed webhooks"),
    "lease_duration": Spec("FRWATCH_LEASE_DURATION", "5m", _positive_duration,
                           "how long a claimed source or outbox row stays claimed if its worker dies"),
    "allow_private_networks": Spec("FRWATCH_ALLOW_PRIVATE_NETWORKS", "", _networks,
                                   "comma-separated CIDRs that feed and webhook URLs may resolve to (e.g. 127.0.0.0/8)"),
    "user_agent": Spec("FRWATCH_USER_AGENT", "frwatch/0.1 (+https://github.com/frwatch/frwatch)", str,
                       "User-Agent sent with every feed request"),
    "connect_timeout": Spec("FRWATCH_CONNECT_TIMEOUT", "10s", _positive_duration, "feed connect timeout"),
    "fetch_timeout": Spec("FRWATCH_FETCH_TIMEOUT", "30s", _positive_duration, "total time one feed fetch may take"),
    "max_body_bytes": Spec("FRWATCH_MAX_BODY_BYTES", str(15 * 1024 * 1024), _positive_int,
                           "largest feed body read (decompressed); larger fails the fetch"),
    "max_redirects": Spec("FRWATCH_MAX_REDIRECTS", "5", _non_negative_int, "redirects followed per fetch"),
    "fetch_concurrency": Spec("FRWATCH_FETCH_CONCURRENCY", "32", _positive_int, "feeds fetched at once"),
    "per_host_concurrency": Spec("FRWATCH_PER_HOST_CONCURRENCY", "2", _positive_int, "feeds fetched at once per host"),
    "rules_dir": Spec("FRWATCH_RULES_DIR", "", _optional_path,
                      "folder of classifier lexicons (default: the config/rules shipped with frwatch)"),
    "webhook_timeout": Spec("FRWATCH_WEBHOOK_TIMEOUT", "15s", _positive_duration, "time limit of one webhook attempt"),
    "webhook_retry_schedule": Spec("FRWATCH_WEBHOOK_RETRY_SCHEDULE", "5s,5m,30m,2h,5h,10h,14h,20h,24h", _durations,
                                   "delays between webhook attempts (±20% jitter); after the last the message fails"),
    "webhook_disable_after": Spec("FRWATCH_WEBHOOK_DISABLE_AFTER", "5d", _positive_duration,
                                  "a subscription failing without a success this long is disabled"),
    "webhook_rotation_overlap": Spec("FRWATCH_WEBHOOK_ROTATION_OVERLAP", "24h", _positive_duration,
                                     "after a secret rotation, the old secret also signs for this long"),
    "webhook_concurrency": Spec("FRWATCH_WEBHOOK_CONCURRENCY", "64", _positive_int, "webhook attempts in flight at once"),
    "webhook_per_endpoint": Spec("FRWATCH_WEBHOOK_PER_ENDPOINT", "4", _positive_int,
                                 "webhook attempts in flight at once to one subscription"),
    "grace_period": Spec("FRWATCH_GRACE_PERIOD", "20s", _positive_duration,
                         "on SIGTERM, time to finish work in flight before leases are released"),
    "dashboard_public": Spec("FRWATCH_DASHBOARD_PUBLIC", "false", _bool,
                             "serve the read-only dashboard and Atom feed without a token"),
    "log_format": Spec("FRWATCH_LOG_FORMAT", "json", _choice("json", "text"), "log line format"),
    "log_level": Spec("FRWATCH_LOG_LEVEL", "info", _choice("debug", "info", "warning", "error"), "log level"),
}


@dataclass(frozen=True)
class Settings:
    database_url: str = ""
    host: str = ""
    port: int = 0
    admin_token: str | None = None
    sources: Path = Path()
    poll_interval: timedelta = timedelta()
    min_poll_interval: timedelta = timedelta()
    max_poll_interval: timedelta = timedelta()
    tick_interval: timedelta = timedelta()
    lease_duration: timedelta = timedelta()
    allow_private_networks: tuple[Network, ...] = ()
    user_agent: str = ""
    connect_timeout: timedelta = timedelta()
    fetch_timeout: timedelta = timedelta()
    max_body_bytes: int = 0
    max_redirects: int = 0
    fetch_concurrency: int = 0
    per_host_concurrency: int = 0
    rules_dir: Path | None = None
    webhook_timeout: timedelta = timedelta()
    webhook_retry_schedule: tuple[timedelta, ...] = field(default_factory=tuple)
    webhook_disable_after: timedelta = timedelta()
    webhook_rotation_overlap: timedelta = timedelta()
    webhook_concurrency: int = 0
    webhook_per_endpoint: int = 0
    grace_period: timedelta = timedelta()
    dashboard_public: bool = False
    log_format: str = ""
    log_level: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> "Settings":
        """Parse every FRWATCH_* variable; ``overrides`` (already typed) win. Raises ConfigError."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for name, spec in SPECS.items():
            if name in overrides:
                continue
            raw = env.get(spec.env, spec.default)
            try:
                values[name] = spec.parse(raw)
            except ValueError as exc:
                raise ConfigError(f"{spec.env}: {exc}") from None
        values.update(overrides)
        settings = cls(**values)
        if settings.min_poll_interval > settings.max_poll_interval:
            raise ConfigError("FRWATCH_MIN_POLL_INTERVAL: must not exceed FRWATCH_MAX_POLL_INTERVAL")
        return settings

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


assert {f.name for f in fields(Settings)} == set(SPECS), "Settings fields and SPECS must match"
