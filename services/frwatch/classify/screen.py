"""A cheap screen in front of the lexicon's regular expressions.

Most lexicon searches fail: a headline about a fine has no hedge, no legislation, no court. A
search costs a pass of the regex engine over the whole text, but each term needs something
simple in the text (a word, a word's beginning, a substring; see
:func:`~frwatch.classify.text.term_requirement`). The screen looks those up once per text, mostly
per distinct word through a cache, and answers with a bit mask of the sections that *may* match;
the classifier searches only those. It never hides a match, so verdicts do not change.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from functools import reduce
from operator import or_

from frwatch.classify.memo import WordMemo
from frwatch.classify.text import INSIDE, START, TEXT, WORD, term_requirement


class Screen:
    """Which of a lexicon's sections (each a list of terms) can match a folded text."""

    def __init__(self, sections: Mapping[Hashable, Iterable[str]], digraphs: bool = False) -> None:
        #: each section's bit in the masks returned by :meth:`possible`
        self.bits: dict[Hashable, int] = {}
        self._always = 0  # sections with a term whose needs are unknown
        self._words: dict[str, int] = {}
        self._starts: dict[int, dict[str, int]] = {}  # by prefix length
        self._inside: dict[str, int] = {}
        self._texts: dict[str, int] = {}
        for n, (key, terms) in enumerate(sections.items()):
            bit = self.bits[key] = 1 << n
            for term in terms:
                self._add(term_requirement(term, digraphs), bit)
        self._cache = WordMemo(self._word_bits)

    def _add(self, need: tuple[str, str] | None, bit: int) -> None:
        if need is None:
            self._always |= bit
            return
        kind, text = need
        if kind == START:
            table = self._starts.setdefault(len(text), {})
        else:
            table = {WORD: self._words, INSIDE: self._inside, TEXT: self._texts}[kind]
        table[text] = table.get(text, 0) | bit

    def _word_bits(self, word: str) -> int:
        """The sections one word of a text satisfies: as a whole word, by its beginning or a part."""
        bits = self._words.get(word, 0)
        for length, starts in self._starts.items():
            bits |= starts.get(word[:length], 0)
        for part, bit in self._inside.items():
            if part in word:
                bits |= bit
        return bits

    def possible(self, folded: str, words: Iterable[str]) -> int:
        """Bit mask of the sections that may match ``folded``, whose ``\\w+`` words are ``words``."""
        mask = reduce(or_, map(self._cache.__getitem__, words), self._always)
        for text, bits in self._texts.items():
            if text in folded:
                mask |= bits
        return mask
