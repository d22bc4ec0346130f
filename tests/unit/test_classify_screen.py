"""The word screen may only skip searches that would fail: whenever a lexicon section's pattern
matches a text, the screen must allow that section (else verdicts would silently change)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from frwatch.classify import Classifier
from frwatch.classify.text import display, fold_display

DATA = Path(__file__).resolve().parents[1] / "data"
WORDS = re.compile(r"\w+")


def _texts() -> list[str]:
    texts: set[str] = set()
    for path in DATA.glob("*.jsonl"):
        for line in path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            for text in (record.get("title") or "", record.get("summary") or ""):
                texts.add(text)
                words = text.split()  # short windows put terms at the text's edges too
                texts.update(" ".join(words[i:i + 5]) for i in range(0, len(words), 3))
    return sorted(texts)


TEXTS = _texts()
CLASSIFIER = Classifier.load()


@pytest.mark.parametrize("language", sorted(CLASSIFIER._lexicons))
def test_screen_never_hides_a_match(language: str) -> None:
    lexicon = CLASSIFIER._lexicons[language]
    patterns = {("cue", key): p for key, p in lexicon.cues.items()}
    patterns.update({("action", key): p for key, p in lexicon.actions})
    patterns.update({("negative", key): p for key, p in lexicon.negatives.items()})
    matches = 0
    for text in TEXTS:
        folded = fold_display(display(text))
        allowed = lexicon.screen.possible(folded, WORDS.findall(folded))
        for key, pattern in patterns.items():
            if pattern is not None and pattern.search(folded):
                matches += 1
                assert allowed & lexicon.screen.bits[key], (key, folded[:120])
    assert matches > 0  # the check really ran against matching texts


def test_a_raw_term_opening_with_a_word_boundary_joins_the_hoisted_alternation() -> None:
    """'re:\\b…' before a letter is rewritten to the word-start lookbehind that compile_terms
    hoists (left in the alternation, one such term made a section's search ten times slower)."""
    from frwatch.classify.text import compile_terms, term_regex

    assert term_regex(r"re:\bnix(?:es|ed)?\b") == r"(?<!\w)nix(?:es|ed)?\b"
    assert term_regex(r"re:\b(?:a|b)c") == r"\b(?:a|b)c"  # not before a letter: kept as written
    assert term_regex(r"re:\bag\b|foo") == r"\bag\b|foo"  # a top-level "|": "foo" has no boundary
    assert term_regex(r"re:\bs?truck") == r"\bs?truck"  # the first letter is optional
    pattern = compile_terms(["overturn*", r"re:\bnix(?:es|ed)?\b"])
    assert pattern is not None and pattern.pattern.count("(?<!\\w)") == 1
    assert pattern.search("judge nixes the deal") and not pattern.search("phoenixes rise")
