"""Statement shapes. An IN list of N values renders N placeholders: a different statement for each
N, which PostgreSQL's driver prepares anew (it keeps 100 prepared statements per connection) and
the server parses and plans anew. Padded to a power of two by repeating its last value, a list
takes one of a few shapes, each prepared once per connection; the repeats change no answer."""

from __future__ import annotations

from typing import Iterable, TypeVar

T = TypeVar("T")


def padded(values: Iterable[T]) -> list[T]:
    """``values`` as a list whose length is a power of two (or 0), its last value repeated."""
    listed = list(values)
    if listed:
        listed += listed[-1:] * ((1 << (len(listed) - 1).bit_length()) - len(listed))
    return listed
