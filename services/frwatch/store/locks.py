"""Transaction-scoped advisory locks: one holder at a time across processes, released at commit.

They serialise the few steps where two writers could otherwise both decide from the same
reading (start-up sync, event grouping, claiming webhook messages). SQLite has one lock for the
whole database: every name maps to it.
"""

from __future__ import annotations

from typing import Iterable

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

SOURCES_SYNC = 0x667277617463_68  # start-up sync of the sources file
EVENT_GROUPING = 0x66727761  # assigning reports to events: the key space of ``xact_lock_names``
OUTBOX_CLAIM = 0x667277617463_6f  # counting endpoints' free slots and leasing rows in them


async def xact_lock(session: AsyncSession, key: int, *, stall_limit_ms: int | None = None) -> None:
    """``stall_limit_ms``: on PostgreSQL, the server ends this session if it then leaves the
    transaction idle that long (a frozen or cut-off process), which frees the lock for the others."""
    if session.get_bind().dialect.name != "postgresql":
        await _sqlite_write_lock(session)
    elif stall_limit_ms is None:
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
    else:  # one round trip; the setting is the transaction's own (is_local), set before the wait
        await session.execute(text("SELECT set_config('idle_in_transaction_session_timeout', :limit, true), "
                                   "pg_advisory_xact_lock(:key)"), {"key": key, "limit": str(stall_limit_ms)})


async def _sqlite_write_lock(session: AsyncSession) -> None:
    """Take SQLite's write lock now, by a write that changes nothing: the driver starts the
    transaction only at the first write, so reads before it would not see a writer that commits
    meanwhile, and reads after it see every committed transaction."""
    await session.execute(text("UPDATE sources SET id = id WHERE 1 = 0"))


async def xact_lock_names(session: AsyncSession, space: int, names: Iterable[str]) -> None:
    """Lock each name of ``space`` (the two-int form of the advisory lock, so it never meets
    ``xact_lock``'s keys). Taken in sorted order, so two transactions never wait on each other
    in a cycle; unrelated names do not serialise (a hash collision only costs a wait)."""
    ordered = sorted(set(names))
    if ordered and session.bind.dialect.name != "postgresql":
        await _sqlite_write_lock(session)
    elif ordered:  # one round trip; unnest yields the (sorted) array in order, so locks are taken in order
        await session.execute(text("SELECT pg_advisory_xact_lock(CAST(:space AS integer), hashtext(name)) "
                                   "FROM unnest(CAST(:names AS text[])) AS name"),
                              {"space": space, "names": ordered})
