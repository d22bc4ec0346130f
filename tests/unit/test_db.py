"""The engine factory refuses a SQLite too old for the statements frwatch uses, or built without its
JSON functions, with a clear error."""

from __future__ import annotations

import sqlite3

import pytest

from frwatch.cli import main
from frwatch.db import SQLITE_MIN, create_engine
from frwatch.errors import ConfigError


def test_an_old_sqlite_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert sqlite3.sqlite_version_info >= SQLITE_MIN  # this machine's: what the other tests run on
    monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 31, 1))
    monkeypatch.setattr(sqlite3, "sqlite_version", "3.31.1")
    with pytest.raises(ConfigError, match=r"SQLite 3\.31\.1 is too old: frwatch needs 3\.35\.5 or newer"):
        create_engine(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    monkeypatch.setenv("FRWATCH_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    assert main(["sources", "list"]) == 2
    assert "configuration error: SQLite 3.31.1 is too old" in capsys.readouterr().err


class _WithoutJson:
    """A connection of a SQLite built with SQLITE_OMIT_JSON, as far as frwatch asks it."""

    def execute(self, sql: str) -> None:
        assert "json_each" in sql
        raise sqlite3.OperationalError("no such table: json_each")

    def close(self) -> None:
        pass


def test_a_sqlite_without_json_functions_is_a_configuration_error(monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"
    create_engine(url).sync_engine.dispose()  # this machine's SQLite has them
    monkeypatch.setattr(sqlite3, "connect", lambda *args, **kwargs: _WithoutJson())
    with pytest.raises(ConfigError, match=r"SQLite 3\.\d+\.\d+ was built without its JSON functions"):
        create_engine(url)
