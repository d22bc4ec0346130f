"""Does an event change interest a subscription? Pure: event types and filters.

Filters (all optional, all must pass; an empty list means "any"):
``jurisdictions`` (``US`` also matches ``US-CA``), ``regulators`` (case-insensitive),
``action_types``, ``targets`` (case-insensitive substring of the target), ``languages``
(any report in one of them), ``min_score``. An event lacking a filtered field does not match.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Collection, Mapping, Sequence

DETECTED = "enforcement.detected"
UPDATED = "enforcement.updated"
PING = "subscription.ping"
EVENT_TYPES = (DETECTED, UPDATED)


@dataclass(frozen=True)
class MatchFacts:
    """What filters look at: the event's fields and the languages of its reports."""

    jurisdiction: str | None
    regulator: str | None
    action_type: str | None
    target: str | None
    score: float
    languages: Collection[str]


def _fold(values: Sequence[str]) -> set[str]:
    return {value.casefold() for value in values}


def _jurisdiction_ok(wanted: Sequence[str], jurisdiction: str | None) -> bool:
    if jurisdiction is None:
        return False
    code = jurisdiction.upper()
    return any(code == w.upper() or code.startswith(w.upper() + "-") for w in wanted)


def matches(event_types: Sequence[str], filters: Mapping[str, Any], event_type: str, facts: MatchFacts) -> bool:
    if event_types and event_type not in event_types:
        return False
    if filters.get("jurisdictions") and not _jurisdiction_ok(filters["jurisdictions"], facts.jurisdiction):
        return False
    if filters.get("regulators") and (facts.regulator or "").casefold() not in _fold(filters["regulators"]):
        return False
    if filters.get("action_types") and facts.action_type not in filters["action_types"]:
        return False
    if filters.get("targets"):
        target = (facts.target or "").casefold()
        if not target or not any(wanted in target for wanted in _fold(filters["targets"])):
            return False
    if filters.get("languages") and not _fold(list(facts.languages)) & _fold(filters["languages"]):
        return False
    min_score = filters.get("min_score")
    return min_score is None or facts.score >= min_score
