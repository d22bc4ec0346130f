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
* `` ... `` allows up to six words in between: ``ordered ... delete`` matches
  "ordered Clearview AI to delete";
* a term starting with ``re:`` is a raw regular expression over folded text;
* with ``digraphs`` (German: ``umlaut_digraphs: true``) the spellings ``ae``/``oe``/``ue`` in a term
  also match the folded umlaut (``loeschung`` matches "Löschung", which folds to "loschung").
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Iterable
from re import _constants, _parser

_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "\u201c": '"', "\u201d": '"',
                         "\u00ab": '"', "\u00bb": '"', "\u2013": "-", "\u2014": "-", "\u2011": "-",
                         "\u00a0": " ", "\u202f": " ", "\u2009": " "})
_TYPOGRAPHIC = re.compile("[" + "".join(map(chr, _QUOTES)) + "]")  # what _QUOTES maps: most text has none
_COMBINING = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")
_DECOMPOSED_KANA_HANGUL = re.compile("[\u1100-\u11ff\u3099\u309a]")
_BOUNDARY = r"(?<!\w)"
GAP = r"(?:\W+\w+){0,6}?\W+"
_ENTITY = re.compile(r"&(?:#\d{2,7}|#x[0-9a-fA-F]{2,6}|[a-zA-Z]{2,10});")
_TAG = re.compile(r"</?(?:p|br|a|b|i|u|em|strong|span|div|img|li|ul|ol|h[1-6]|blockquote|figure|figcaption|small"
                  r"|sup|sub|font|table|tr|td|th|hr|section|article|header|footer)(?:\s[^<>]*)?/?>", re.IGNORECASE)


def display(text: str) -> str:
    """Original casing and accents, with quotes, dashes and spaces unified (NFC). Markup left
    by a feed that escaped its HTML twice ("&amp;quot;" parses to "&quot;", "&lt;p&gt;" to
    "<p>") is undone: entities become their characters, then HTML tags spaces."""
    if "&" in text and _ENTITY.search(text):
        text = html.unescape(text)
    if "<" in text:  # HTML tags only: "turnover <USD 5m" stays
        text = _TAG.sub(" ", text)
    if not text.isascii():
        text = unicodedata.normalize("NFC", text)
        if _TYPOGRAPHIC.search(text):  # translate() walks every character: six times slower than this
            text = text.translate(_QUOTES)
    return " ".join(text.split())  # runs of whitespace (str.isspace, as re's \s) to one space, ends trimmed


def fold(text: str) -> str:
    """Accent-, case- and punctuation-insensitive form used for lexicon matching."""
    return fold_display(display(text))


def fold_display(text: str) -> str:
    """:func:`fold` for text that is already :func:`display` text."""
    if text.isascii():  # nothing to decompose (most English items)
        return text.lower()
    folded = _COMBINING.sub("", unicodedata.normalize("NFKD", text)).casefold()
    # kana voicing marks and hangul jamo are not accents: put them back together (じ stays じ, not
    # し and a mark that splits its word in two; 원 stays one syllable)
    return unicodedata.normalize("NFC", folded) if _DECOMPOSED_KANA_HANGUL.search(folded) else folded


_DIGRAPHS = re.compile(r"([aou])e")


def term_regex(term: str, digraphs: bool = False) -> str:
    """Translate one lexicon term into a regular expression over folded text."""
    if term.startswith("re:"):
        body = term[3:]
        if (body.startswith("\\b") and body[2:3].isalpha() and body[3:4] not in ("?", "*", "{")
                and not _top_level_alternation(body)):
            # before a letter "\b" is the word-start lookbehind, which compile_terms hoists out
            # of the alternation (and guards by first letter): one such term left in it slowed
            # a section's search tenfold. Not "\bs?tr…" nor "\bag|foo", whose first letter varies
            return _BOUNDARY + body[2:]
        return body
    prefix, suffix, parts = _parse_term(term)
    body = GAP.join(r"[\s\-]+".join(_word_regex(w, digraphs) for w in words) for words in parts)
    start = "" if prefix else _BOUNDARY  # no left boundary: matches inside compounds
    end = r"\w*" if suffix else r"(?!\w)"
    return f"{start}{body}{end}"


def _top_level_alternation(regex: str) -> bool:
    """``regex`` has a ``|`` outside any group or character class."""
    depth, escaped, in_class = 0, False, False
    for c in regex:
        if escaped:
            escaped = False
        elif c == "\\":
            escaped = True
        elif in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "|" and depth == 0:
            return True
    return False


def _parse_term(term: str) -> tuple[bool, bool, list[list[str]]]:
    """A plain term's leading and trailing ``*`` and its folded words, per `` ... `` part."""
    folded = fold(term).strip()
    parts = [[w for w in re.split(r"[\s\-]+", part.strip()) if w]
             for part in folded.strip("*").split(" ... ")]
    return folded.startswith("*"), folded.endswith("*"), parts


#: What every match of a term needs in the folded text (see :func:`term_requirement`).
WORD, START, INSIDE, TEXT = "word", "start", "inside", "text"
_RANK = {WORD: 3, START: 2, INSIDE: 1, TEXT: 0}
_NON_WORD = re.compile(r"\W+")
_OPTIONAL_E = re.compile(r"(?<=[aou])e")  # where _DIGRAPHS makes the "e" optional


def term_requirement(term: str, digraphs: bool = False) -> tuple[str, str] | None:
    """Something any match of ``term`` needs in the folded text, so that a search can be skipped
    when it is missing: ``(WORD, w)`` the word w, ``(START, p)`` a word beginning with p,
    ``(INSIDE, s)`` a word containing s, ``(TEXT, s)`` the substring s; None if nothing is known.

    Every word of a plain term is matched whole (words are joined by spaces, hyphens or gaps of
    non-word characters), so any of them will do; the most selective is returned. A raw regex
    needs the longest literal run at its top level.
    """
    if term.startswith("re:"):
        literal = _required_literal(term[3:])
        return (TEXT, literal) if len(literal) >= 3 else None
    prefix, suffix, parts = _parse_term(term)
    words = [w for part in parts for w in part]
    needs = [need for i, word in enumerate(words)
             for need in _word_needs(word, i == 0 and prefix,
                                     word.endswith("*") or (suffix and i == len(words) - 1), digraphs)]
    # words under four letters ("l", "to") are too common to be worth much
    return max(needs, key=lambda need: (min(len(need[1]), 4), _RANK[need[0]], len(need[1])),
               default=None)


def _word_needs(word: str, inside: bool, open_end: bool, digraphs: bool) -> list[tuple[str, str]]:
    """What one word of a term needs. Each run of word characters in it ("d'euros" → "d",
    "euros") is a whole word of the text, except that the first may sit inside one (``inside``,
    a compound prefix) and the last may continue (``open_end``, a ``*``); with digraphs a run
    is cut where an "e" is optional ("loeschung" → "lo", "schung")."""
    runs = _NON_WORD.split(word.rstrip("*"))
    needs = []
    for j, run in enumerate(runs):
        pieces = _OPTIONAL_E.split(run) if digraphs else [run]
        for k, piece in enumerate(pieces):
            starts = k == 0 and (j > 0 or not inside)
            ends = k == len(pieces) - 1 and (j < len(runs) - 1 or not open_end)
            if piece:
                needs.append((WORD if starts and ends else START if starts else INSIDE, piece))
    return needs


def _required_literal(regex: str) -> str:
    """The longest run of literal characters at the top level of ``regex`` ("" if none)."""
    try:
        parsed = _parser.parse(regex)
    except re.error:
        return ""
    if parsed.state.flags & re.IGNORECASE:
        return ""
    best = run = ""
    for op, value in parsed:
        run = run + chr(value) if op is _constants.LITERAL else ""
        best = max(best, run, key=len)
    return best


def _word_regex(word: str, digraphs: bool = False) -> str:
    """A word inside a term; a trailing ``*`` on an inner word allows any ending."""
    star = word.endswith("*")
    body = re.escape(word[:-1] if star else word)
    if digraphs:
        body = _DIGRAPHS.sub(r"\1e?", body)
    return body + r"\w*" if star else body


def compile_terms(terms: Iterable[str], digraphs: bool = False) -> re.Pattern[str] | None:
    """One alternation for a list of terms (longest first so the reported match is the fullest).

    The word-start lookbehind is hoisted out of the alternation: checked once per position
    instead of once per term, which makes matching about fifteen times faster.
    """
    regexes = sorted({term_regex(t, digraphs) for t in terms}, key=len, reverse=True)
    if not regexes:
        return None
    bounded = [r[len(_BOUNDARY):] for r in regexes if r.startswith(_BOUNDARY)]
    free = [r for r in regexes if not r.startswith(_BOUNDARY)]
    # a one-character lookahead of the terms' first letters: most word starts fail at once
    firsts = {r[0] for r in bounded}
    guard = (f"(?=[{''.join(sorted(firsts))}])"
             if bounded and all(c.isalnum() for c in firsts) else "")
    parts = ([f"{_BOUNDARY}{guard}(?:{'|'.join(bounded)})"] if bounded else []) + [f"(?:{r})" for r in free]
    return re.compile("|".join(parts))


def uppercase_class() -> str:
    """A character class of upper-case letters (Latin, Greek, Cyrillic) for name spans."""
    chars = "".join(chr(c) for c in range(0x41, 0x530) if chr(c).isupper())
    return "[" + re.escape(chars) + "]"
