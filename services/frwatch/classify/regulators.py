"""Gazetteer of regulators, courts, places and well-known organisations (config/regulators.yaml).

Long names match accent- and case-insensitively on folded text; short all-capital acronyms
("ICO", "AP", "US") must appear in capitals so that "us" or "ap" in running text do not match.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from frwatch.classify.text import display, fold, term_regex

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


class _Matcher:
    """Finds any of many aliases, each mapped to one or more referents."""

    def __init__(self, aliases: Iterable[tuple[str, Any]]) -> None:
        folded: dict[str, list[Any]] = {}
        exact: dict[str, list[Any]] = {}
        for alias, ref in aliases:
            alias = display(alias)
            if _ACRONYM.match(alias):
                exact.setdefault(alias, []).append(ref)
            else:
                folded.setdefault(term_regex(alias), []).append(ref)
        self._folded_refs = list(folded.values())
        self._exact = exact
        self._folded = self._compile(list(folded), named=True)
        self._exact_re = self._compile([re.escape(a) for a in exact], named=False)

    @staticmethod
    def _compile(regexes: list[str], named: bool) -> re.Pattern[str] | None:
        if not regexes:
            return None
        if named:
            body = "|".join(f"(?P<a{i}>{r})" for i, r in enumerate(regexes))
        else:
            body = "|".join(sorted(regexes, key=len, reverse=True))
            body = rf"(?<![\w.])(?:{body})(?![\w])"
        return re.compile(body)

    def find(self, raw: str, folded: str) -> list[Hit]:
        hits = []
        if self._folded is not None:
            for m in self._folded.finditer(folded):
                refs = self._folded_refs[int(m.lastgroup[1:])]  # type: ignore[index]
                hits.append(Hit(m.start(), m.end(), m.group(0), tuple(refs)))
        if self._exact_re is not None:
            for m in self._exact_re.finditer(raw):
                hits.append(Hit(m.start(), m.end(), m.group(0), tuple(self._exact[m.group(0)])))
        hits.sort(key=lambda h: (h.start, -(h.end - h.start)))
        return _drop_overlaps(hits)


def _drop_overlaps(hits: list[Hit]) -> list[Hit]:
    kept: list[Hit] = []
    for hit in hits:
        if not kept or hit.start >= kept[-1].end:
            kept.append(hit)
    return kept


class Gazetteer:
    def __init__(self, data: Mapping[str, Any]) -> None:
        self.regulators = [Regulator(name=str(r["name"]), jurisdiction=str(r["jurisdiction"]),
                                     kind=str(r.get("kind", "dpa")), national=bool(r.get("national")),
                                     region=r.get("region")) for r in data.get("regulators", [])]
        raw_regs = data.get("regulators", [])
        self._regulators = _Matcher((a, reg) for reg, r in zip(self.regulators, raw_regs)
                                    for a in r.get("aliases", [reg.name]))
        places = data.get("places", {})
        self.place_names = {str(code): str(names[0]) for code, names in places.items()}
        self._places = _Matcher((n, str(code)) for code, names in places.items() for n in names)
        entities = data.get("entities", [])
        self._entities = _Matcher((a, Entity(str(e["name"]), bool(e.get("face_vendor"))))
                                  for e in entities for a in e.get("aliases", [e["name"]]))
        self._ag_template = str(data.get("attorney_general_name", "{state} AG"))
        self._national: dict[str, Regulator] = {}
        for reg in self.regulators:
            if reg.national:
                self._national.setdefault(reg.region or reg.jurisdiction, reg)

    @classmethod
    def load(cls, path: Path) -> Gazetteer:
        return cls(yaml.safe_load(path.read_text(encoding="utf-8")) or {})

    def regulators_in(self, raw: str, folded: str) -> list[Hit]:
        return self._regulators.find(raw, folded)

    def places_in(self, raw: str, folded: str) -> list[Hit]:
        return self._places.find(raw, folded)

    def entities_in(self, raw: str, folded: str) -> list[Hit]:
        return self._entities.find(raw, folded)

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

    def resolve(self, hit: Hit, place_codes: Iterable[str]) -> Regulator:
        """Pick among regulators sharing an alias using the places mentioned nearby."""
        regs: tuple[Regulator, ...] = hit.refs
        if len(regs) == 1:
            return regs[0]
        codes = list(place_codes)
        for code in codes:
            for reg in regs:
                if reg.region == code or reg.jurisdiction == self.jurisdiction_of(code):
                    return reg
        return regs[0]
