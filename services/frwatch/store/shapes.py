"""Statement shapes. An IN list of N values renders N placeholders: a different statement for each
N, which PostgreSQL's driver prepares anew (it keeps 100 prepared statements per connection) and
the server parses and plans anew. Padded to a power of two by repeating its last value, a list
takes one of a few shapes, each prepared once per connection; the repeats change no answer."""

from __future__ import annotations

from typing import Iterable, TypeVar

T = TypeVar("T")


def shape(count: int) -> int:
    """The power of two (or 0) a list of ``count`` values is padded to."""
    return 1 << (count - 1).bit_length() if count else 0


def padded(values: Iterable[T]) -> list[T]:
    """``values`` as a list of ``shape(len(values))`` values, its last value repeated."""
    listed = list(values)
    return listed + listed[-1:] * (shape(len(listed)) - len(listed))
