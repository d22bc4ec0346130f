"""Field extraction: who acted (regulator, jurisdiction), against whom (target), and how much."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from frwatch.classify.group import identifies
from frwatch.classify.lexicon import Lexicon
from frwatch.classify.money import Money
from frwatch.classify.regulators import Gazetteer, Hit, Regulator
from frwatch.classify.text import fold, uppercase_class

_AMOUNT_TOKEN = re.compile(r"\D{0,4}\d[\d.,]*[a-z]{0,3}")  # "KSh5", "US$1.4bn", "£7.5m"
_ELIDED = re.compile(r"^(?:l|d|dell|all|dall|nell|sull)['’]")  # an elided article: l'Italie, dell'Italia
_UP = uppercase_class()
_TOKEN = rf"(?:{_UP}|\d)[\w'&.\-]*"
_GAP = r"(?:\s+\S+){0,4}?\s+"
_ABBREVIATION = re.compile(rf"^(?:{_UP}\.)+$|^{_UP}{{2,3}}$")
_NEXT_WORD = re.compile(r"\s+(\w+)")
_SENTENCE_END = re.compile(r"(?<=\w{3})\.\s")  # not after "St." or "Mt."
#: "and" in each lexicon's connectors: it joins two names, it does not continue one
_CONJUNCTIONS = frozenset({"and", "&", "et", "und", "y", "e", "en", "och", "og", "ve", "i", "και"})
MAX_TARGET = 120  # characters: no organisation's name is longer; a longer candidate is a run of tokens (URLs, codes)
# A legal form ends a company's name in any language ("Nordbygg Entreprenad AB", "EcoAmbiente Sud
# S.r.l.", "Casino Mar de Levante, S.A.", "Donauländische Sparbank AG"); regulators and courts never
# carry one. "AG" also abbreviates an attorney general, but "Texas AG" is a place and no target;
# not "AS", a word of several languages
_LEGAL_FORM = re.compile(
    rf"(?<![\w.])(?P<org>{_TOKEN}(?:\s(?:{_TOKEN}|de|del|di|du|des|van|von|&)){{0,5}}),?\s"
    r"(?P<form>S\.A\.S\.|S\.A\.C\.|S\.A\.|SA|S\.r\.l\.|Srl|SRL|S\.p\.A\.|SpA|Spa|S\.L\.|SARL|SAS|GmbH|AG|AB|A/S|ApS|Oy|B\.V\.|N\.V\.|"
    r"Inc\.|Inc|inc\.|Ltd\.|Ltd|Limited|LLC|plc|PLC|Corp\.|Co\.(?!\s+[A-Z])|Lda\.|Ltda\.|S/A|A\.E\.|Α\.Ε\.|A\.Ş\.|[Ss]p\. z o\.o\.|"
    r"UAB|Zrt\.|Kft\.|d\.o\.o\.|s\.r\.o\.|a\.s\.|Oyj)"
    r"(?![\w/])")


@dataclass(frozen=True)
class Segment:
    """Title or summary: display text for names, folded text for lexicon matching."""

    name: str
    raw: str
    folded: str
    regulators: tuple[Hit, ...]
    places: tuple[Hit, ...]
    entities: tuple[Hit, ...]
    #: the ``\w+`` words of ``folded``
    words: Sequence[str] = ()


class TargetFinder:
    """Language-specific patterns around a capitalised organisation name ({ORG})."""

    def __init__(self, lex: Lexicon, not_targets: frozenset[str] = frozenset()) -> None:
        self._not_targets = not_targets  # folded words that never name a target (law names)
        self._connectors = frozenset(fold(c) for c in lex.org_connectors)
        conn = "|".join(re.escape(c) for c in lex.org_connectors) or "of"
        nouns = "|".join(re.escape(n) for n in lex.org_nouns)
        noun_tail = rf"(?:\s(?i:{nouns})(?!\w))?" if nouns else ""
        org = rf"(?P<org>{_TOKEN}(?:\s(?:{_TOKEN}|(?:{conn})\s(?={_UP}|\d){_TOKEN})){{0,5}}{noun_tail})"
        self._patterns = tuple(self._compile(p, org) for p in lex.target_patterns)
        self._initial = re.compile(rf"^{org}")
        of = "|".join(re.escape(c) for c in lex.org_connectors if fold(c) not in _CONJUNCTIONS) or "of"
        self._institution = self._compile_institution(lex.institution_heads, conn, of)
        self._lex = lex

    @property
    def nouns_capitalised(self) -> bool:
        return self._lex.nouns_capitalised

    def describes_a_body(self, candidate: str, places: set[str]) -> bool:
        """Only places and authority words: "Lithuanian DPA", "Dutch watchdog" name the
        regulator, not whom it acted against."""
        if " " not in candidate:
            return False
        authority = self._lex.cues.get("authority")
        folded_places = {fold(p) for p in places}
        words = fold(candidate).split()
        return all(
            w in folded_places or w == "dpa" or (authority is not None and authority.fullmatch(w) is not None)
            for w in words) and any(w not in folded_places for w in words)

    @staticmethod
    def _compile_institution(heads: Sequence[str], conn: str, of: str) -> re.Pattern[str] | None:
        """A name built on a head word as written, with up to four names before it and its
        rest after it ("Chelmer Valley High School", "Gobierno de la Ciudad de Buenos Aires"),
        or the head word in running text followed by a connector that is not a conjunction
        ("la commune de Valmont", not "the police and Home Office")."""
        if not heads:
            return None
        alternatives = "|".join(re.escape(h) for h in sorted(heads, key=len, reverse=True))
        rest = rf"(?:\s(?:(?:{conn})\s){{0,2}}{_TOKEN}){{0,5}}"
        return re.compile(
            rf"(?<!\w)(?:(?P<before>(?:{_TOKEN}\s){{0,4}})(?P<head>{alternatives})(?P<rest>{rest})"
            rf"|(?P<lower>(?i:{alternatives})\s(?:{of})\s(?:(?:{of})\s)?{_TOKEN}{rest}))(?!\w)")

    @staticmethod
    def _compile(pattern: str, org: str) -> re.Pattern[str]:
        before, _, after = pattern.partition("{ORG}")
        keyword = lambda part: f"(?i:{part.replace(' ... ', _GAP)})" if part else ""  # noqa: E731
        lead = "" if before.startswith("^") or not before else r"(?<!\w)"
        return re.compile(lead + keyword(before) + org + keyword(after))

    def clean(self, name: str, gazetteer_words: set[str], head_word: bool = False) -> str | None:
        """Trim a candidate to the organisation's name, or None if it is not one: a possessive
        ends it ("Clearview AI's database") and a leading company word goes
        ("Gesichtserkennungsfirma Clearview"), except in a name built on a head word, which
        keeps both ("St Mary's High School", "Azienda ospedaliera …")."""
        if not head_word:
            name = re.split(r"['’]s\b", name)[0]
        tokens = name.strip(" .,:;-").split()
        while tokens and (fold(tokens[0]) in self._lex.stopwords or _ABBREVIATION.match(tokens[0])
                          and len(tokens) > 1):
            tokens.pop(0)
        if not tokens or not any(c.isalpha() for c in "".join(tokens)) or _AMOUNT_TOKEN.fullmatch(tokens[0]):
            return None  # no letters, or an amount ("fined KSh5 million")
        cleaned = " ".join(tokens)
        key = fold(cleaned)
        if self._not_targets and not self._not_targets.isdisjoint(re.findall(r"\w+", key)):
            return None  # "the GDPR", "Första GDPR-boten"
        company = self._lex.cues.get("company_words")
        while not head_word and len(tokens) > 1 and company is not None and company.search(fold(tokens[0])):
            tokens.pop(0)  # "Gesichtserkennungsfirma Clearview" → "Clearview"
        cleaned = " ".join(tokens)
        key = fold(cleaned)
        if (key in gazetteer_words or _ELIDED.sub("", key) in gazetteer_words  # "L'Italie interdit …"
                or (len(tokens) == 1 and key in self._lex.vocabulary)
                or len(cleaned) > MAX_TARGET or not identifies(cleaned)):
            return None  # not a name, or one without an identifying word ("Inc", "the Council")
        return cleaned

    def in_patterns(self, seg: Segment, excluded: set[str]) -> str | None:
        """The first name a language pattern puts where the target stands ("fines {ORG}")."""
        found = []
        title_case = _title_case(seg.raw)
        for pattern in self._patterns:
            for m in pattern.finditer(seg.raw):
                org = self._cut_title_case(m.group("org")) if title_case else m.group("org")
                name = self.clean(org, excluded)
                if title_case and name and self._opens_with_a_cue(name):
                    continue  # "Court Grants Final Approval", "Photo App Developer": capitals, no name
                if name and not self._ends_a_body(seg, name) and not self._modifies_a_noun(seg, m.end("org"), name):
                    found.append((m.start("org"), name))
                    break
        return min(found)[1] if found else None

    def _opens_with_a_cue(self, name: str) -> bool:
        first = name.split()[0]
        return not first.isupper() and fold(first) in self._lex.cue_words

    def _cut_title_case(self, name: str) -> str:
        """In a Title Case headline a name ends at a capitalised function word or cue word:
        "Riverside Academy Over Facial Recognition" → "Riverside Academy", "Police Scotland Told
        To Stop" → "Police Scotland" (not at "IT" or a connector: "Bank of America")."""
        tokens = name.split()
        for i, token in enumerate(tokens[1:], 1):
            word = fold(token)
            if not token.isupper() and word not in self._connectors and (
                    word in self._lex.stopwords or word in self._lex.cue_words):
                tokens = tokens[:i]
                break
        while len(tokens) > 1 and fold(tokens[-1]) in self._connectors:
            tokens.pop()
        return " ".join(tokens)

    def _ends_a_body(self, seg: Segment, name: str) -> bool:
        """The name is the end of a regulator's longer name: it starts inside the name the
        gazetteer knows ("Beauftragte für |Datenschutz und Informationsfreiheit|") or right
        after it across connectors only ("Agencia de Protección de Datos de la |Comunidad de
        Madrid|"); not a company after "ICO: "."""
        at = seg.folded.find(fold(name))
        if at < 0:
            return False
        for hit in seg.regulators:
            gap = seg.folded[hit.end:at].split()
            if hit.start < at < hit.end or (gap and hit.end <= at and all(w in self._connectors for w in gap)):
                return True
        return False

    def _modifies_a_noun(self, seg: Segment, end: int, name: str) -> bool:
        """One capitalised word before a descriptive noun describes it, it names nobody:
        "reprimands Essex school" (but "fines Mercadona supermarket chain" names Mercadona)."""
        after = _NEXT_WORD.match(seg.raw, end)
        return (" " not in name and after is not None and after.group(1).islower()
                and fold(after.group(1)) in self._lex.descriptive_nouns)

    def with_legal_form(self, seg: Segment, excluded: set[str], bodies: set[str]) -> str | None:
        """The first company named with its legal form, as written. Not a name in capitals
        ("OIPC AB", the dateline "CALGARY, AB") nor one holding a regulator's name."""
        for m in _LEGAL_FORM.finditer(seg.raw):
            org = m.group("org")
            folded = fold(org)
            if org.isupper() or any(body in folded for body in bodies):
                continue
            if m.group("form") == "AG" and not _company_before_ag(org, seg.raw[m.end():], self.nouns_capitalised):
                continue
            name = self.clean(org, excluded)
            if name and name in org:
                return seg.raw[m.start("org") + org.index(name):m.end()]
        return None

    def institution(self, seg: Segment, excluded: set[str], bodies: set[str]) -> str | None:
        """The first public body or school named by its head word ("South Wales Police",
        "Department of Social Protection", "Instituto Superior de Gestão do Norte"). Names
        before the head stop at a lexicon word ("Regulator Fines Essex School" → none), and a
        name ends with its sentence."""
        if self._institution is None:
            return None
        title_case = _title_case(seg.raw)
        for m in self._institution.finditer(seg.raw):
            if m.group("lower"):
                name = m.group("lower")
                name = name[0].upper() + name[1:]
            else:
                before = m.group("before").split()
                for i in range(len(before) - 1, -1, -1):
                    if fold(before[i]) in self._lex.vocabulary:
                        before = before[i + 1:]
                        break
                name = " ".join([*before, m.group("head")]) + m.group("rest")
            name = _SENTENCE_END.split(name)[0]
            if title_case:
                name = self._cut_title_case(name)
            if " " not in name or any(body in fold(name) for body in bodies) or self._ends_a_body(seg, name):
                continue
            cleaned = self.clean(name, excluded, head_word=True)
            if cleaned and " " in cleaned:
                return cleaned
        return None

    def initial(self, seg: Segment, excluded: set[str]) -> str | None:
        """The name a headline opens with ("Clearview AI broke …"), unless every word is capitalised."""
        m = self._initial.match(seg.raw)
        if not m or _title_case(seg.raw):
            return None
        org = re.split(r"\s[\d.,]+(?!\S)", m.group("org"))[0]  # "Πρόστιμο 15.000 ευρώ": an amount ends it
        name = self.clean(org, excluded)
        if name and " " not in name and not re.search(r"\d|\w[A-Z]|['’]s\b", org):
            return None  # a lone sentence-initial capitalised word is usually not a name
        return name


def find_target(finder: TargetFinder, segments: Sequence[Segment], bodies: set[str],
                places: set[str]) -> str | None:
    """``bodies``: folded names of the regulators and courts in the item, never a target nor
    part of one; ``places``: place names as matched, never a target alone ("Hellenic" may
    open a company's name)."""
    title, summary = segments
    excluded = bodies | places
    finders: tuple[Callable[[], str | None], ...] = (  # in order of trust; called until one answers
        lambda: finder.in_patterns(title, excluded),
        lambda: finder.in_patterns(summary, excluded),
        lambda: _first_entity(title),
        lambda: finder.with_legal_form(title, excluded, bodies),
        lambda: finder.institution(title, excluded, bodies),
        lambda: finder.initial(title, excluded),
        lambda: _first_entity(summary),
        lambda: finder.with_legal_form(summary, excluded, bodies),
        lambda: finder.institution(summary, excluded, bodies),
    )
    for find in finders:
        candidate = find()
        if candidate and any(f" {body} " in f" {fold(candidate)} " for body in bodies):
            continue  # a regulator's whole name inside: "Norska Datatilsynet inför vite …"
        if candidate and finder.describes_a_body(candidate, places):
            continue
        if (candidate and finder.nouns_capitalised and " " not in candidate
                and all(hit.refs[0].name != candidate for seg in segments for hit in seg.entities)
                and [*title.words, *summary.words].count(fold(candidate)) < 2):
            # every noun is capitalised: a word the item does not repeat ("Bußgeld für
            # Spedition") yields to the company it names with its legal form
            return (finder.with_legal_form(title, excluded, bodies)
                    or finder.with_legal_form(summary, excluded, bodies) or candidate)
        if candidate:
            return candidate
    return None


def _company_before_ag(org: str, after: str, nouns_capitalised: bool) -> bool:
    """"AG" ends a company's name ("Müller Bau AG", "Siemens AG"), not an attorney general's
    title ("Former AG Jim Hood", "Calif. AG"): no dot before it and, where capitals mark names,
    no name right after it ("Texas AG" is a place, no target anyway; in German, where every
    noun is capitalised, "laut AG Hamburg" loses its first word as a stopword)."""
    return "." not in org and (nouns_capitalised or not re.match(rf"\s+{_UP}", after))


def _title_case(text: str) -> bool:
    """Most longer words capitalised: a headline in Title Case, where capitals mark no names."""
    words = re.findall(r"[^\W\d_]{4,}", text)
    return len(words) >= 3 and sum(w[0].isupper() for w in words) >= 0.7 * len(words)


def _first_entity(seg: Segment) -> str | None:
    return seg.entities[0].refs[0].name if seg.entities else None


def place_codes(segments: Sequence[Segment], company_words: re.Pattern[str] | None) -> list[str]:
    """Place codes ranked by how likely they are where the action happened.

    A place used as a company's nationality ("the US company") counts little.
    """
    weights: Counter[str] = Counter()
    first: dict[str, int] = {}
    for rank, seg in enumerate(segments):
        for hit in seg.places:
            after = seg.folded[hit.end: hit.end + 40]
            nationality = company_words is not None and company_words.match(after.lstrip(" ,")) is not None
            weight = (0.2 if nationality else 1.0) * (1.5 if rank == 0 else 1.0)
            for code in hit.refs:
                weights[code] += weight
                first.setdefault(code, rank * 10_000 + hit.start)
    return sorted(weights, key=lambda c: (-weights[c], first[c]))


def generic_regulator(seg: Segment, authority: re.Pattern[str] | None,
                      gazetteer: Gazetteer) -> Regulator | None:
    """'Greek regulator', "Sweden's data protection authority", 'autorité … italienne'."""
    if authority is None:
        return None
    for m in authority.finditer(seg.folded):
        for hit in seg.places:
            gap = m.start() - hit.end if hit.end <= m.start() else hit.start - m.end()
            if 0 <= gap <= (25 if hit.end <= m.start() else 5):
                for code in hit.refs:
                    reg = gazetteer.national(code)
                    if reg is not None:
                        return reg
    return None


def court_name(seg: Segment, lex: Lexicon) -> str | None:
    """A court's name as written: "Court of Appeal", "Fuyang District People's Court", or a
    head word in running text with its place: "le tribunal administratif de Marseille" →
    "Tribunal administratif de Marseille"."""
    if not lex.court_heads:
        return None
    heads = "|".join(re.escape(h) for h in lex.court_heads)
    conn = "|".join(re.escape(c) for c in lex.org_connectors) or "of"
    m = re.search(rf"(?:{_TOKEN}\s){{0,4}}(?:{heads})(?:\s(?:{conn})\s{_TOKEN}(?:\s{_TOKEN}){{0,3}})?",
                  seg.raw)
    if m and " " in m.group(0):
        return m.group(0).strip(" .,")
    m = re.search(rf"(?<!\w)(?i:{heads})(?:\s[^\W\d]+){{0,2}}?\s(?:{conn})\s{_TOKEN}(?:\s{_TOKEN}){{0,2}}",
                  seg.raw)
    if not m:
        return None
    name = m.group(0).strip(" .,")
    return name[0].upper() + name[1:]


def state_party(segments: Sequence[Segment], lex: Lexicon, gazetteer: Gazetteer) -> str | None:
    """A US state named as a party ("to pay Texas", "Texas reaches …") → its code."""
    for seg in segments:
        for hit in seg.places:
            states = [c for c in hit.refs if c.startswith("US-")
                      and fold(gazetteer.place_names[c]) == hit.text]
            if not states:
                continue
            before = seg.folded[max(0, hit.start - 12): hit.start].split()
            after = seg.folded[hit.end: hit.end + 14].split()
            if (before and before[-1] in lex.state_party_before) or (
                    after and after[0] in lex.state_party_after):
                return states[0]
    return None


def _digits(amount: float) -> int:
    """Significant digits of a whole amount: 7,500,000 → 2, 7,552,800 → 5."""
    return len(str(int(round(amount))).rstrip("0")) or 1


def _rounds_to(exact: float, shown: float) -> bool:
    """``shown`` is ``exact`` cut to ``shown``'s digits, as headlines write amounts: "R$ 58 mil"
    for R$ 58.767,00, "more than £7.5m" for £7,552,800; not "€20m" for another fine of €19.2m."""
    if exact <= 0 or shown <= 0 or _digits(exact) <= _digits(shown):
        return False
    unit = 10 ** (len(str(int(round(shown)))) - _digits(shown))
    return int(round(shown)) == int(exact) // unit * unit


def choose_amount(per_segment: Sequence[list[Money]]) -> Money | None:
    """The first stated total: title before summary, skipping rates and conversions; a later
    segment's exact figure replaces the headline's rounding of it."""
    totals = [[m for m in amounts if not m.per_period and not m.parenthetical] for amounts in per_segment]
    for k, amounts in enumerate(totals):
        for money in amounts:
            if money.currency:
                return next((m for later in totals[k + 1:] for m in later
                             if m.currency == money.currency and _rounds_to(m.amount, money.amount)), money)
    return next((m for amounts in totals for m in amounts), None)
