"""Statement shapes. An IN list of N values renders N placeholders: a different statement for each
N, which PostgreSQL's driver prepares anew (it keeps 100 prepared statements per connection) and
the server parses and plans anew. On PostgreSQL a list is therefore bound as one array
(``= ANY(:ids)``: one statement whatever its length, encoded by the driver); elsewhere it is an
expanding IN, padded to a power of two by repeating its last value, so it takes one of a few
shapes; the repeats change no answer. Statements using ``one_of`` are built once per dialect."""

from __future__ import annotations

from typing import Any, Callable, Iterable, Sequence, TypeVar

from sqlalchemy import ColumnElement, Executable, String, Text, any_, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import TypeEngine

T = TypeVar("T")
POSTGRESQL = "postgresql"
IDS = "ids"  # the parameter one_of binds its list as


def shape(count: int) -> int:
    """The power of two (or 0) a list of ``count`` values is padded to."""
    return 1 << (count - 1).bit_length() if count else 0


def padded(values: Iterable[T]) -> list[T]:
    """``values`` as a list of ``shape(len(values))`` values, its last value repeated."""
    listed = list(values)
    return listed + listed[-1:] * (shape(len(listed)) - len(listed))


def dialect(session: AsyncSession) -> str:
    """The name of the session's database dialect (``postgresql``, ``sqlite``)."""
    return session.get_bind().dialect.name


def array_of(type_: TypeEngine[Any]) -> ARRAY[Any]:
    """A PostgreSQL array of ``type_``; of unbounded text for strings, because the cast to
    ``varchar(n)[]`` that a bounded type renders cuts longer values short instead of refusing them."""
    return ARRAY(Text() if isinstance(type_, String) else type_)


def one_of(column: ColumnElement[Any], dialect_name: str) -> ColumnElement[bool]:
    """``column`` is one of the list bound as ``IDS`` (see ``with_ids``)."""
    if dialect_name == POSTGRESQL:
        return column == any_(bindparam(IDS, type_=array_of(column.type)))
    return column.in_(bindparam(IDS, expanding=True))


def none_of(column: ColumnElement[Any], dialect_name: str, name: str) -> ColumnElement[bool]:
    """``column`` is none of the list bound as ``name`` (which must not be empty: bind ``[""]``
    for none, or another value no row has). On PostgreSQL ``NOT IN (SELECT unnest(:name))``,
    which it hashes once per statement: ``<> ALL(:name)`` compares every row with every value."""
    if dialect_name == POSTGRESQL:
        return column.not_in(select(func.unnest(bindparam(name, type_=array_of(column.type)))))
    return column.not_in(bindparam(name, expanding=True))


def unnested(columns: Sequence[ColumnElement[Any]], prefix: str = "") -> Any:
    """PostgreSQL: rows bound as one array per column (as ``prefix`` + the column's name) and
    unnested into a derived table with the columns' names: one statement for many rows, where an
    executemany binds and executes once per row."""
    return func.unnest(*(bindparam(f"{prefix}{column.name}", type_=array_of(column.type)) for column in columns)
                       ).table_valued(*(column.name for column in columns)).render_derived()


def bound_list(values: Iterable[T], dialect_name: str) -> list[T]:
    """``values`` as ``one_of`` binds them: as they are on PostgreSQL, else ``padded``."""
    return list(values) if dialect_name == POSTGRESQL else padded(values)


def with_ids(session: AsyncSession, build: Callable[[str], Executable], ids: Iterable[Any],
             **params: Any) -> tuple[Executable, dict[str, Any]]:
    """The statement ``build`` makes (once) for the session's dialect, and its parameters with
    ``ids`` bound for its ``one_of``: ``session.execute(*with_ids(session, build, ids, ...))``."""
    name = dialect(session)
    return build(name), {IDS: bound_list(ids, name), **params}
