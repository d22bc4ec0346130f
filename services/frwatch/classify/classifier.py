"""Decide whether a feed item reports a facial-recognition enforcement action, and extract it.

The decision is a transparent additive score over cues from the item's language lexicon:
face evidence, an action cue (title weighs more than summary), an actor (named regulator,
court, attorney general, or a settlement), minus hedging/process/legislation cues. Hard caps
keep items with no face evidence, no action or no actor below the threshold.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from itertools import chain
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from frwatch.classify.extract import (
    Segment,
    TargetFinder,
    choose_amount,
    court_name,
    find_target,
    generic_regulator,
    place_codes,
    state_party,
)
from frwatch.classify.lexicon import ACTION_RULES, MONETARY, LanguageGuess, Lexicon, load_lexicons
from frwatch.classify.money import Money, MoneyParser, Rates
from frwatch.classify.regulators import Gazetteer, Hit, Regulator, Words
from frwatch.classify.text import display, fold, fold_display

THRESHOLD = 0.5
_RULES = {rule: (action, strong) for rule, action, strong in ACTION_RULES}
_FINDINGS = {"determination"}
_SENTENCE_END = re.compile(r"[.;!?]\s")  # rough: "U.S. regulator" ends one too
LANGUAGE_ALIASES = {"nb": "no", "nn": "no"}  # Norwegian's written forms share one lexicon


@dataclass(frozen=True)
class ItemText:
    id: str
    title: str
    summary: str
    link: str | None = None
    published: datetime | None = None
    language: str | None = None
    source_name: str | None = None
    source_jurisdiction: str | None = None
    source_regulator: str | None = None


@dataclass(frozen=True)
class Verdict:
    is_enforcement: bool
    score: float
    action_type: str | None = None
    regulator: str | None = None
    jurisdiction: str | None = None
    target: str | None = None
    amount: float | None = None
    currency: str | None = None
    amount_eur: float | None = None
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class _Action:
    rule: str
    action_type: str
    strong: bool
    segment: int
    term: str
    start: int


class Classifier:
    def __init__(self, lexicons: dict[str, Lexicon], gazetteer: Gazetteer, money: MoneyParser,
                 rates: Rates) -> None:
        self._lexicons = lexicons
        self._guess_language = LanguageGuess(lexicons)
        self._targets = {lang: TargetFinder(lex, gazetteer.not_targets) for lang, lex in lexicons.items()}
        self._gazetteer = gazetteer
        self._money = money
        self._rates = rates
        self._sources: dict[str, Segment] = {}  # feed names recur: scan each once

    @classmethod
    def load(cls, rules_dir: Path | None = None) -> Classifier:
        """Rules from ``rules_dir`` (default: the repo's config/rules) and, next to it,
        regulators.yaml and rates.yaml."""
        rules_dir = rules_dir or Path(__file__).resolve().parents[3] / "config" / "rules"
        lexicons = load_lexicons(rules_dir)
        rates, symbols = Rates.load(rules_dir.parent / "rates.yaml")
        scales: dict[str, float] = {}
        words: dict[str, str] = {}
        per_period: list[str] = []
        for lex in lexicons.values():
            scales.update(lex.money.scales)
            words.update(lex.money.currencies)
            words.update(dict.fromkeys(lex.money.local, ""))  # no code: the jurisdiction's
            per_period.extend(lex.money.per_period)
        function_words = {w for lex in lexicons.values() for w in lex.stopwords}
        money = MoneyParser(symbols, scales, words, per_period, function_words)
        return cls(lexicons, Gazetteer.load(rules_dir.parent / "regulators.yaml"), money, rates)

    def _segment(self, name: str, text: str) -> Segment:
        return self._named_bodies(self._sketch(name, text))

    def _sketch(self, name: str, text: str) -> tuple[Segment, Words]:
        """A segment with the organisations it names but not yet its regulators and places:
        enough to rule out an item without face evidence, which most items are."""
        raw = display(text)
        words = Words(raw, fold_display(raw))
        segment = Segment(name, words.raw, words.folded, (), (), tuple(self._gazetteer.organisations(words)),
                          words.words)
        return segment, words

    def _named_bodies(self, sketch: tuple[Segment, Words]) -> Segment:
        """The sketched segment with the regulators and places it names."""
        segment, words = sketch
        regulators, places = self._gazetteer.bodies(words)
        return replace(segment, regulators=tuple(regulators), places=tuple(places))

    def classify(self, item: ItemText) -> Verdict:
        sketches = (self._sketch("title", item.title), self._sketch("summary", item.summary or ""))
        segments = (sketches[0][0], sketches[1][0])
        given = LANGUAGE_ALIASES.get(item.language or "", item.language)
        lang = given if given in self._lexicons else self._guess_language(
            chain(segments[0].words, segments[1].words))
        lex = self._lexicons[lang]
        reasons: list[str] = [f"language:{lang}"]
        possible = [lex.screen.possible(s.folded, s.words) for s in segments]

        def cue(key: str) -> list[tuple[int, str]]:
            pattern, bit = lex.cues[key], lex.screen.bits["cue", key]
            if pattern is None:
                return []
            return [(i, m.group(0)) for i, s in enumerate(segments) if possible[i] & bit
                    for m in [pattern.search(s.folded)] if m]

        face = cue("face")
        face_weak, other_bio = (([], []) if face else (cue("face_weak"), cue("other_biometric")))
        vendors = [] if face else [h.text for s in segments for h in s.entities if h.refs[0].face_vendor]
        score = 0.05
        if face:
            score += 0.35
            reasons.append(f"face:'{face[0][1]}'")
        elif (face_weak and not other_bio) or vendors:
            score += 0.2
            reasons.append(f"face(weak):'{face_weak[0][1] if face_weak else vendors[0]}'")
        else:  # capped below the threshold whatever else is said: stop here
            reasons.append("no face evidence" + (f" (other biometric:'{other_bio[0][1]}')" if other_bio else ""))
            return Verdict(False, round(min(score, 0.3), 3), reasons=reasons)
        segments = (self._named_bodies(sketches[0]), self._named_bodies(sketches[1]))

        action = self._action(lex, segments, possible)
        if action:
            score += (0.3 if action.segment == 0 else 0.2) if action.strong else 0.15
            reasons.append(f"action:{action.action_type}:'{action.term}'({segments[action.segment].name})")
        else:
            reasons.append("no action cue")

        places = place_codes(segments, lex.cues["company_words"])
        # a body's name that needs a place still tells that some body acted ("AP fines …")
        named_hits = [h.text for s in segments for h in s.regulators]
        named = bool(named_hits)
        picks = [*places, lex.home] if lex.home else places  # what tells same-named bodies apart
        segments = self._placed(segments, picks)
        court, authority, ag = cue("court"), cue("authority"), cue("attorney_general")
        source = self._source_regulator(item)
        actor = (named or source is not None or bool(court or authority or ag)
                 or (action is not None and (action.rule in ("settlement", "judgment")
                                             or self._place_acts(segments[action.segment], action)
                                             or self._fined_an_amount(lex, segments[0], action))))
        if actor:
            score += 0.15 + (0.1 if named else 0.0)
            cue_terms = [t for _, t in (*court, *authority, *ag)]
            reasons.append("actor:'" + (named_hits[0] if named_hits else source.name if source else
                                        cue_terms[0] if cue_terms else action.rule) + "'")

        if action is None:
            score = min(score, 0.35)
        if not actor:
            score = min(score, 0.4)
        if score < THRESHOLD:  # negative cues can only lower it further
            return Verdict(False, round(max(0.0, score), 3), reasons=reasons)
        for kind, pattern in lex.negatives.items():
            if pattern is None:
                continue
            bit = lex.screen.bits["negative", kind]
            for i, seg in enumerate(segments):
                if not possible[i] & bit:
                    continue
                # the first match that counts: one inside the action cue may hide a later one
                m = pattern.search(seg.folded)
                while m and not (weight := self._negative_weight(kind, m, i, action)):
                    m = pattern.search(seg.folded, max(m.end(), m.start() + 1))
                if m:
                    score -= weight
                    reasons.append(f"{kind}:'{m.group(0)}'({seg.name})")
        score = round(max(0.0, min(1.0, score)), 3)
        if score < THRESHOLD:
            return Verdict(False, score, reasons=reasons)

        action_type = action.action_type if action else None
        # a court acts: one named where the action is, or the only body the item names (not a
        # court the user may go to: "Hamburg data protection chief orders … will challenge in court")
        if action_type and action_type not in MONETARY and (
                (court and any(i == action.segment for i, _ in court)) or (court and not named and not authority)):
            action_type = "judgment"
        regulator = self._regulator(lex, segments, places, picks, action, item, action_type)
        reg_name = regulator.name if isinstance(regulator, Regulator) else regulator
        jurisdiction = self._jurisdiction(regulator, places, item)
        bodies = {fold(h.text) for s in segments for h in s.regulators}
        place_names = {h.text for s in segments for h in s.places
                       if "-" not in h.refs[0] or h.refs[0].startswith("US-")}
        if reg_name:
            bodies.add(fold(reg_name))
        target = find_target(self._targets[lang], segments, bodies, place_names)
        if target:
            target = self._gazetteer.canonical_entity(target)
        found = [self._money.find_all(s.raw, lex.money.thousands, s.folded) for s in segments]
        money = choose_amount(self._after_cue(lex, segments, found) if action_type == "penalty_payment" else found)
        if (action_type == "judgment" and action is not None and not court and isinstance(regulator, Regulator)
                and regulator.kind == "dpa" and _pays(segments[action.segment].folded, action, found[action.segment])):
            action_type = "fine"  # a regulator "condemns" a company to pay: its fine, no court's judgment
        amount = money.amount if money else None
        currency = money.currency if money else None
        if money and currency is None and (jurisdiction or lex.home):
            currency = self._local_currency(jurisdiction or lex.home, item.published)
        elif (currency == "USD" and jurisdiction in _PESO and lex.language == "es"
              and not any(_US_DOLLAR.search(s.folded) for s in segments)):
            currency = self._local_currency(jurisdiction, item.published)  # "$ 80.000.000" in Argentina
        amount_eur = self._rates.to_eur(amount, currency,
                                        item.published.date() if item.published else None)
        return Verdict(True, score, action_type, reg_name, jurisdiction, target, amount, currency,
                       amount_eur, reasons)

    def _placed(self, segments: tuple[Segment, ...], places: list[str]) -> tuple[Segment, ...]:
        """The segments without the body names that need a place the item (or its language's
        home) does not name ("SIC" in a Portuguese TV credit, "Thailand's PDPC", "AP News")."""
        g = self._gazetteer
        if not any(g.needs_place(h) for s in segments for h in s.regulators):
            return segments
        return tuple(replace(s, regulators=tuple(g.placed(s.regulators, places))) for s in segments)

    @staticmethod
    def _negative_weight(kind: str, m: re.Match[str], segment: int, action: _Action | None) -> float:
        """How much a negative cue lowers the score: much in the headline or when it opens the
        action cue itself ("niet in strijd met" around "in strijd met"), little in the summary;
        nothing for a negative word that ends the cue ("pone fin a la demanda", "ordonne … de
        renoncer"; a negative in the gap of "court … rul*" counts) or for the law a breach
        names ("a enfreint la loi", "in strijd met de wet"; not the "ban bill" a body backs)."""
        if action is not None and segment == action.segment:
            cue_end = action.start + len(action.term)
            if m.start() < action.start < m.end():
                return 0.6
            if action.start + action.term.rfind(" ") + 1 <= m.start() and m.end() <= cue_end:
                return 0.0
            if kind == "legislation" and action.action_type in _FINDINGS and 0 <= m.start() - cue_end <= 8:
                return 0.0
        return 0.6 if segment == 0 else 0.2

    @staticmethod
    def _after_cue(lex: Lexicon, segments: tuple[Segment, ...], found: list[list[Money]]) -> list[list[Money]]:
        """The amounts in a sentence that states a penalty payment and no fine ("liquidation de
        l'astreinte pour un montant de 5 200 000 euros"), when there are any: such an item
        usually recalls the fine the payment enforces, whose amount is not the action's. A fine
        cue inside the payment's own cue ("multa coercitiva") is no fine."""
        payment, fine = lex.action_patterns.get("penalty_payment"), lex.action_patterns.get("fine")
        if payment is None:
            return found
        near: list[list[Money]] = []
        for seg, amounts in zip(segments, found):
            cues = list(payment.finditer(seg.folded))

            def inside_a_cue(f: re.Match[str]) -> bool:
                return any(f.start() < c.end() and c.start() < f.end() for c in cues)

            spans = []
            for cue in cues:
                a, b = _sentence(seg.folded, cue.start())
                if all(inside_a_cue(f) for f in (fine.finditer(seg.folded, a, b) if fine else ())):
                    spans.append((a, b))  # the sentence states no fine of its own
            near.append([m for m in amounts if not m.per_period and any(a <= m.start < b for a, b in spans)])
        return near if any(near) else found

    @staticmethod
    def _unasserted(lex: Lexicon, folded: str, cue: re.Match[str], segment: int) -> bool:
        """The action cue is negated (before: "no fine"; after: "verhängt keine Strafe") or
        recalled ("has faced fines"); or, in the summary, describes someone's past in a relative
        clause or stands in a sentence that opens by dating it before the news."""
        at = cue.start()
        if lex.unasserted is not None and lex.unasserted.search(folded, max(0, at - 60), at):
            return True
        if lex.negated_after is not None and lex.negated_after.match(folded, cue.end()):
            return True
        if not segment:
            return False
        if lex.relative is not None and lex.relative.search(folded, max(0, at - 60), at):
            return True
        return lex.past_opener is not None and lex.past_opener.match(folded, _sentence(folded, at)[0]) is not None

    @staticmethod
    def _fine_beside(lex: Lexicon, folded: str, payment: re.Match[str], segment: int) -> _Action | None:
        """A fine coordinated with a penalty payment's cue ("Boete en last onder dwangsom", "a
        fine and periodic penalty payments"): the fine is the action, the payment enforces it.
        Not a fine recalled elsewhere ("nach Bußgeld und Anordnung nun Zwangsgeld")."""
        pattern, joined = lex.action_patterns.get("fine"), lex.coordination
        if pattern is None or joined is None:
            return None
        for m in pattern.finditer(folded):
            gap = (folded[m.end():payment.start()] if m.end() <= payment.start()
                   else folded[payment.end():m.start()] if m.start() >= payment.end() else "")
            if joined.fullmatch(gap):
                return _Action("fine", "fine", True, segment, m.group(0), m.start())
        return None

    def _fined_an_amount(self, lex: Lexicon, title: Segment, action: _Action) -> bool:
        """A headline telling an organisation fined an amount implies who imposed it ("School
        board fined SEK 200,000 for facial recognition roll-call"): the amount right after the
        cue, no person fined ("Man fined £90 …"), no clause recalling it ("X, fined €20m in
        Italy, raises …")."""
        if action.segment or action.action_type != "fine" or title.folded[:action.start].rstrip().endswith(","):
            return False
        before = title.folded[:action.start].split()
        if before and before[-1] in _PERSONS:
            return False
        end = action.start + len(action.term)
        return any(0 <= m.start - end <= 3
                   for m in self._money.find_all(title.raw, lex.money.thousands, title.folded))

    @staticmethod
    def _place_acts(seg: Segment, action: _Action) -> bool:
        """A country or state as the subject of the action: "France fines …", "Texas bans …"."""
        return any(0 <= action.start - hit.end <= 2 for hit in seg.places)

    @staticmethod
    def _action(lex: Lexicon, segments: tuple[Segment, ...], possible: list[int]) -> _Action | None:
        """The headline's strongest cue, else the summary's; a bare finding in the headline
        ("used X unlawfully") yields to a monetary action stated in the summary. ``possible``:
        each segment's mask from the lexicon's screen."""
        weak: _Action | None = None
        strongest: list[_Action] = []
        bits = lex.screen.bits
        for i, seg in enumerate(segments):
            for rule, pattern in lex.actions:
                m = pattern.search(seg.folded) if possible[i] & bits["action", rule] else None
                while m and Classifier._unasserted(lex, seg.folded, m, i):
                    m = pattern.search(seg.folded, max(m.end(), m.start() + 1))
                if not m:
                    continue
                action_type, strong = _RULES[rule]
                found = _Action(rule, action_type, strong, i, m.group(0), m.start())
                if rule == "penalty_payment" and (fine := Classifier._fine_beside(lex, seg.folded, m, i)):
                    found = fine  # a fine with a penalty payment to enforce it ("Boete en last onder dwangsom")
                if strong:
                    strongest.append(found)
                    break
                weak = weak or found
            if strongest and strongest[0].action_type not in _FINDINGS:
                return strongest[0]
        if len(strongest) == 2 and strongest[1].action_type in MONETARY:
            return strongest[1]
        return strongest[0] if strongest else weak

    def _regulator(self, lex: Lexicon, segments: tuple[Segment, ...], places: list[str], picks: list[str],
                   action: _Action | None, item: ItemText,
                   action_type: str | None = None) -> Regulator | str | None:
        """Who acted, from the text before the feed: a body named outright (title, then summary;
        a country's regulator such as "the Dutch regulator" counts as named), a state AG, a
        country acting in the headline ("Italy fines …"), a generic noun that defaults to one
        body ("Datenschutzbehörde"), a court for judgments, and only then the feed's own body.
        ``picks``: ``places`` and the language's home, which tell same-named bodies apart."""
        g = self._gazetteer
        authority = lex.cues["authority"]
        title, summary = segments
        # a generic noun counts as a name when a place in the text picks its body
        # ("Information Commissioner" in an item about Australians)
        named = [[h for h in seg.regulators if not g.is_generic(h)]
                 + [h for h in seg.regulators if g.is_generic(h) and g.anchored(h, places)]
                 for seg in segments]
        if named[0] and (reg := self._resolve(title, named[0][0], picks)):
            return reg
        if reg := generic_regulator(title, authority, g):
            return reg
        ag = lex.cues["attorney_general"]
        states = [c for c in places if c.startswith("US-")]
        if states and ag and any(ag.search(s.folded) for s in segments):
            return g.attorney_general(states[0])
        if state := state_party(segments, lex, g):
            return g.attorney_general(state)
        if named[1] and (reg := self._resolve(summary, named[1][0], picks)):
            return reg
        if reg := generic_regulator(summary, authority, g):
            return reg
        if action is not None and action.segment == 0 and action.rule != "settlement":
            for hit in title.places:  # the place right before the action acts: "Italy fines …"
                if 0 <= action.start - hit.end <= 2:
                    code = next((c for c in hit.refs if not c.startswith("US-")), None)
                    if code and (reg := g.national(code)):
                        return reg
        for seg in segments:
            if seg.regulators and (reg := self._resolve(seg, seg.regulators[0], picks)):
                return reg
        if action_type == "judgment":  # a court acted: its name, or none (not a regulator's by default)
            return court_name(title, lex) or court_name(summary, lex)
        if source := self._source_regulator(item, picks):
            return source
        if action is not None and action.rule == "settlement":
            return None
        if authority and any(authority.search(s.folded) for s in segments) and picks:
            return g.national(picks[0])
        return None

    def _resolve(self, seg: Segment, hit: Hit, places: Sequence[str]) -> Regulator | None:
        """The body a name means; with another country's or a region's adjective right beside
        it (a space or hyphen apart), that country's or region's body ("il Garante privacy
        spagnolo" → AEPD, "η ολλανδική Αρχή Προστασίας Δεδομένων" → AP, "Protección de Datos
        catalana" → APDCAT; not "the UK ICO, Italian Garante" for the ICO)."""
        g = self._gazetteer
        reg = g.resolve(hit, places)
        if reg is None:
            return None
        for place in seg.places:
            gap = (seg.folded[hit.end:place.start] if place.start >= hit.end
                   else seg.folded[place.end:hit.start] if hit.start >= place.end else "x")
            if len(gap) > 2 or gap.strip(" -"):
                continue
            for code in place.refs:
                other = g.national(code)
                if other is not None and other != reg and (
                        g.jurisdiction_of(code) != reg.jurisdiction or other.region == code):
                    return other
        return reg

    def _source_regulator(self, item: ItemText, places: Sequence[str] = ()) -> Regulator | None:
        """The body publishing the feed, from the feed config or a recognisable source name (the
        config's jurisdiction places a name such as "AP"; "AP News" names no Dutch body)."""
        g = self._gazetteer
        if item.source_jurisdiction:
            places = [*places, item.source_jurisdiction]
        for text in (item.source_regulator, item.source_name):
            if not text:
                continue
            source = self._sources.get(text)
            if source is None:
                if len(self._sources) > 4096:
                    self._sources.clear()
                source = self._sources[text] = self._segment("source", text)
            if hits := g.placed(source.regulators, places):  # not "AP News" for the Dutch AP
                return g.resolve(hits[0], places)
            ag = self._lexicons["en"].cues["attorney_general"]
            states = [c for h in source.places for c in h.refs if c.startswith("US-")]
            if ag and ag.search(source.folded) and states:
                return g.attorney_general(states[0])
        return None

    def _jurisdiction(self, regulator: Regulator | str | None, places: list[str],
                      item: ItemText) -> str | None:
        if isinstance(regulator, Regulator):
            return regulator.jurisdiction
        if item.source_jurisdiction:
            return item.source_jurisdiction
        states = [c for c in places if c.startswith("US-")]
        if states:
            return states[0]
        return self._gazetteer.jurisdiction_of(places[0]) if places else None

    def _local_currency(self, jurisdiction: str, published: datetime | None = None) -> str | None:
        """The currency of an amount written without one ("5 milioni di sanzione")."""
        country = jurisdiction.split("-")[0]
        if country in _CHANGED and published is not None and published.replace(tzinfo=None) < _CHANGED[country][0]:
            return _CHANGED[country][1]
        return _LOCAL_CURRENCY.get(country)


_APPEAL = re.compile(r"\b(?:appel|appeal|apelacion|appello|berufung|beroep|recurso)\b")


def _pays(folded: str, action: _Action, amounts: Sequence[Money]) -> bool:
    """An amount follows the cue in its sentence ("condamne Clearview AI à 7,5 millions"), and
    the sentence tells of no appeal."""
    a, b = _sentence(folded, action.start)
    end = action.start + len(action.term)
    return not _APPEAL.search(folded, a, b) and any(end <= m.start < min(b, end + 80) for m in amounts)


def _sentence(text: str, at: int) -> tuple[int, int]:
    """The span of the sentence of ``text`` around position ``at``."""
    start = max((m.end() for m in _SENTENCE_END.finditer(text, 0, at)), default=0)
    end = _SENTENCE_END.search(text, at)
    return start, end.end() if end else len(text)


_LOCAL_CURRENCY = {**dict.fromkeys(["FR", "IT", "DE", "NL", "ES", "GR", "PT", "IE", "AT", "BE",
                                    "FI", "LU", "EU"], "EUR"),
                   "GB": "GBP", "SE": "SEK", "US": "USD", "AU": "AUD", "CA": "CAD", "BR": "BRL",
                   "KR": "KRW", "CN": "CNY", "JP": "JPY", "CH": "CHF", "DK": "DKK", "NO": "NOK",
                   "PL": "PLN", "NZ": "NZD", "PE": "PEN", "TR": "TRY", "CY": "EUR", "LT": "EUR", "SI": "EUR",
                   "HR": "EUR", "KE": "KES", "AR": "ARS", "CO": "COP", "CL": "CLP", "MX": "MXN", "SG": "SGD",
                   "ZA": "ZAR", "RO": "RON", "HU": "HUF", "CZ": "CZK", "IN": "INR"}
_PESO = {"AR", "CO", "CL", "MX"}  # "$" there is the peso, in Spanish text that names no US amount
_US_DOLLAR = re.compile(r"(?:\bus\$|u\.s\.\$|\busd\b|\bdolares\b|\bee\.? ?uu\b|\bestados unidos\b|\bftc\b)")
#: a currency replaced: the jurisdiction's earlier one before that date
_CHANGED = {"HR": (datetime(2023, 1, 1), "HRK")}
_PERSONS = frozenset("man woman men women driver drivers shopper shoppers student students pupil teenager person "
                     "people motorist fan fans resident residents protester officer customer customers".split())
