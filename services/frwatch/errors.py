"""One exception hierarchy for the whole service.

Callers decide what to do by type: a ``RetryableError`` is worth trying again later
(network trouble, 5xx, 429), a ``PermanentError`` is not (404, bad config, refused URL).
"""

from __future__ import annotations

from datetime import timedelta


class FrwatchError(Exception):
    """Base class of every error frwatch raises on purpose."""

    retryable: bool = False


class RetryableError(FrwatchError):
    retryable = True

    def __init__(self, message: str, *, retry_after: timedelta | None = None, status: int | None = None):
        super().__init__(message)
        self.retry_after = retry_after
        self.status = status


class PermanentError(FrwatchError):
    retryable = False

    def __init__(self, message: str, *, status: int | None = None):
        super().__init__(message)
        self.status = status


class ConfigError(PermanentError):
    """Bad settings or sources file; start-up stops with this one-line message."""


class UrlRefused(PermanentError):
    """A feed or webhook URL points somewhere it may not (private network, bad scheme)."""
