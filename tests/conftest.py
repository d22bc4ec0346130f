"""Shared fixtures: a migrated database per test (SQLite file and PostgreSQL), settings that
allow loopback, an open runtime, and an API client.

PostgreSQL: ``FRWATCH_TEST_PG_URL`` (default postgresql+asyncpg://postgres@127.0.0.1:5432/test) is
used to create one scratch database per test session, migrated once and truncated per test. When
it is unreachable the PostgreSQL cases skip — except under CI (``CI`` set), where they fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import shutil
import socket
import uuid
from pathlib import Path
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, AsyncIterator, Callable, Iterator, NoReturn, TypeVar

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from frwatch.db import create_engine, session_factory
from frwatch.migrate import upgrade
from frwatch.models import Base

from frwatch.settings import Settings

if TYPE_CHECKING:
    from frwatch.runtime import Runtime

T = TypeVar("T")
PG_URL = os.environ.get("FRWATCH_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))
REPO = Path(__file__).resolve().parents[1]


async def _pg_admin(sql: str) -> None:
    engine = create_engine(PG_URL, isolation_level="AUTOCOMMIT", pool_size=1)
    try:
        async with engine.connect() as conn:
            await conn.execute(text(sql))
    finally:
        await engine.dispose()


_real_getaddrinfo = socket.getaddrinfo


def _loopback_only_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
    """Name lookups in tests: IP literals and localhost only. Anything else fails like NXDOMAIN,
    so no test can send a DNS query off this machine (tests that need names use a stub resolver)."""
    name = host.decode() if isinstance(host, bytes) else host
    if name is None or name == "localhost" or _is_ip(name):
        return _real_getaddrinfo(host, *args, **kwargs)
    raise socket.gaierror(socket.EAI_NONAME, f"tests resolve no external names ({name})")


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name.split("%")[0])
    except ValueError:
        return False
    return True


@pytest.fixture(autouse=True, scope="session")
def no_external_dns() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket, "getaddrinfo", _loopback_only_getaddrinfo)
        yield


def in_thread(func: Callable[..., T], *args: object) -> T:
    """Run blocking set-up (which may start its own event loop) outside the test's loop."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(func, *args).result()


def pg_unavailable(exc: Exception) -> NoReturn:
    """PostgreSQL cases skip when the server is unreachable — except under CI, where they fail."""
    if os.environ.get("CI"):
        pytest.fail(f"PostgreSQL is required under CI but unreachable at {PG_URL}: {exc}")
    pytest.skip(f"PostgreSQL unreachable at {PG_URL}: {exc}")


def _scratch_name(prefix: str) -> str:
    return f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:6]}"


def _database_url(name: str) -> str:
    return make_url(PG_URL).set(database=name).render_as_string(hide_password=False)


@contextlib.asynccontextmanager
async def scratch_pg_database(prefix: str) -> AsyncIterator[str]:
    """An empty PostgreSQL database of its own, dropped afterwards."""
    name = _scratch_name(prefix)
    try:
        await _pg_admin(f'CREATE DATABASE "{name}"')
    except Exception as exc:  # unreachable server, refused login…
        pg_unavailable(exc)
    try:
        yield _database_url(name)
    finally:
        await _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A scratch PostgreSQL database, migrated to head, for this test session."""
    name = _scratch_name("frwatch_test")
    try:
        in_thread(asyncio.run, _pg_admin(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # unreachable server, refused login…
        pg_unavailable(exc)
    url = _database_url(name)
    in_thread(upgrade, url)
    yield url
    in_thread(asyncio.run, _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (migrating once is much faster)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    in_thread(upgrade, f"sqlite+aiosqlite:///{path}")
    return path


async def truncate_all(url: str) -> None:
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.begin() as conn:
            names = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
            await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    finally:
        await engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A migrated, empty database: a fresh SQLite file, or the session's PostgreSQL database."""
    if request.param == "sqlite":
        path = tmp_path / "frwatch.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite+aiosqlite:///{path}"
    else:
        url = request.getfixturevalue("pg_database")
        await truncate_all(url)
        yield url


def make_settings(db_url: str, **overrides: object) -> Settings:
    """Test settings: loopback allowed, short intervals, quiet logs."""
    defaults: dict[str, object] = dict(
        database_url=db_url, allow_private_networks=LOOPBACK, admin_token="admin-token",
        sources=REPO / "tests" / "fixtures" / "sources-empty.yaml", log_format="text",
    )
    defaults.update(overrides)
    return Settings.from_env({}, **defaults)


@pytest.fixture
async def sessions(db_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Just the database: a session factory over the migrated test database."""
    engine = create_engine(db_url)
    yield session_factory(engine)
    await engine.dispose()


@pytest.fixture
def settings(db_url: str) -> Settings:
    return make_settings(db_url)


@pytest.fixture
async def runtime(settings: Settings) -> AsyncIterator["Runtime"]:
    from frwatch.runtime import open_runtime

    async with open_runtime(settings) as rt:
        yield rt


@pytest.fixture
async def api(aiohttp_client, runtime: "Runtime"):  # type: ignore[no-untyped-def]
    """A test client of the HTTP API on loopback over the migrated database."""
    from frwatch.api.app import create_app

    return await aiohttp_client(create_app(runtime))


ADMIN_HEADERS = {"Authorization": "Bearer admin-token"}
