"""Migrations: upgrade to head and back to base on both databases, and the models match head."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from pathlib import Path
from typing import AsyncIterator

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.schema import CreateIndex

from frwatch.db import create_engine
from frwatch.migrate import alembic_config, head_revision
from frwatch.models import Base
from tests.conftest import scratch_pg_database


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"
        return
    async with scratch_pg_database("frwatch_mig") as url:
        yield url


async def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
    finally:
        await engine.dispose()


async def _diff(url: str) -> list:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(
                lambda c: compare_metadata(MigrationContext.configure(c, opts={"compare_type": True}), Base.metadata))
    finally:
        await engine.dispose()


async def test_upgrade_head_then_downgrade_base(empty_db: str) -> None:
    config = alembic_config(empty_db)
    await asyncio.to_thread(command.upgrade, config, "head")
    tables = await _tables(empty_db)
    assert set(Base.metadata.tables) <= tables
    assert "alembic_version" in tables
    await asyncio.to_thread(command.downgrade, config, "base")
    assert await _tables(empty_db) <= {"alembic_version"}
    await asyncio.to_thread(command.upgrade, config, "head")  # and up again: downgrades are clean
    engine = create_engine(empty_db)
    try:
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar() == head_revision()
    finally:
        await engine.dispose()


async def test_models_match_migrations(empty_db: str) -> None:
    await asyncio.to_thread(command.upgrade, alembic_config(empty_db), "head")
    assert await _diff(empty_db) == []


async def test_circuit_opens_migration_keeps_subscriptions_and_their_messages(empty_db: str) -> None:
    """0005 adds a column to a table other rows reference: up and down again, every subscription
    and message it owes is still there (a SQLite table rebuild would cascade-delete them)."""
    config = alembic_config(empty_db)
    await asyncio.to_thread(command.upgrade, config, "0004")
    now = datetime(2026, 12, 7, tzinfo=timezone.utc)
    engine = create_engine(empty_db)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(
                "INSERT INTO subscriptions (id, url, description, enabled, event_types, filters, secret,"
                " consecutive_failures, circuit_open_until, created_at, updated_at) VALUES ('sub_1',"
                " 'https://hooks.example/', '', :yes, '[]', '{}', 'whsec_x', 7, :now, :now, :now)"),
                {"yes": True, "now": now})
            await conn.execute(text(
                "INSERT INTO outbox (id, subscription_id, event_type, payload, status, attempts, next_attempt_at,"
                " created_at) VALUES ('msg_1', 'sub_1', 'enforcement.detected', '{}', 'pending', 0, :now, :now)"),
                {"now": now})
        await asyncio.to_thread(command.upgrade, config, "head")
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT consecutive_failures, circuit_opens FROM subscriptions"))
                    ).all() == [(7, 0)]
        await asyncio.to_thread(command.downgrade, config, "0004")
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT id, subscription_id FROM outbox"))).all() == [("msg_1", "sub_1")]
            assert (await conn.scalar(text("SELECT consecutive_failures FROM subscriptions"))) == 7
    finally:
        await engine.dispose()


def test_schema_state_accepts_head_and_newer_but_not_older() -> None:
    from frwatch.migrate import schema_state

    assert schema_state(head_revision()) == "ok"
    assert schema_state("ffffffffffff") == "ok"      # a newer release already migrated (rolling upgrade)
    assert "run frwatch migrate" in schema_state(None)


async def test_every_index_is_defined_as_its_model_says(empty_db: str) -> None:
    """compare_metadata checks names and columns but not a partial index's WHERE: each model index
    is also created under another name, and the database's own definitions of the two compared."""
    await asyncio.to_thread(command.upgrade, alembic_config(empty_db), "head")
    engine = create_engine(empty_db)
    try:
        async with engine.connect() as conn:
            postgres = conn.dialect.name == "postgresql"
            definition = text("SELECT pg_get_indexdef(oid) FROM pg_class WHERE relname = :name" if postgres
                              else "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = :name")
            checked = set()
            for table in Base.metadata.sorted_tables:
                for index in table.indexes:
                    assert index.name is not None
                    model_ddl = str(CreateIndex(index).compile(dialect=conn.dialect))
                    await conn.execute(text(model_ddl.replace(index.name, "model_copy", 1)))
                    migrated, model = [await conn.scalar(definition, {"name": name})
                                       for name in (index.name, "model_copy")]
                    await conn.execute(text("DROP INDEX model_copy"))
                    assert migrated is not None, f"{index.name} missing after migrations"
                    assert " ".join(migrated.replace(index.name, "model_copy", 1).split()) == " ".join(model.split())
                    checked.add(index.name)
            assert {"ix_outbox_pending", "ix_outbox_leased", "ix_outbox_failed"} <= checked
    finally:
        await engine.dispose()
