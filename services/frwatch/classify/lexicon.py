"""Load the per-language lexicons in ``config/rules/*.yaml`` and compile them once."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from frwatch.classify.screen import Screen
from frwatch.classify.text import compile_terms, fold

#: Action rules in priority order: (rule key in the YAML, action_type reported, strong cue).
#: Precedence on combined decisions: the headline (title) decides when it has a strong cue;
#: when several fire in one segment the first listed wins, so "fined … and ordered to delete"
#: is a fine, an order to stop *and* delete is a deletion order, and a finding ("unlawful")
#: only counts when nothing more specific is said. A penalty payment outranks a fine because
#: reports of one usually recall the earlier fine. (The classifier then lets a monetary action
#: in the summary outrank a bare finding in the title, and turns non-monetary court actions
#: into judgments.)
ACTION_RULES: tuple[tuple[str, str, bool], ...] = (
    ("penalty_payment", "penalty_payment", True),
    ("fine", "fine", True),
    ("ban", "ban", True),
    ("settlement", "settlement", True),
    ("deletion_order", "deletion_order", True),
    ("enforcement_notice", "enforcement_notice", True),
    ("stop_order", "enforcement_notice", True),
    ("reprimand", "reprimand", True),
    ("warning", "warning", True),
    ("judgment", "judgment", True),
    ("determination", "determination", True),
    ("deletion_weak", "deletion_order", False),
    ("finding_weak", "determination", False),
)
MONETARY = frozenset({"fine", "settlement", "penalty_payment"})  # action types that state an amount
CUE_KEYS = ("face", "face_weak", "other_biometric", "authority", "court", "attorney_general",
            "company_words")
NEGATIVE_KEYS = ("hedge", "process", "legislation", "no_action", "favour", "opinion")


class LexiconError(ValueError):
    """A rules file is malformed; the message names the file and key."""


@dataclass(frozen=True)
class MoneyWords:
    scales: Mapping[str, float]
    currencies: Mapping[str, str]
    per_period: tuple[str, ...]
    #: the grouping separator in figures ("." in "1.400 millones", "," in "1,400 million")
    thousands: str | None = None
    #: names of a currency several countries share ("kr", "kroner"): the jurisdiction's code applies
    local: tuple[str, ...] = ()


@dataclass(frozen=True)
class Lexicon:
    language: str
    stopwords: frozenset[str]
    cues: Mapping[str, re.Pattern[str] | None]
    actions: tuple[tuple[str, re.Pattern[str]], ...]
    negatives: Mapping[str, re.Pattern[str] | None]
    court_heads: tuple[str, ...]
    target_patterns: tuple[str, ...]
    org_connectors: tuple[str, ...]
    org_nouns: tuple[str, ...]
    #: head words of public bodies' and schools' names, as written ("High School", "Comune")
    institution_heads: tuple[str, ...]
    state_party_before: tuple[str, ...]
    state_party_after: tuple[str, ...]
    money: MoneyWords
    #: which cue ("cue", key), action ("action", rule) and negative ("negative", kind) sections
    #: can match a text; searching only those saves most regex passes
    screen: Screen
    vocabulary: frozenset[str] = field(default_factory=frozenset)
    #: the words of the cue and action terms alone (no common nouns, no stopwords)
    cue_words: frozenset[str] = field(default_factory=frozenset)
    #: every noun is capitalised (German), so one capitalised word is weak evidence of a name
    nouns_capitalised: bool = False
    #: nouns a capitalised word before them describes rather than names ("Essex school")
    descriptive_nouns: frozenset[str] = field(default_factory=frozenset)
    #: the country where the language is mostly written, if one: it picks among same-named
    #: bodies when the text names no place ("Datatilsynet" in Norwegian is Norway's)
    home: str | None = None
    #: right before an action cue (searched up to it), what makes it no action of the item's: a
    #: negation ("keine Strafe", "without a fine") or a recall of the past ("has faced fines")
    unasserted: re.Pattern[str] | None = None
    #: right after an action cue, a negating determiner of what it imposes ("verhängt keine Strafe")
    negated_after: re.Pattern[str] | None = None
    #: right before a summary's action cue, a relative clause describing someone's past ("the
    #: ICO, which fined …"), when the headline states no action
    relative: re.Pattern[str] | None = None
    #: a summary sentence opening that dates what follows before the news ("Earlier this year …")
    past_opener: re.Pattern[str] | None = None
    #: the gap between two coordinated nouns: "and" with at most an article after it
    coordination: re.Pattern[str] | None = None
    #: each action rule's pattern
    action_patterns: Mapping[str, re.Pattern[str]] = field(default_factory=dict)


def _strings(data: Mapping[str, Any], key: str, path: Path) -> list[str]:
    value = data.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, (str, int, float)) for v in value):
        raise LexiconError(f"{path.name}: {key!r} must be a list of strings")
    if booleans := [v for v in value if isinstance(v, bool)]:  # YAML reads a bare no, yes, on, off so
        raise LexiconError(f"{path.name}: {key!r} holds {booleans[0]!r}, a word YAML reads as a boolean: quote it")
    return [str(v) for v in value]


def _words_of(terms: list[str]) -> set[str]:
    return {w for t in terms if not t.startswith("re:") for w in re.findall(r"\w+", fold(t))}


def load_lexicon(path: Path) -> Lexicon:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict) or "language" not in data:
        raise LexiconError(f"{path.name}: missing 'language'")
    vocabulary: set[str] = set()
    digraphs = bool(data.get("umlaut_digraphs"))
    cues: dict[str, re.Pattern[str] | None] = {}
    sections: dict[tuple[str, str], list[str]] = {}
    for key in CUE_KEYS:
        terms = sections["cue", key] = _strings(data, key, path)
        vocabulary |= _words_of(terms)
        cues[key] = compile_terms(terms, digraphs)
    raw_actions = data.get("actions") or {}
    unknown = set(raw_actions) - {rule for rule, _, _ in ACTION_RULES}
    if unknown:
        raise LexiconError(f"{path.name}: unknown action rules {sorted(unknown)}")
    actions = []
    for rule, _, _ in ACTION_RULES:
        terms = sections["action", rule] = _strings(raw_actions, rule, path)
        vocabulary |= _words_of(terms)
        pattern = compile_terms(terms, digraphs)
        if pattern is not None:
            actions.append((rule, pattern))
    raw_neg = data.get("negative") or {}
    negatives: dict[str, re.Pattern[str] | None] = {}
    for key in NEGATIVE_KEYS:
        terms = sections["negative", key] = _strings(raw_neg, key, path)
        negatives[key] = compile_terms(terms, digraphs)
    money = data.get("money") or {}
    try:
        words = MoneyWords(
            scales={fold(str(k)): float(v) for k, v in (money.get("scales") or {}).items()},
            currencies={fold(str(k)): str(v) for k, v in (money.get("currencies") or {}).items()},
            per_period=tuple(_strings(money, "per_period", path)),
            thousands=str(money["thousands"]) if money.get("thousands") else None,
            local=tuple(fold(w) for w in _strings(money, "local", path)),
        )
    except (TypeError, ValueError, AttributeError) as exc:
        raise LexiconError(f"{path.name}: money: {exc}") from exc
    stopwords = {fold(w) for w in _strings(data, "stopwords", path)}
    cue_words = frozenset(vocabulary)
    # common nouns that may open a headline but never name an organisation alone ("School …")
    vocabulary |= {fold(w) for w in _strings(data, "common_nouns", path)}
    return Lexicon(
        language=str(data["language"]),
        stopwords=frozenset(stopwords),
        cues=cues,
        actions=tuple(actions),
        negatives=negatives,
        court_heads=tuple(_strings(data, "court_heads", path)),
        target_patterns=tuple(_strings(data, "target_patterns", path)),
        org_connectors=tuple(_strings(data, "org_connectors", path)),
        org_nouns=tuple(_strings(data, "org_nouns", path)),
        institution_heads=tuple(_strings(data, "institution_heads", path)),
        state_party_before=tuple(_strings(data, "state_party_before", path)),
        state_party_after=tuple(_strings(data, "state_party_after", path)),
        money=words,
        screen=Screen(sections, digraphs),
        vocabulary=frozenset(vocabulary | stopwords),
        cue_words=cue_words,
        nouns_capitalised=bool(data.get("nouns_capitalised")),
        descriptive_nouns=frozenset(fold(w) for w in _strings(data, "descriptive_nouns", path)),
        home=_home(data, path),
        unasserted=_before(_strings(data, "negations", path) + _strings(data, "recalling", path)),
        # not an amount's floor: "fined no less than £3m"
        negated_after=_words(_strings(data, "negating_determiners", path),
                             r"\s+(?:{})(?!\w)(?!\s+(?:less|more|later|sooner|weniger|moins|meno|menos)\b)"),
        relative=_words(_strings(data, "relative_pronouns", path), r",\s*(?:{})(?:\s+\w+){0,3}\s+$"),
        past_opener=_words(_strings(data, "past_openers", path), r"(?:{})(?![\w'])(?!\s+(?:week|weeks|days|month)\b)"),
        coordination=_words(_strings(data, "conjunctions", path), r"\s+(?:{})\s+(?:\w+\s+)?"),
        action_patterns=dict(actions),
    )


def _home(data: Mapping[str, Any], path: Path) -> str | None:
    home = data.get("home")
    if home is not None and not isinstance(home, str):  # YAML reads a bare NO as False
        raise LexiconError(f"{path.name}: 'home' must be a country code in quotes, not {home!r}")
    return home or None


def _words(words: list[str], template: str) -> re.Pattern[str] | None:
    """``template`` with ``{}`` as the alternation of ``words`` (folded; spaces match any run)."""
    if not words:
        return None
    alternation = "|".join(re.escape(fold(w)).replace(r"\ ", r"\s+") for w in words)
    return re.compile(template.replace("{}", alternation, 1))


def _before(words: list[str]) -> re.Pattern[str] | None:
    """A negation or recall right before a cue, with at most one word between and no
    punctuation ("no fine", "not been fined", "has faced fines"; not "without consent, fined",
    not "not only fined"); an elided article may join the cue ("pas d'amende")."""
    return _words(words, r"(?<!\w)(?:{})(?:\s+(?!only\b|just\b|solo\b|seulement\b|nur\b)\w+)?\s+(?:\w{1,2}')?$")


def load_lexicons(rules_dir: Path) -> dict[str, Lexicon]:
    """Every ``*.yaml`` in ``rules_dir``, keyed by its ``language``."""
    lexicons = {}
    for path in sorted(rules_dir.glob("*.yaml")):
        lex = load_lexicon(path)
        lexicons[lex.language] = lex
    if "en" not in lexicons:
        raise LexiconError(f"{rules_dir}: an English lexicon (en.yaml) is required as fallback")
    return lexicons


# scripts that name their language when no stopword does (Japanese is written without spaces)
_SCRIPTS = (("ja", re.compile("[\u3040-\u30ff]")),  # hiragana, katakana
            ("ko", re.compile("[\u1100-\u11ff\uac00-\ud7af]")))  # hangul


class LanguageGuess:
    """Names an item's language from its folded words: the language whose stopwords occur most
    often; with none, a script only one language here writes (kana, hangul); else English (also
    on a tie). Built once per set of lexicons, so a guess costs one dictionary lookup per word
    rather than one per word and language."""

    def __init__(self, lexicons: Mapping[str, Lexicon]):
        self._languages = list(lexicons)
        index: dict[str, list[int]] = {}
        for n, lex in enumerate(lexicons.values()):
            for word in lex.stopwords:
                index.setdefault(word, []).append(n)
        self._languages_of = {word: tuple(languages) for word, languages in index.items()}

    def __call__(self, words: Iterable[str]) -> str:
        words = tuple(words)
        counts = [0] * len(self._languages)
        languages_of = self._languages_of.get
        for word in words:
            for n in languages_of(word, ()):
                counts[n] += 1
        best, best_count = "en", 0
        for lang, count in zip(self._languages, counts):
            if count > best_count or (count == best_count and lang == "en"):
                best, best_count = lang, count
        if best_count == 0:
            text = " ".join(words)
            return next((lang for lang, script in _SCRIPTS if lang in self._languages and script.search(text)), best)
        return best
