"""Structured logging: one JSON object per line with stable field names (or plain text).

At the default level a line is written for every webhook attempt and every poll that found news
(at ``debug``, for every poll), so a line's cost counts (a bench measures it: see README,
Benchmarks). What the lines never show is not looked up: the caller's file and line (a walk up the
stack), the thread, process and task names.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone
from typing import TextIO

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
_ENCODER = json.JSONEncoder(default=str, ensure_ascii=False)  # json.dumps with options builds one per call
QUIETED = ("apscheduler", "aiohttp.access", "alembic")  # libraries logged at warning and above only


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update({key: value for key, value in vars(record).items() if key not in _STANDARD})
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return _ENCODER.encode(entry)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        extras = " ".join(f"{k}={v}" for k, v in vars(record).items() if k not in _STANDARD)
        line = f"{self.formatTime(record)} {record.levelname:<7} {record.name}: {record.getMessage()}"
        line = f"{line} {extras}" if extras else line
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def configure(log_format: str, level: str, stream: TextIO | None = None) -> None:
    """Log to ``stream`` (standard error by default)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in QUIETED:
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # the logging HOWTO's "Optimization": skip gathering what neither format writes. Without the
    # caller's frame, ``stack_info`` and ``stacklevel`` do nothing in this process (frwatch uses neither)
    logging._srcfile = None  # type: ignore[attr-defined]
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    logging.logAsyncioTasks = False  # type: ignore[attr-defined]  # Python 3.12+
