"""Engine and session factories. One engine per process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import weakref
from contextvars import ContextVar
from typing import Any, AsyncIterator, Awaitable, Callable, TypeVar

from sqlalchemy import event
from sqlalchemy.exc import DBAPIError, InvalidatePoolError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from frwatch.errors import ConfigError

SQLITE_BUSY_TIMEOUT_S = 30
DEFAULT_POOL_SIZE = 10
MAX_OVERFLOW = 10
SQLITE_MIN = (3, 35, 5)  # UPDATE … RETURNING (leases, claims), MATERIALIZED CTEs, UPDATE … FROM; ALTER TABLE
# … DROP COLUMN (migration 0005's downgrade), which could corrupt the file before 3.35.5
CONFLICT_SQLSTATES = frozenset({"40P01", "40001"})  # PostgreSQL's deadlock detected, serialization failure
TRANSACTION_ATTEMPTS = 3

log = logging.getLogger("frwatch.db")
T = TypeVar("T")

# a SQLite engine's write transactions take turns on one lock per event loop (_sqlite_write_turn)
_write_turns: weakref.WeakKeyDictionary[Any, weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock]]
_write_turns = weakref.WeakKeyDictionary()
_turns_held: ContextVar[frozenset[Any]] = ContextVar("frwatch_write_turns_held", default=frozenset())


def pool_size_for(fetch_concurrency: int, webhook_concurrency: int) -> int:
    """Enough pooled connections for every poll or webhook transaction that can run at once, so a
    busy cycle never opens (and closes again) overflow connections for each transaction."""
    return max(DEFAULT_POOL_SIZE, fetch_concurrency, webhook_concurrency)


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """SQLite gets WAL, foreign keys and a busy timeout (a locked file is waited on, not crashed
    on); PostgreSQL gets a ping on checkout so connections dropped by a restart are replaced
    (``_ping_on_checkout``). ``pool_size`` applies to PostgreSQL only."""
    if url.startswith("sqlite"):
        if sqlite3.sqlite_version_info < SQLITE_MIN:
            raise ConfigError(f"SQLite {sqlite3.sqlite_version} is too old: frwatch needs "
                              f"{'.'.join(map(str, SQLITE_MIN))} or newer (the one Python is linked with), "
                              "or PostgreSQL")
        if not _sqlite_has_json():
            raise ConfigError(f"SQLite {sqlite3.sqlite_version} was built without its JSON functions, which "
                              "frwatch needs (built in since 3.38; before, the JSON1 extension); or use PostgreSQL")
        kwargs.pop("pool_size", None)
        engine = create_async_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S}, **kwargs)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}")
            cursor.close()
            # SQLite's lower() folds ASCII only; case-insensitive filters (LIKE on lower()) must
            # match "Genève" with "GENÈVE" as on PostgreSQL. No index is built on lower().
            dbapi_conn.create_function("lower", 1, _unicode_lower, deterministic=True)

        return engine
    kwargs.setdefault("pool_size", DEFAULT_POOL_SIZE)
    kwargs.setdefault("max_overflow", MAX_OVERFLOW)
    engine = create_async_engine(url, **kwargs)
    _ping_on_checkout(engine)
    return engine


def _sqlite_has_json() -> bool:
    """Whether the SQLite Python is linked with has ``json_each`` (poll bookkeeping binds its rows as JSON)."""
    connection = sqlite3.connect(":memory:")
    try:
        connection.execute("SELECT value FROM json_each('[1]')").fetchall()
    except sqlite3.OperationalError:
        return False
    finally:
        connection.close()
    return True


def _ping_on_checkout(engine: AsyncEngine) -> None:
    """``pool_pre_ping`` in one round trip instead of three: SQLAlchemy's asyncpg ping wraps its
    query in a transaction it opens and rolls back (for PgBouncer's transaction mode), which made
    the checkout the slowest step of a claim under load (8 of 25 ms). A query in the simple
    protocol prepares nothing, so PgBouncer serves it too. As with pre-ping, a new connection is
    not pinged, and one that does not answer invalidates the pool's older connections (a restart
    killed them all) and is replaced before use."""

    @event.listens_for(engine.sync_engine, "connect")
    def _new(_dbapi_conn: Any, record: Any) -> None:
        record.info["fresh"] = True

    @event.listens_for(engine.sync_engine, "checkout")
    def _ping(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        if record.info.pop("fresh", False):
            return
        try:
            dbapi_conn.run_async(lambda connection: connection.execute("SELECT 1"))
        except Exception as exc:
            raise InvalidatePoolError(f"ping failed: {exc!r}") from exc


def _unicode_lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def is_conflict(exc: BaseException) -> bool:
    """PostgreSQL aborted the transaction to break a deadlock (or a serialization conflict)
    between it and another one: running it again is the remedy its manual prescribes."""
    return isinstance(exc, DBAPIError) and getattr(exc.orig, "sqlstate", None) in CONFLICT_SQLSTATES


@contextlib.asynccontextmanager
async def write_transaction(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A session in a transaction, committed at the end (rolled back on an error), for work that
    writes. On SQLite it first waits for its turn behind this process's other write transactions
    (``_sqlite_write_turn``)."""
    async with sessions() as session, _sqlite_write_turn(session), session.begin():
        yield session


@contextlib.asynccontextmanager
async def _sqlite_write_turn(session: AsyncSession) -> AsyncIterator[None]:
    """SQLite lets one connection write at a time, and a connection that finds the file locked
    sleeps in steps growing to 100 ms (its busy handler) however soon the lock is free; an asyncio
    lock hands the turn on at once (measured on the delivery bench: 16% more webhooks per second, in
    bigger batches). The turn is held from the transaction's start to its commit, so no slow work
    (HTTP) belongs inside one. Other processes (the CLI) are still waited for by the busy handler.
    Nothing to wait for on PostgreSQL, nor when this task holds the turn already (it would wait for
    itself)."""
    engine = session.get_bind()  # as store.shapes.dialect reads it
    held = _turns_held.get()
    if engine.dialect.name != "sqlite" or engine in held:
        yield
        return
    turns = _write_turns.setdefault(engine, weakref.WeakKeyDictionary())
    async with turns.setdefault(asyncio.get_running_loop(), asyncio.Lock()):
        token = _turns_held.set(held | {engine})
        try:
            yield
        finally:
            _turns_held.reset(token)


async def in_transaction(sessions: async_sessionmaker[AsyncSession], work: Callable[[AsyncSession], Awaitable[T]],
                         *, attempts: int = TRANSACTION_ATTEMPTS) -> T:
    """``work(session)`` in one write transaction, committed; run again in a new one (up to ``attempts``
    in all) when PostgreSQL aborted it in a conflict with another. For transactions that lock rows
    of several tables, whose order other writers cannot all share (a subscription deleted while its
    messages' attempts are recorded). ``work`` must be safe to run again after a rollback."""
    for attempt in range(1, attempts + 1):
        try:
            async with write_transaction(sessions) as session:
                return await work(session)
        except DBAPIError as exc:
            if attempt == attempts or not is_conflict(exc):
                raise
            log.warning("transaction aborted in a conflict with another; running it again",
                        extra={"attempt": attempt, "sqlstate": getattr(exc.orig, "sqlstate", None)})
    raise AssertionError("unreachable: the last attempt returned or raised")
