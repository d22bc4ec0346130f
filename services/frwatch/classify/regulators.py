"""Gazetteer of regulators, courts, places and well-known organisations (config/regulators.yaml).

Long names match accent- and case-insensitively on folded text; short all-capital acronyms
("ICO", "AP", "US") must appear in capitals so that "us" or "ap" in running text do not match.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain, compress
from pathlib import Path
from typing import Any

import yaml

from frwatch.classify.memo import WordMemo
from frwatch.classify.text import display, fold

_ACRONYM = re.compile(r"^[A-ZΑ-Ω.&\-]{2,6}$")


@dataclass(frozen=True)
class Regulator:
    name: str
    jurisdiction: str
    kind: str
    national: bool = False
    region: str | None = None


@dataclass(frozen=True)
class Entity:
    name: str
    face_vendor: bool


@dataclass(frozen=True)
class Hit:
    """One gazetteer match: where, the text matched, and what it may refer to."""

    start: int
    end: int
    text: str
    refs: tuple[Any, ...]


_WORD = re.compile(r"\w+")


class Words:
    """A text split into words once, shared by all gazetteer lookups; word offsets and the
    original-case words are computed only when some lookup needs them (most texts hit nothing)."""

    __slots__ = ("_raw_words", "_spans", "folded", "raw", "words")

    def __init__(self, raw: str, folded: str) -> None:
        self.raw = raw
        self.folded = folded
        self.words = _WORD.findall(folded)
        self._raw_words: list[str] | None = None
        self._spans: list[tuple[int, int]] | None = None

    @property
    def raw_words(self) -> list[str]:
        if self._raw_words is None:
            self._raw_words = _WORD.findall(self.raw)
        return self._raw_words

    @property
    def spans(self) -> list[tuple[int, int]]:
        if self._spans is None:
            self._spans = [m.span() for m in _WORD.finditer(self.folded)]
        return self._spans


class _Matcher:
    """Finds any of many aliases (each mapped to one or more referents) by word n-gram lookup,
    which stays fast with thousands of aliases. Punctuation between words is ignored, so
    "U.K." and "UK" or "face-scan" and "face scan" are the same key; a trailing ``*`` on an
    alias allows any ending of its last word."""

    def __init__(self, aliases: Iterable[tuple[str, Any]]) -> None:
        self._exact: dict[tuple[str, ...], list[tuple[tuple[str, ...] | None, Any]]] = {}
        # open-ended aliases by their first word ("" when the open word comes first), each
        # (head words, beginning of the last word) with every body that shares it
        prefix: dict[tuple[tuple[str, ...], str], list[Any]] = {}
        for alias, ref in aliases:
            alias = display(alias)
            words = tuple(_WORD.findall(fold(alias)))
            if not words:
                continue
            if alias.endswith("*"):
                prefix.setdefault((words[:-1], words[-1]), []).append(ref)
                continue
            case = tuple(_WORD.findall(alias)) if _ACRONYM.match(alias) else None
            self._exact.setdefault(words, []).append((case, ref))
        self._prefix: dict[str, list[tuple[tuple[str, ...], str, tuple[Any, ...]]]] = {}
        for (head, last), refs in prefix.items():
            self._prefix.setdefault(head[0] if head else "", []).append((head, last, tuple(refs)))
        self._starts = frozenset(k[0] for k in self._exact) | {h[0] for h, _ in prefix if h}
        self._word_prefixes = tuple(p for h, p in prefix if not h)
        self._is_start = WordMemo(self._starts_alias)
        # the lengths of the aliases beginning with each word, longest first
        lengths: dict[str, set[int]] = {}
        for key in self._exact:
            lengths.setdefault(key[0], set()).add(len(key))
        self._lengths = {word: sorted(ns, reverse=True) for word, ns in lengths.items()}

    def find(self, text: Words) -> list[Hit]:
        hits: list[Hit] = []
        words = text.words
        candidates = list(compress(range(len(words)), map(self._is_start.__getitem__, words)))
        if not candidates:
            return hits
        i = 0
        for c in candidates:
            if c < i:
                continue  # inside the previous hit
            i = c
            hit = self._at(i, text)
            if hit is None:
                i += 1
                continue
            hits.append(hit[0])
            i += hit[1]
        return hits

    def _starts_alias(self, word: str) -> bool:
        """Some alias may begin at this word (memoised per word in ``_is_start``)."""
        return word in self._starts or word.startswith(self._word_prefixes)

    def _at(self, i: int, text: Words) -> tuple[Hit, int] | None:
        words = text.words
        for n in self._lengths.get(words[i], ()):  # longest first
            if n > len(words) - i:
                continue
            entries = self._exact.get(tuple(words[i:i + n]))
            if not entries:
                continue
            refs = tuple(ref for case, ref in entries
                         if case is None or (len(text.raw_words) == len(words)
                                             and tuple(text.raw_words[i:i + n]) == case))
            if refs:
                return self._hit(text, i, n, refs), n
        for head, prefix, refs in chain(self._prefix.get(words[i], ()), self._prefix.get("", ())):
            n = len(head) + 1
            if (tuple(words[i:i + n - 1]) == head and i + n <= len(words)
                    and words[i + n - 1].startswith(prefix)):
                return self._hit(text, i, n, refs), n
        return None

    @staticmethod
    def _hit(text: Words, i: int, n: int, refs: tuple[Any, ...]) -> Hit:
        start, end = text.spans[i][0], text.spans[i + n - 1][1]
        return Hit(start, end, text.folded[start:end], refs)


class _UniqueKeyLoader(yaml.SafeLoader):
    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        keys = [self.construct_object(key, deep=deep) for key, _ in node.value
                if key.tag != "tag:yaml.org,2002:merge"]  # "<<: *anchor" may repeat
        duplicates = sorted({str(k) for k in keys if keys.count(k) > 1})
        if duplicates:
            raise ValueError(f"duplicate keys {duplicates} {node.start_mark}")
        return super().construct_mapping(node, deep=deep)


class Gazetteer:
    def __init__(self, data: Mapping[str, Any]) -> None:
        self.regulators = [Regulator(name=str(r["name"]), jurisdiction=str(r["jurisdiction"]),
                                     kind=str(r.get("kind", "dpa")), national=bool(r.get("national")),
                                     region=r.get("region")) for r in data.get("regulators", [])]
        raw_regs = data.get("regulators", [])
        self._regulators = _Matcher((a, reg) for reg, r in zip(self.regulators, raw_regs)
                                    for a in [*r.get("aliases", [reg.name]),
                                              *r.get("generic_aliases", []), *r.get("place_aliases", [])])
        # names several countries' bodies share ("Information Regulator", "PDPC", "SIC"): they
        # name this body only where the text names its country
        self._place_only = frozenset(" ".join(_WORD.findall(fold(a))) for r in raw_regs
                                     for a in r.get("place_aliases", []))
        # common nouns that name a body only by default ("Datenschutzbehörde", "Garante",
        # "Information Commissioner"): they lose to a body named outright or a country's
        # regulator ("the Dutch regulator") in the same text
        generic = [(tuple(_WORD.findall(fold(a))), a.endswith("*")) for r in raw_regs
                   for a in r.get("generic_aliases", [])]
        self._generic = frozenset(" ".join(words) for words, open_end in generic if not open_end)
        #: open-ended generic aliases: (words before the last, beginning of the last word)
        self._generic_prefixes = frozenset((words[:-1], words[-1]) for words, open_end in generic if open_end)
        places = data.get("places", {})
        self.place_names = {str(code): str(names[0]) for code, names in places.items()}
        self._places = _Matcher((n, str(code)) for code, names in places.items() for n in names)
        entities = data.get("entities", [])
        self._entities = _Matcher((a, Entity(str(e["name"]), bool(e.get("face_vendor"))))
                                  for e in entities for a in e.get("aliases", [e["name"]]))
        self.not_targets = frozenset(fold(w) for w in data.get("not_targets", []))
        self._entity_names = {" ".join(_WORD.findall(fold(a))): str(e["name"])
                              for e in entities for a in e.get("aliases", [e["name"]])
                              if not str(a).endswith("*")}
        self._ag_template = str(data.get("attorney_general_name", "{state} AG"))
        self._national: dict[str, Regulator] = {}
        for reg in self.regulators:
            if reg.national:
                self._national.setdefault(reg.region or reg.jurisdiction, reg)

    @classmethod
    def load(cls, path: Path) -> Gazetteer:
        """The gazetteer file; a key written twice is an error, since YAML would keep only the
        last one and silently drop a place list or a body's aliases."""
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader) or {}
        seen: set[tuple[str, str]] = set()
        for body in data.get("regulators", []):
            key = (str(body["name"]), str(body["jurisdiction"]))
            if key in seen:
                raise ValueError(f"{path.name}: regulator {key[0]} ({key[1]}) is listed twice")
            seen.add(key)
        return cls(data)

    def bodies(self, words: Words) -> tuple[list[Hit], list[Hit]]:
        """Regulators and places mentioned in a text."""
        return self._regulators.find(words), self._places.find(words)

    def organisations(self, words: Words) -> list[Hit]:
        """Known organisations (face-recognition vendors among them) mentioned in a text."""
        return self._entities.find(words)

    def needs_place(self, hit: Hit) -> bool:
        """The hit is a name that means its body only where the text names its place."""
        return bool(self._place_only) and " ".join(_WORD.findall(hit.text)) in self._place_only

    def placed(self, hits: Sequence[Hit], place_codes: Iterable[str]) -> list[Hit]:
        """The hits that name a body here: all but names that need a place these codes do not give."""
        codes = list(place_codes)
        return [h for h in hits if not self.needs_place(h) or self.anchored(h, codes)]

    def is_generic(self, hit: Hit) -> bool:
        """The hit is a generic noun ("data protection authority") rather than a name."""
        words = tuple(_WORD.findall(hit.text))
        return " ".join(words) in self._generic or bool(words) and any(
            words[:-1] == head and words[-1].startswith(last) for head, last in self._generic_prefixes)

    def anchored(self, hit: Hit, place_codes: Iterable[str]) -> bool:
        """One of the bodies a hit may mean is in a place the text names."""
        codes = {self.jurisdiction_of(c) for c in place_codes} | set(place_codes)
        return any(reg.jurisdiction in codes or reg.region in codes for reg in hit.refs)

    def canonical_entity(self, name: str) -> str:
        """A known organisation's canonical name for any of its aliases ("polisen")."""
        return self._entity_names.get(" ".join(_WORD.findall(fold(name))), name)

    def national(self, code: str) -> Regulator | None:
        """The body a generic reference ("the Greek regulator") means for a place code."""
        return self._national.get(code) or self._national.get(code.split("-")[0])

    def attorney_general(self, state_code: str) -> Regulator:
        name = self._ag_template.format(state=self.place_names[state_code])
        return Regulator(name=name, jurisdiction=state_code, kind="attorney_general")

    @staticmethod
    def jurisdiction_of(code: str) -> str:
        """US states are jurisdictions of their own (US-TX); other subdivisions roll up (CA-BC → CA)."""
        return code if code.startswith("US-") or "-" not in code else code.split("-")[0]

    def resolve(self, hit: Hit, place_codes: Iterable[str]) -> Regulator | None:
        """Pick among regulators sharing an alias using the places mentioned nearby: a region's
        body, else the country's; None when only a region could tell them apart
        ("Landesdatenschutzbeauftragte" with no German state or city)."""
        regs: tuple[Regulator, ...] = hit.refs
        if len(regs) == 1:
            return regs[0]
        codes = list(place_codes)
        for code in codes:  # a region's own body before its country's ("in Düsseldorf")
            for reg in regs:
                if reg.region == code:
                    return reg
        for code in [*codes, None]:
            matching = [reg for reg in regs if code is None or reg.jurisdiction == self.jurisdiction_of(code)]
            if matching:
                return matching[0] if len({reg.region for reg in matching}) == 1 else None
        return None
