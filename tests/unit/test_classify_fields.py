"""Field extraction on new sentences: regulator aliases, jurisdiction, target, action type."""

from __future__ import annotations

import pytest

from frwatch.classify import Classifier, ItemText
from frwatch.classify.text import fold, term_regex
import re


@pytest.fixture(scope="module")
def clf() -> Classifier:
    return Classifier.load()


def classify(clf: Classifier, title: str, summary: str = "", **kw):
    v = clf.classify(ItemText(id="t", title=title, summary=summary, **kw))
    assert v.is_enforcement, v.reasons
    return v


@pytest.mark.parametrize(("text", "regulator", "jurisdiction", "language"), [
    ("The Information Commissioner's Office fined a retailer over facial recognition", "ICO", "GB", "en"),
    ("Autoriteit Persoonsgegevens legt boete op voor gezichtsherkenning", "AP", "NL", "nl"),
    ("Integritetsskyddsmyndigheten påför sanktionsavgift för ansiktsigenkänning", "IMY", "SE", "sv"),
    ("Spain's data protection agency fines supermarket over facial recognition", "AEPD", "ES", "en"),
    ("Greek regulator fines company over facial recognition", "HDPA", "GR", "en"),
    ("Dutch privacy watchdog fines firm over facial recognition database", "AP", "NL", "en"),
    ("Federal Trade Commission bans retailer from using facial recognition", "FTC", "US", "en"),
    ("Texas attorney general secures settlement over facial recognition data", "Texas AG", "US-TX", "en"),
    ("Comissão Nacional de Proteção de Dados multa empresa por reconhecimento facial", "CNPD", "PT", "pt"),
    ("Kişisel Verileri Koruma Kurulu yüz tanıma kullanan AVM'ye para cezası verdi", "KVKK", "TR", "tr"),
    ("İtalya'nın veri koruma kurumu yüz tanıma şirketine para cezası verdi", "Garante", "IT", "tr"),
    ("Den svenske datatilsynsmyndighed giver kommune bøde for ansigtsgenkendelse", "IMY", "SE", "da"),
    ("Polski UODO nałożył karę za rozpoznawanie twarzy", "UODO", "PL", "pl"),
    ("L'Organe de contrôle de l'information policière interdit la reconnaissance faciale à la police", "COC", "BE",
     "fr"),
    # a voiced kana (で, デ) after the acronym: folding must not split its word in two
    ("英情報コミッショナー事務局（ICO）は、顔写真を無断で集めて顔認証データベースを構築した企業に制裁金を科した",
     "ICO", "GB", "ja"),
])
def test_regulator_and_jurisdiction(clf: Classifier, text: str, regulator: str, jurisdiction: str,
                                    language: str) -> None:
    v = classify(clf, text, language=language)
    assert (v.regulator, v.jurisdiction) == (regulator, jurisdiction)


def test_source_jurisdiction_used_when_no_regulator(clf: Classifier) -> None:
    v = classify(clf, "Shop chain agrees to settle face-scan class action for $2m", source_jurisdiction="US-IL")
    assert v.jurisdiction == "US-IL" and v.regulator is None and v.action_type == "settlement"


def test_us_state_from_bipa(clf: Classifier) -> None:
    v = classify(clf, "Photo app maker to pay $35 million to settle BIPA face-scan class action")
    assert v.jurisdiction == "US-IL" and v.regulator is None


@pytest.mark.parametrize(("title", "summary", "action"), [
    ("Regulator fines PimEyes €1m over face search", "", "fine"),
    ("Kmart breached privacy law with facial recognition, OAIC determines", "", "determination"),
    ("ICO issues enforcement notice to Facewatch over facial recognition", "", "enforcement_notice"),
    ("Watchdog orders gym chain to delete members' faceprints", "", "deletion_order"),
    ("FTC bans pharmacy chain from facial recognition for five years", "", "ban"),
    ("ICO reprimands school over facial recognition in canteen", "", "reprimand"),
    ("La CNIL liquide une astreinte contre une société de reconnaissance faciale",
     "La société n'avait pas supprimé les données dans le délai fixé.", "penalty_payment"),
    ("Court rules council's facial recognition cameras unlawful", "", "judgment"),
])
def test_action_type(clf: Classifier, title: str, summary: str, action: str) -> None:
    assert classify(clf, title, summary).action_type == action


@pytest.mark.parametrize(("title", "target"), [
    ("ICO fines Acme Vision Ltd £1m over facial recognition", "Acme Vision Ltd"),
    ("Bunnings breached privacy with facial recognition, commissioner finds", "Bunnings"),
    ("Il Garante sanziona Alfa Costruzioni Srl per il riconoscimento facciale", "Alfa Costruzioni Srl"),
    ("Πρόστιμο στην Beta Corp για αναγνώριση προσώπου από την Αρχή", "Beta Corp"),
])
def test_target(clf: Classifier, title: str, target: str) -> None:
    assert classify(clf, title).target == target


def test_compound_terms_match_inside_words() -> None:
    for term, text in [("*gesichtserkennung*", "gesichtserkennungssoftware"),
                       ("*gezichtsherkenning*", "gezichtsherkenningstechnologie"),
                       ("*ansiktsigenkann*", "ansiktsigenkänning"),
                       ("order* ... delete", "ordered the company to delete")]:
        assert re.search(term_regex(term), fold(text)), term
    assert not re.search(term_regex("fine"), fold("finest"))


@pytest.mark.parametrize("published", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:00:00-05:00", "yesterday", 5])
def test_unusable_published_dates_are_input_errors(published: object) -> None:
    """A date outside what UTC can hold is one bad line (InputError), not a crash of the batch."""
    from frwatch.classify.batch import InputError, parse_published

    with pytest.raises(InputError):
        parse_published(published)
