"""Transaction-scoped advisory locks: one holder at a time across processes, released at commit.

SQLite needs none (one writer at a time); on PostgreSQL they serialise the few steps where two
replicas could otherwise both decide "nothing there yet" (start-up sync, event grouping).
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

SOURCES_SYNC = 0x667277617463_68  # start-up sync of the sources file
EVENT_GROUPING = 0x66727761  # assigning reports to events


async def xact_lock(session: AsyncSession, key: int) -> None:
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
