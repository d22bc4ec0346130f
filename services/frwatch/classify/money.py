"""Find money amounts in text ("£7.5 million", "20 millions d'euros", "30,5 miljoen euro",
"20 εκατ. ευρώ", "R$ 2 milhões") and convert them to EUR with a dated rates table."""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import yaml

from frwatch.classify.text import compile_terms, fold

_NEXT_FIGURE = re.compile(r"[\d€£$(]")
_NEXT_WORD = re.compile(r"\s+([^\W\d]+)")
_DIGIT = re.compile(r"\d")
_NUMBER = r"(?P<num>\d{1,3}(?:[ .,']\d{3})+(?:[.,]\d+)?|\d+(?:[.,]\d+)?)"
# kana, CJK ideographs, hangul (syllables, and jamo for text not yet folded). Japanese and Korean write the scale and the
# currency right after the figure and a particle right after them ("約750万ポンドの", "14억 달러를"):
# their money words get a pattern of their own, with no word boundaries to look for
_CJK = re.compile("[\u1100-\u11ff\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")


@dataclass(frozen=True)
class Money:
    amount: float
    currency: str | None
    start: int
    #: a rate such as "€100,000 per day" rather than a total
    per_period: bool
    #: inside parentheses, usually a conversion: "£7.5m ($9.4m)"
    parenthetical: bool


def parse_number(text: str, scaled: bool, thousands: str | None = None) -> float | None:
    """Parse digits written with any common grouping/decimal convention.

    With a scale word ("2,5 miljoner", "1.375 billion") a lone separator is a decimal point,
    unless it is the language's thousands separator before exactly three digits ("1.400
    millones" in Spanish, "1,400 million" in English); without one, a separator followed by
    exactly three digits groups thousands ("50.000 euro").
    """
    s = text.replace(" ", "").replace("'", "")
    dots, commas = s.count("."), s.count(",")
    if dots and commas:
        decimal = "." if s.rfind(".") > s.rfind(",") else ","
        s = s.replace("," if decimal == "." else ".", "").replace(decimal, ".")
    elif dots + commas == 1:
        sep = "." if dots else ","
        head, tail = s.split(sep)
        grouping = len(tail) == 3 and (not scaled or sep == thousands)
        s = head + tail if grouping else f"{head}.{tail}"
    elif dots + commas > 1:
        s = s.replace(".", "").replace(",", "")
    try:
        value = float(s)
    except ValueError:  # separators no convention reads: "1,500.000.000"
        return None
    return value if math.isfinite(value) else None


def _alternation(words: Iterable[str]) -> str:
    return "|".join(re.escape(w) for w in sorted(set(words), key=len, reverse=True))


class MoneyParser:
    """Compiled once from the currency symbols (rates.yaml) and every lexicon's money words."""

    def __init__(self, symbols: Mapping[str, str], scales: Mapping[str, float],
                 words: Mapping[str, str], per_period: Iterable[str],
                 function_words: Iterable[str] = ()) -> None:
        #: words that may follow a bare figure that is still money ("2,5 millones por …");
        #: any other word makes it a count ("5 million images")
        self._function_words = frozenset(function_words)
        self._currency = {fold(k): v for k, v in {**symbols, **words}.items()}
        #: ISO codes ("TRY", "PEN"), which count only in capitals: "try" and "pen" are words
        self._codes = frozenset(fold(s) for s in symbols if len(s) == 3 and s.isalpha() and s.isupper())
        self._scales = {fold(k): v for k, v in scales.items()}
        prefix = _alternation(fold(s) for s in symbols)
        suffix = _alternation(k for k in self._currency if not _CJK.search(k))
        tight = _alternation(k for k in self._scales if len(k) <= 2 and not _CJK.search(k))
        loose = _alternation(k for k in self._scales if len(k) > 2 and not _CJK.search(k))
        scale = rf"(?:(?P<tight>{tight})|\s?(?P<loose>{loose})\.?)(?!\w)"
        patterns = [
            re.compile(rf"(?<![\w$])(?P<pre>{prefix})\s?{_NUMBER}(?:{scale})?(?!\d)"),
            re.compile(rf"(?<![\w.,]){_NUMBER}(?:{scale})?\s?(?:(?:de|di|d'|of)\s?)?"
                       rf"(?P<post>{suffix})(?!\w)"),
            # a compound joins figure, scale and currency with hyphens ("650-Millionen-Dollar-Vergleich");
            # without a scale it is a price in a name ("49-Euro-Ticket")
            re.compile(rf"(?<![\w.,]){_NUMBER}-(?P<loose>{loose})-(?P<post>{suffix})(?!\w)"),
        ]
        cjk_currencies = [k for k in self._currency if _CJK.search(k)]
        if cjk_currencies:
            cjk_scale = _alternation(k for k in self._scales if _CJK.search(k))
            # a one-character currency (원, 円) only after a scale: "8원칙" is eight principles
            longer = _alternation(k for k in cjk_currencies if len(k) > 1) or "(?!)"
            patterns.append(re.compile(rf"(?<![\d.,]){_NUMBER}(?:(?P<tight>{cjk_scale})\s?|\s?(?={longer}))"
                                       rf"(?P<post>{_alternation(cjk_currencies)})"))
        # last: a bare figure with a scale word, unless a content word follows ("5 million images")
        patterns.append(re.compile(rf"(?<![\w.,]){_NUMBER}\s(?P<loose>{loose})\.?(?!\w)"))
        self._patterns = tuple(patterns)
        self._per_period = compile_terms(per_period)

    def _money(self, folded: str, m: re.Match[str], thousands: str | None = None) -> Money | None:
        """The amount ``m`` matched; None when its digits read as no number (or no finite one)."""
        groups = m.groupdict()
        scale_word = groups.get("tight") or groups.get("loose")
        amount = parse_number(m.group("num"), scaled=scale_word is not None, thousands=thousands)
        if amount is not None and scale_word:
            amount *= self._scales[scale_word]
        if amount is None or not math.isfinite(amount):
            return None
        code = groups.get("pre") or groups.get("post")
        before = folded[max(0, m.start() - 12): m.start()]
        # the words right after the amount, up to the next figure: "€100,000 per day"
        around = before[-8:] + " " + _NEXT_FIGURE.split(folded[m.end(): m.end() + 25])[0]
        return Money(
            amount=round(amount, 2),
            currency=self._currency.get(code) or None if code else None,  # "" for a shared name ("kroner")
            start=m.start(),
            per_period=bool(self._per_period and self._per_period.search(around)),
            parenthetical="(" in before and ")" not in before,
        )

    def find_all(self, text: str, thousands: str | None = None,
                 folded: str | None = None) -> list[Money]:
        """Every amount in ``text`` in order; amounts with no currency word have currency None.

        ``thousands`` is the language's grouping separator ("." or ","), ``folded`` the text
        already folded (saves folding it again)."""
        folded = fold(text) if folded is None else folded
        if not _DIGIT.search(folded):
            return []
        found = []
        taken: list[tuple[int, int]] = []
        for index, pattern in enumerate(self._patterns):  # most specific first; later ones fill gaps
            for m in pattern.finditer(folded):
                if any(m.start() < end and start < m.end() for start, end in taken):
                    continue
                if index == len(self._patterns) - 1 and self._counted(folded, m.end()):
                    continue
                if not self._code_in_capitals(m, text, folded):
                    continue
                money = self._money(folded, m, thousands)
                if money is not None:
                    taken.append((m.start(), m.end()))
                    found.append(money)
        found.sort(key=lambda money: money.start)
        return found

    def _code_in_capitals(self, m: re.Match[str], text: str, folded: str) -> bool:
        """An ISO code counts only as written in capitals: "TRY 300,000", not "try 2 more". Told
        from the display text where folding kept its length (else accepted)."""
        for group in ("pre", "post"):
            code = m.groupdict().get(group)
            if code in self._codes and len(text) == len(folded):
                return text[m.start(group):m.end(group)].isupper()
        return True

    def _counted(self, folded: str, end: int) -> bool:
        """A bare figure followed by a content word counts things: "5 million images"."""
        if not self._function_words:
            return False
        m = _NEXT_WORD.match(folded, end)
        return bool(m and m.group(1) not in self._function_words
                    and m.group(1) not in self._currency)


class Rates:
    """Units of each currency per 1 EUR, by validity date (see ``config/rates.yaml``)."""

    def __init__(self, table: Mapping[str, Mapping[date, float]]) -> None:
        self._dates = {c: sorted(rows) for c, rows in table.items()}
        self._table = table

    @classmethod
    def load(cls, path: Path) -> tuple[Rates, dict[str, str]]:
        """The rates and the symbol → ISO code map from a rates file."""
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        table = {str(c): {d if isinstance(d, date) else date.fromisoformat(str(d)): float(r)
                          for d, r in rows.items()} for c, rows in (data.get("rates") or {}).items()}
        symbols = {str(s): str(code) for code, syms in (data.get("currencies") or {}).items()
                   for s in syms}
        return cls(table), symbols

    def to_eur(self, amount: float | None, currency: str | None, on: date | None) -> float | None:
        if amount is None or currency is None:
            return None
        if currency == "EUR":
            return amount
        dates = self._dates.get(currency)
        if not dates:
            return None
        i = len(dates) - 1 if on is None else bisect.bisect_right(dates, on) - 1
        return round(amount / self._table[currency][dates[max(i, 0)]], 2)
