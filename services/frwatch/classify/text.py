"""Text normalisation and the small pattern language used by the lexicons.

Matching runs on a *folded* copy of the text: Unicode-normalised, accents stripped, case-folded,
typographic quotes and dashes unified. Folding keeps string length stable enough for search but
never for slicing the original, so extractors that need the original casing (names, targets) work
on :func:`display` text instead.

Lexicon term syntax (see ``config/rules/README.md``):

* plain words match whole words: ``fine`` matches "fine", not "finest";
* ``*`` at the end allows any inflection suffix: ``sanzion*`` matches "sanzione", "sanzionato";
* ``*`` at the start allows a compound prefix: ``*gesichtserkennung*`` matches
  "Gesichtserkennungssoftware";
* a space matches any run of spaces or hyphens, so ``face scan`` also matches "face-scan";
* `` ... `` allows up to five words in between: ``ordered ... delete`` matches
  "ordered Clearview AI to delete";
* a term starting with ``re:`` is a raw regular expression over folded text.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "\u201c": '"', "\u201d": '"',
                         "\u00ab": '"', "\u00bb": '"', "\u2013": "-", "\u2014": "-", "\u2011": "-",
                         "\u00a0": " ", "\u202f": " ", "\u2009": " "})
_SPACES = re.compile(r"\s+")
GAP = r"(?:\W+\w+){0,5}?\W+"


def display(text: str) -> str:
    """Original casing and accents, with quotes, dashes and spaces unified (NFC)."""
    return _SPACES.sub(" ", unicodedata.normalize("NFC", text).translate(_QUOTES)).strip()


def fold(text: str) -> str:
    """Accent-, case- and punctuation-insensitive form used for lexicon matching."""
    decomposed = unicodedata.normalize("NFKD", display(text))
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return stripped.casefold()


def term_regex(term: str) -> str:
    """Translate one lexicon term into a regular expression over folded text."""
    if term.startswith("re:"):
        return term[3:]
    folded = fold(term)
    prefix = folded.startswith("*")
    suffix = folded.endswith("*")
    core = folded.strip("*").strip()
    pieces = []
    for gap_part in core.split(" ... "):
        words = [re.escape(w) for w in re.split(r"[\s\-]+", gap_part.strip()) if w]
        pieces.append(r"[\s\-]+".join(words))
    body = GAP.join(pieces)
    start = r"\w*" if prefix else r"(?<!\w)"
    end = r"\w*" if suffix else r"(?!\w)"
    return f"{start}{body}{end}"


def compile_terms(terms: Iterable[str]) -> re.Pattern[str] | None:
    """One alternation for a list of terms (longest first so the reported match is the fullest)."""
    regexes = sorted({term_regex(t) for t in terms}, key=len, reverse=True)
    if not regexes:
        return None
    return re.compile("|".join(f"(?:{r})" for r in regexes))


def uppercase_class() -> str:
    """A character class of upper-case letters (Latin, Greek, Cyrillic) for name spans."""
    chars = "".join(chr(c) for c in range(0x41, 0x530) if chr(c).isupper())
    return "[" + re.escape(chars) + "]"
