"""Per-word memo for the classifier's word lookups."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

V = TypeVar("V")

#: distinct words remembered before a memo starts over (bounds memory on endless feeds)
LIMIT = 50_000


class WordMemo(dict[str, V], Generic[V]):
    """word → ``compute(word)``, computed on first sight. News text reuses a small vocabulary,
    so lookups over a text's words become plain dict hits (``map(memo.__getitem__, words)``)."""

    def __init__(self, compute: Callable[[str], V]) -> None:
        super().__init__()
        self._compute = compute

    def __missing__(self, word: str) -> V:
        if len(self) > LIMIT:
            self.clear()
        value = self[word] = self._compute(word)
        return value
