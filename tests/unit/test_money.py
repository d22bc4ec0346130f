"""Money parsing in the formats news and regulators use, plus a locale round-trip property."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, strategies as st

from frwatch.classify import Classifier
from frwatch.classify import ItemText
from frwatch.classify.money import MoneyParser, parse_number

CLF = Classifier.load()
MONEY: MoneyParser = CLF._money


def first(text: str) -> tuple[float, str | None]:
    found = MONEY.find_all(text)
    assert found, text
    return found[0].amount, found[0].currency


@pytest.mark.parametrize(("text", "amount", "currency"), [
    ("米企業に約750万ポンドの制裁金を科した", 7_500_000, "GBP"),  # no spaces, a particle right after
    ("課徴金3000万円を命じた", 30_000_000, "JPY"),
    ("14억 달러를 내기로 합의했다", 1_400_000_000, "USD"),
    ("과징금 216억원을 부과했다", 21_600_000_000, "KRW"),
    ("fined GBP 7.5m", 7_500_000, "GBP"),
    ("a £7.5 million penalty", 7_500_000, "GBP"),
    ("€20m fine", 20_000_000, "EUR"),
    ("une amende de 20 millions d'euros", 20_000_000, "EUR"),
    ("een boete van 30,5 miljoen euro", 30_500_000, "EUR"),
    ("EUR 30.5 million", 30_500_000, "EUR"),
    ("a $1.4 billion settlement", 1_400_000_000, "USD"),
    ("2,5 miljoner kronor", 2_500_000, "SEK"),
    ("A$2.2 million", 2_200_000, "AUD"),
    ("multa de R$ 2,5 milhões", 2_500_000, "BRL"),
    ("πρόστιμο 20 εκατ. ευρώ", 20_000_000, "EUR"),
    ("πρόστιμο 20 εκατομμυρίων ευρώ", 20_000_000, "EUR"),
    ("Sanzione di 50.000 euro", 50_000, "EUR"),
    ("multa por 200 mila euro", 200_000, "EUR"),
    ("pay him 1,038 yuan", 1_038, "CNY"),
    ("6.46 billion won", 6_460_000_000, "KRW"),
    ("$1.375bn", 1_375_000_000, "USD"),
    ("US$5.5m", 5_500_000, "USD"),
    ("C$ 1.2 million", 1_200_000, "CAD"),
    ("1,5 mil milhões de euros", 1_500_000_000, "EUR"),
    ("2,52 millones de euros", 2_520_000, "EUR"),
    ("eine Geldbuße von 1,2 Mio. Euro", 1_200_000, "EUR"),
    ("300 000 €", 300_000, "EUR"),
])
def test_formats(text: str, amount: float, currency: str) -> None:
    assert first(text) == (pytest.approx(amount), currency)


def test_rates_and_conversions_are_flagged() -> None:
    found = MONEY.find_all("£7.5 million ($9.4 million) and €100,000 per day")
    assert [m.parenthetical for m in found] == [False, True, False]
    assert [m.per_period for m in found] == [False, False, True]


def test_amount_without_currency_is_kept_without_one() -> None:
    assert first("5 milioni di sanzione") == (5_000_000, None)


def test_no_money_in_years_and_percentages() -> None:
    assert MONEY.find_all("In 2021, 23% of 700 stores") == []


@pytest.mark.parametrize("text", ["개인정보 보호 8원칙", "3 엔지니어", "5万人", "2024年"])
def test_no_money_in_japanese_and_korean_counts(text: str) -> None:
    assert MONEY.find_all(text) == []  # a one-syllable currency (원, 엔, 円) counts only after a scale


@pytest.mark.parametrize("text", ["fined €1,500.000.000", "a $2,500.000.00 penalty", "£" + "9" * 320,
                                  "fined " + "9" * 320 + " billion euros"])
def test_figures_that_read_as_no_finite_number_are_no_amount(text: str) -> None:
    """Typos no convention reads and figures past a float's range: no amount (it used to raise,
    failing the item's whole feed on every poll, or to give inf, which JSON cannot carry)."""
    assert MONEY.find_all(text) == []
    verdict = CLF.classify(ItemText("x", "ICO fines Clearview AI over facial recognition", text, language="en"))
    assert verdict.is_enforcement and verdict.amount is None


@pytest.mark.parametrize(("digits", "scaled", "value"), [
    ("1.375", True, 1.375), ("1.375", False, 1375), ("30,5", False, 30.5),
    ("1.234.567,89", False, 1234567.89), ("1,234,567.89", False, 1234567.89), ("100 000", False, 100000),
])
def test_parse_number(digits: str, scaled: bool, value: float) -> None:
    assert parse_number(digits, scaled) == pytest.approx(value)


def _group(n: int, sep: str) -> str:
    s = str(n)
    parts = []
    while len(s) > 3:
        parts.insert(0, s[-3:])
        s = s[:-3]
    return sep.join([s, *parts])


LOCALES = [  # (thousands separator, template) as written in each language
    (",", "a fine of €{n}"),
    (".", "una multa di {n} euro"),
    (" ", "une amende de {n} euros"),
    (".", "een boete van {n} euro"),
    (" ", "en avgift på {n} kronor"),
    (".", "πρόστιμο {n} ευρώ"),
    (".", "multa de R$ {n}"),
]


@given(st.integers(min_value=1_000, max_value=999_999_999), st.sampled_from(LOCALES))
def test_round_trip_grouped_integers(n: int, locale: tuple[str, str]) -> None:
    sep, template = locale
    amount, _ = first(template.format(n=_group(n, sep)))
    assert amount == n


@given(st.integers(min_value=11, max_value=9_999), st.sampled_from([
    ("{i}.{d}m", "."), ("{i}.{d} million", "."), ("{i},{d} millions", ","), ("{i},{d} miljoen", ","),
    ("{i},{d} milioni", ","), ("{i},{d} miljoner", ","), ("{i},{d} εκατ.", ","), ("{i},{d} millones", ","),
]))
def test_round_trip_scaled_decimals(tenths: int, fmt: tuple[str, str]) -> None:
    template, _ = fmt
    text = "€" + template.format(i=tenths // 10, d=tenths % 10)
    amount, currency = first(text)
    assert currency == "EUR"
    assert amount == pytest.approx(tenths * 100_000)


def test_amount_eur_uses_dated_rate() -> None:
    rates = CLF._rates
    assert rates.to_eur(100.0, "EUR", None) == 100.0
    old, new = rates.to_eur(1000.0, "GBP", date(2019, 6, 1)), rates.to_eur(1000.0, "GBP", date(2024, 6, 1))
    assert old is not None and new is not None and old != new and 1000 < old < 1300
    assert rates.to_eur(1.0, "XXX", None) is None
