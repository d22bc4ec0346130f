"""Applying Alembic migrations from the package (``frwatch migrate`` and ``frwatch run``)."""

from __future__ import annotations

import asyncio
from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

REPO_ROOT = Path(__file__).resolve().parents[2]


def alembic_config(url: str) -> Config:
    config = Config(str(REPO_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(REPO_ROOT / "migrations"))
    config.attributes["url"] = url
    config.attributes["quiet_logging"] = True
    return config


@lru_cache(maxsize=1)
def _scripts() -> ScriptDirectory:
    """The migration scripts shipped with this code (read once: /readyz asks on every call)."""
    return ScriptDirectory.from_config(alembic_config(""))


@lru_cache(maxsize=1)
def _known_revisions() -> frozenset[str]:
    return frozenset(script.revision for script in _scripts().walk_revisions())


def head_revision() -> str | None:
    return _scripts().get_current_head()


def schema_state(revision: str | None) -> str:
    """'ok' when the database is at this code's head, or ahead of it (a newer release migrated
    during a rolling upgrade: additive migrations keep this release working); else why not."""
    head = head_revision()
    if revision == head:
        return "ok"
    if revision is not None and revision not in _known_revisions():
        return "ok"
    return f"at {revision}, head is {head}: run frwatch migrate"


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


async def upgrade_async(url: str) -> None:
    """Alembic's env runs its own event loop, so run it in a thread."""
    await asyncio.to_thread(upgrade, url)
