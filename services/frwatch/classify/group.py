"""Group reports of the same real-world action into events.

Two reports are the same action when they concern the same party (overlapping organisation
names, or the same regulator with the same amount when names are written in different
languages), come from compatible regulators, fall within GROUP_WINDOW of each other, state
compatible amounts and compatible kinds of action. A later appeal ruling or a second fine
against the same party is a new event *related* to the first.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

from frwatch.classify.lexicon import MONETARY
from frwatch.classify.text import fold

if TYPE_CHECKING:
    from frwatch.classify.classifier import ItemText, Verdict

GROUP_WINDOW = timedelta(days=21)
AMOUNT_TOLERANCE = 0.15
SAME_DAYS = timedelta(days=2)

#: Words that do not identify an organisation: legal forms, articles, generic nouns (all languages).
_GENERIC = frozenset("""
the of and a an la le les l d de du des di del della dei degli el los las lo il gli i der die das den dem
van het en y e o da do dos das et und och και
inc incorporated ltd limited llc plc corp corporation co company companies group holdings holding
sa sas sarl srl spa ag gmbh kg se bv nv ab asa oy pty pte lp llp ae ike epe
ai technologies technology systems
city town municipality council comune commune ville gemeente stadt kommun ayuntamiento prefeitura
university universita universite universitat universidad universidade
stores store operating associate associates dealers department
""".split())
#: Words that name no one alone ("the State", "the Government") but tell bodies apart beside a
#: name: "Scottish Government" is not "Scottish Police Authority".
_VAGUE = frozenset({"state", "government"})

_LESSER = frozenset({"warning", "reprimand"})

Relation = Literal["same", "related", "new"]


@dataclass(frozen=True)
class EventFacts:
    regulator: str | None
    jurisdiction: str | None
    target: str | None
    action_type: str | None
    amount: float | None
    currency: str | None
    occurred_at: datetime | None
    amount_eur: float | None = None

    @classmethod
    def from_verdict(cls, verdict: Verdict, occurred_at: datetime | None) -> EventFacts:
        return cls(verdict.regulator, verdict.jurisdiction, verdict.target, verdict.action_type,
                   verdict.amount, verdict.currency, occurred_at, verdict.amount_eur)


def target_tokens(target: str | None) -> frozenset[str]:
    if not target:
        return frozenset()
    return frozenset(w for w in re.findall(r"\w+", fold(target)) if w not in _GENERIC)


def identifies(target: str | None) -> bool:
    """The name has a word that tells one organisation from others ("the Department", "the
    State" and "Inc" have none)."""
    return bool(target_tokens(target) - _VAGUE)


def target_key(target: str | None) -> str | None:
    """The first identifying word of an organisation name ("Clearview AI Inc." → "clearview").

    Deliberately coarse: it finds candidate events; :func:`match_event` decides.
    """
    if not target:
        return None
    words = [w for w in re.findall(r"\w+", fold(target)) if w not in _GENERIC]
    return words[0] if words else None


def same_party(a: str | None, b: str | None) -> bool:
    """Names of the same organisation: one's identifying words contain the other's."""
    ta, tb = target_tokens(a), target_tokens(b)
    return bool(ta and tb) and (ta <= tb or tb <= ta)


def _amounts_agree(a: EventFacts, b: EventFacts) -> bool | None:
    """True/False when both state an amount comparably, None when that cannot be told."""
    if a.amount is not None and b.amount is not None and a.currency and a.currency == b.currency:
        x, y = a.amount, b.amount
    elif a.amount_eur is not None and b.amount_eur is not None:
        x, y = a.amount_eur, b.amount_eur
    else:
        return None
    return abs(x - y) <= AMOUNT_TOLERANCE * max(x, y)


def _actions_compatible(a: str | None, b: str | None, amounts: bool | None) -> bool:
    """Reports of one action may name it differently (a fine "and an order to delete"), but an
    appeal judgment or a later penalty payment is a different action. Of the same amount, a
    penalty payment and another kind are one action told two ways: a payment's amount is not
    its fine's ("hits Clearview with extra €5.2M for ignoring the deletion order")."""
    if a is None or b is None or a == b:
        return True
    return "judgment" not in {a, b} and (bool(amounts) or "penalty_payment" not in {a, b})


def _lesser_and_monetary(a: EventFacts, b: EventFacts) -> bool:
    kinds = {a.action_type, b.action_type}
    return bool(kinds & _LESSER) and bool(kinds & MONETARY)


def _relation(facts: EventFacts, other: EventFacts) -> tuple[Relation, float]:
    amounts = _amounts_agree(facts, other)
    same_regulator = bool(facts.regulator and facts.regulator == other.regulator)
    gap = (abs(facts.occurred_at - other.occurred_at)
           if facts.occurred_at and other.occurred_at else None)
    unnamed = not identifies(facts.target) or not identifies(other.target)  # "the Department"
    party = (same_party(facts.target, other.target)
             # a report that names nobody joins the same body's action, but not a warning or
             # reprimand to a fine: a body gives those instead of fining ("AP warns supermarket")
             or (same_regulator and (amounts is True or (unnamed and not _lesser_and_monetary(facts, other))))
             # a report that names nobody joins a same-kind action reported the same days
             or (unnamed and facts.action_type == other.action_type and gap is not None
                 and gap <= SAME_DAYS))
    if not party:
        return "new", 0.0
    regulator_ok = (facts.regulator is None or other.regulator is None or same_regulator
                    or (facts.jurisdiction is not None and facts.jurisdiction == other.jurisdiction))
    jurisdiction_ok = (facts.jurisdiction is None or other.jurisdiction is None
                       or facts.jurisdiction.split("-")[0] == other.jurisdiction.split("-")[0])
    if (regulator_ok and jurisdiction_ok and (gap is None or gap <= GROUP_WINDOW)
            and amounts is not False and _actions_compatible(facts.action_type, other.action_type, amounts)):
        closeness = (2.0 if amounts else 0.0) + (1.0 if facts.action_type == other.action_type else 0.0)
        closeness += 1.0 if gap is None else 1.0 - gap / GROUP_WINDOW
        return "same", closeness
    return "related", 0.0


def match_event(facts: EventFacts,
                candidates: Sequence[tuple[str, EventFacts]]) -> tuple[Relation, str | None]:
    """("same", id) for the closest matching event, else ("related", id) for the latest event
    about the same party, else ("new", None)."""
    best: tuple[float, str] | None = None
    related: tuple[float, str] | None = None
    for event_id, other in candidates:
        relation, closeness = _relation(facts, other)
        if relation == "same" and (best is None or closeness > best[0]):
            best = (closeness, event_id)
        elif relation == "related":
            when = other.occurred_at.timestamp() if other.occurred_at else float("-inf")
            if related is None or when >= related[0]:
                related = (when, event_id)
    if best:
        return "same", best[1]
    if related:
        return "related", related[1]
    return "new", None


def new_event_id(seed: str) -> str:
    return "evt_" + hashlib.sha1(seed.encode("utf-8")).hexdigest()[:12]


def group_batch(pairs: Sequence[tuple[ItemText, Verdict]]) -> list[str | None]:
    """Event ids for the enforcement items of one batch (None for the others).

    Dated items are grouped first, in date order, so undated reports join the event they match
    best; ids derive from the id of each event's first report, so they are deterministic.
    """
    order = sorted((i for i, (_, v) in enumerate(pairs) if v.is_enforcement),
                   key=lambda i: (pairs[i][0].published is None,
                                  pairs[i][0].published or datetime.min, i))
    ids: list[str | None] = [None] * len(pairs)
    members: list[tuple[str, EventFacts]] = []
    for i in order:
        item, verdict = pairs[i]
        facts = EventFacts.from_verdict(verdict, item.published)
        relation, event_id = match_event(facts, members)
        if relation != "same" or event_id is None:
            event_id = new_event_id(item.id)
        ids[i] = event_id
        members.append((event_id, facts))
    return ids
