"""Log lines: the JSON fields operators parse, the text format, and what a line skips gathering."""

from __future__ import annotations

import io
import json
import logging
from datetime import datetime, timedelta, timezone
from typing import Iterator

import pytest

from frwatch import logs

FLAGS = ("_srcfile", "logThreads", "logProcesses", "logMultiprocessing", "logAsyncioTasks")


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """``configure`` sets process-wide state: give the other tests theirs back."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    flags = {name: getattr(logging, name) for name in FLAGS if hasattr(logging, name)}
    levels = {name: logging.getLogger(name).level for name in logs.QUIETED}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name in FLAGS:
        if name in flags:
            setattr(logging, name, flags[name])
        elif hasattr(logging, name):
            delattr(logging, name)
    for name, quieted in levels.items():
        logging.getLogger(name).setLevel(quieted)


def lines(stream: io.StringIO) -> list[str]:
    return stream.getvalue().splitlines()


def test_json_line_has_the_fixed_fields_and_the_extras(restore_logging: None) -> None:
    stream = io.StringIO()
    logs.configure("json", "info", stream)
    before = datetime.now(timezone.utc)
    logging.getLogger("frwatch.notify").info("webhook delivered", extra={
        "outbox_id": "msg_1", "status_code": 200, "target": "Société Générale", "when": before})
    logging.getLogger("frwatch.notify").debug("not at info")
    [line] = lines(stream)
    entry = json.loads(line)
    assert list(entry)[:4] == ["ts", "level", "logger", "msg"]
    assert entry["level"] == "info" and entry["logger"] == "frwatch.notify" and entry["msg"] == "webhook delivered"
    assert entry["outbox_id"] == "msg_1" and entry["status_code"] == 200
    assert "Société Générale" in line  # written as is, not \u-escaped
    assert entry["when"] == str(before)  # what JSON cannot hold is written as text
    ts = datetime.fromisoformat(entry["ts"])
    assert ts.utcoffset() == timedelta(0) and abs(ts - before) < timedelta(seconds=5)
    assert len(entry["ts"].split(".")[1]) == len("123+00:00")  # milliseconds


def test_json_line_carries_the_traceback(restore_logging: None) -> None:
    stream = io.StringIO()
    logs.configure("json", "info", stream)
    try:
        raise ValueError("bad row")
    except ValueError:
        logging.getLogger("frwatch.notify").exception("webhook attempt crashed", extra={"attempt": 2})
    [line] = lines(stream)  # one line: the traceback's newlines are escaped
    entry = json.loads(line)
    assert entry["level"] == "error" and entry["attempt"] == 2
    assert entry["exc"].startswith("Traceback") and "ValueError: bad row" in entry["exc"]


def test_text_line_and_level(restore_logging: None) -> None:
    stream = io.StringIO()
    logs.configure("text", "warning", stream)
    log = logging.getLogger("frwatch.ingest")
    log.info("polled", extra={"source_id": "ico"})
    log.warning("source failing", extra={"source_id": "ico", "error": "HTTP 500"})
    [line] = lines(stream)
    assert line.endswith("WARNING frwatch.ingest: source failing source_id=ico error=HTTP 500")


def test_records_skip_what_no_line_shows(restore_logging: None) -> None:
    logs.configure("json", "info", io.StringIO())
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logging.getLogger().addHandler(handler)
    logging.getLogger("frwatch").info("frwatch running")
    [record] = records
    assert record.threadName is None and record.processName is None
    assert record.lineno == 0  # the caller was not looked up (a walk up the stack per line)
