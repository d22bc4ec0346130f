"""is_enforcement decisions on new sentences (not dev items), per language, with hedging cases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from frwatch.classify import Classifier, ItemText
from frwatch.classify.lexicon import LanguageGuess, load_lexicons

SEED = Path(__file__).resolve().parents[2] / "tests" / "data" / "seed_clearview_ico.txt"


@pytest.fixture(scope="module")
def clf() -> Classifier:
    return Classifier.load()


def verdict(clf: Classifier, title: str, summary: str = "", language: str | None = None):
    return clf.classify(ItemText(id="t", title=title, summary=summary, language=language))


@pytest.mark.parametrize(("language", "title", "summary"), [
    ("en", "Watchdog fines PimEyes £2m over face search engine",
     "The Information Commissioner's Office said the facial recognition site processed images unlawfully."),
    ("fr", "La CNIL inflige une amende de 3 millions d'euros à un exploitant de reconnaissance faciale",
     "La formation restreinte sanctionne la société pour avoir traité des visages sans base légale."),
    ("it", "Il Garante sanziona un supermercato per il riconoscimento facciale dei clienti",
     "Multa di 300 mila euro per l'uso di telecamere che analizzavano i volti senza consenso."),
    ("de", "Datenschutzbehörde verhängt Bußgeld wegen Gesichtserkennungssoftware im Kaufhaus",
     "Die Behörde stellte einen Verstoß gegen die DSGVO fest und ordnete die Löschung der Gesichtsbilder an."),
    ("nl", "AP legt boete op aan winkelketen voor gezichtsherkenningstechnologie",
     "De Autoriteit Persoonsgegevens beboet het bedrijf met 600.000 euro."),
    ("es", "La AEPD multa a una cadena de gimnasios por usar reconocimiento facial",
     "La Agencia Española de Protección de Datos impone una sanción de 200.000 euros."),
    ("sv", "IMY påför sanktionsavgift för ansiktsigenkänning i skolan",
     "Integritetsskyddsmyndigheten beslutar att kommunen ska betala 200 000 kronor."),
    ("el", "Πρόστιμο σε εταιρεία για αναγνώριση προσώπου",
     "Η Αρχή Προστασίας Δεδομένων επέβαλε πρόστιμο 500.000 ευρώ για επεξεργασία εικόνων προσώπων."),
    ("pt", "ANPD aplica multa a rede varejista por reconhecimento facial",
     "A Autoridade Nacional de Proteção de Dados aplicou multa de R$ 2 milhões à empresa."),
    ("en", "Photo app users can claim a share of $12 million",
     "The company agreed to pay to resolve a class action alleging it scanned face geometry without consent."),
    ("fr", "Reconnaissance faciale : une application de photos paiera 10 millions de dollars",
     "Un juge a validé l'accord mettant fin à l'action collective sur les données biométriques des visages."),
    ("fr", "La CNIL liquide l'astreinte et réclame 2 millions d'euros à un fournisseur de reconnaissance faciale",
     "La société n'a pas justifié de sa mise en conformité dans les délais."),  # réclamer what is owed
    ("da", "Datatilsynet indstiller fitnesskæde til bøde for ansigtsgenkendelse",
     "Kæden brugte ansigtsbilleder af medlemmerne uden gyldigt samtykke, vurderer tilsynet."),
    ("no", "Datatilsynet ilegger butikkjede overtredelsesgebyr for ansiktsgjenkjenning",
     "Kjeden må betale 3 millioner kroner og slette ansiktsbildene av kundene."),
    ("pl", "UODO nałożył karę na sieć sklepów za rozpoznawanie twarzy klientów",
     "Prezes UODO stwierdził, że spółka przetwarzała wizerunki klientów bez podstawy prawnej."),
    ("tr", "KVKK'dan yüz tanıma sistemi kullanan AVM'ye para cezası",
     "Kişisel Verileri Koruma Kurulu, ziyaretçilerin yüz verilerini izinsiz işleyen şirkete idari para cezası verdi."),
    ("ja", "個人情報保護委員会、顔認証システムの運用企業に是正命令",
     "利用者の顔画像を同意なく第三者に提供していたとして、委員会は同社に改善を命じた。"),
    ("ko", "개인정보위, 얼굴인식 출입 시스템 운영 업체에 과징금 부과",
     "개인정보보호위원회는 동의 없이 이용자의 안면정보를 수집한 업체에 과징금과 시정명령을 내렸다."),
    ("pl", "UODO nałożył na spółkę karę za rozpoznawanie twarzy", ""),  # words between verb and noun
    ("tr", "KVKK'DAN YÜZ TANIMA SİSTEMİNE PARA CEZASI", ""),  # capitals: İ and I fold to i
    ("da", "Datatilsynet: ansigtsgenkendelse på stadion er ikke lovlig", ""),
])
def test_enforcement_in_each_language(clf: Classifier, language: str, title: str, summary: str) -> None:
    v = verdict(clf, title, summary, language)
    assert v.is_enforcement, v.reasons
    assert 0.5 <= v.score <= 1.0
    assert any(r.startswith("action:") for r in v.reasons)


@pytest.mark.parametrize(("title", "summary"), [
    ("Retailer could face a fine over facial recognition cameras",
     "The ICO said it was looking at whether the face-matching system broke the law."),
    ("City plans to ban police facial recognition",
     "Councillors will vote next month on an ordinance banning the technology."),
    ("Campaigners call for a ban on live facial recognition by police",
     "Civil liberties groups urged the Home Office to halt deployments."),
    ("Senators introduce bill to curb facial recognition in airports",
     "The bill would bar the agency from using face scans without consent."),
    ("Regulator publishes guidance on facial recognition in shops",
     "The guidance explains when retailers may use face-matching cameras."),
    ("Privacy group files complaint against face search engine",
     "The complaint asks the data protection authority to fine the company."),
    ("Police deploy live facial recognition cameras at festival",
     "Officers said the face-matching vans would scan crowds for wanted people."),
    ("Startup raises $30m for facial recognition payments",
     "The funding round was led by venture capital firms."),
    ("Telecom operator fined €5m over spam calls",
     "The data protection authority said the company ignored consumers' objections."),
    ("Regulator orders deletion of employees' fingerprint records",
     "The authority found the company's fingerprint clocking system breached the law."),
])
def test_not_enforcement(clf: Classifier, title: str, summary: str) -> None:
    v = verdict(clf, title, summary, "en")
    assert not v.is_enforcement, v.reasons
    assert v.action_type is None and v.target is None


@pytest.mark.parametrize(("language", "title", "summary"), [
    ("ja", "個人情報保護委員会、顔認証に詳しい専門家を委員に任命した", ""),  # 任命し: appointed, not 命じ
    ("fr", "Des associations réclament l'interdiction de la reconnaissance faciale dans les stades", ""),
    ("fr", "La Quadrature du Net réclame un moratoire sur la reconnaissance faciale", ""),
    ("da", "Datatilsynet giver grønt lys til ansigtsgenkendelse i lufthavnen",
     "Tilsynet vurderer, at brugen er lovlig, når passagererne giver samtykke."),
    ("da", "Datatilsynet indstiller bank til bøde for manglende sletning",
     "Banken har ikke slettet kundernes oplysninger i tide."),  # a fine, but no faces
    ("no", "Regjeringen foreslår lov om ansiktsgjenkjenning i politiet",
     "Lovforslaget sendes på høring i vår."),
    ("pl", "Lotnisko testuje bramki z rozpoznawaniem twarzy",
     "Pasażerowie mogą dobrowolnie skorzystać z nowego systemu odprawy."),
    ("tr", "Havalimanında yüz tanıma ile biniş dönemi başlıyor",
     "Yolcular kimlik göstermeden uçağa binebilecek."),
    ("ja", "警察、顔認証カメラの導入を検討",
     "有識者会議で運用指針の案が示された。"),
    ("ko", "정부, 공항에 안면인식 출입 시스템 도입 추진",
     "내년부터 주요 공항에서 시범 운영할 계획이다."),
    ("ko", "기업들, 안면인식 활용 원칙에 합의", ""),  # an agreement, not a settlement
    ("no", "Appen bruker tilsynelatende ansiktsgjenkjenning ulovlig, mener eksperter", ""),  # no authority
    ("no", "Datatilsynet varsler overtredelsesgebyr for ansiktsgjenkjenning", ""),  # a notice, not yet a fine
    ("tr", "Türk Ceza Kanunu yüz tanıma için değişiyor", "Meclis yeni düzenlemeyi görüşüyor."),  # the penal code
    ("da", "Datatilsynet: ansigtsgenkendelse ved stadion er lovlig", ""),
])
def test_not_enforcement_in_more_languages(clf: Classifier, language: str, title: str, summary: str) -> None:
    v = verdict(clf, title, summary, language)
    assert not v.is_enforcement, v.reasons


def test_language_detected_when_missing(clf: Classifier) -> None:
    v = verdict(clf, "La CNIL sanctionne une société pour reconnaissance faciale",
                "Amende de 1 million d'euros pour traitement illicite de visages.")
    assert v.is_enforcement
    assert "language:fr" in v.reasons


def test_language_guess_counts_stopwords_and_breaks_ties_towards_english() -> None:
    lexicons = load_lexicons(Path(__file__).resolve().parents[2] / "config" / "rules")
    guess = LanguageGuess(lexicons)
    assert guess("la societe a ete sanctionnee pour les visages".split()) == "fr"
    assert guess("der die und das ist mit".split()) == "de"
    assert guess(["clearview", "pimeyes"]) == "en"  # no stopword: English
    # a German-only and an English-only stopword: German comes first among the lexicons, English wins the tie
    german, english = (min(lexicons[lang].stopwords - {word for other, lex in lexicons.items() if other != lang
                                                       for word in lex.stopwords}) for lang in ("de", "en"))
    assert list(lexicons).index("de") < list(lexicons).index("en")
    assert guess([german, english]) == "en"
    assert guess([german, german, english]) == "de"  # a repeated word counts each time



@pytest.mark.parametrize("code", ["no", "nb", "nn"])
def test_norwegian_sources_use_the_norwegian_lexicon_whichever_code_they_give(clf: Classifier, code: str) -> None:
    v = verdict(clf, "Datatilsynet ilegger overtredelsesgebyr for ansiktsgjenkjenning", "", code)
    assert v.reasons[0] == "language:no" and v.is_enforcement, v.reasons


def test_language_guess_reads_the_script_when_no_stopword_speaks() -> None:
    guess = LanguageGuess(load_lexicons(Path(__file__).resolve().parents[2] / "config" / "rules"))
    assert guess(["個人情報保護委員会", "顔認証システムの運用企業に是正命令"]) == "ja"  # kana
    assert guess(["얼굴인식", "업체에", "과징금"]) == "ko"
    assert guess(["顔認証", "clearview"]) == "en"  # kanji alone could be Chinese: no guess


def test_reasons_name_terms(clf: Classifier) -> None:
    v = verdict(clf, "ICO fines retailer over facial recognition", "", "en")
    assert "face:'facial'" in v.reasons
    assert any("action:fine:'fines'" in r for r in v.reasons)


def test_seed_article(clf: Classifier) -> None:
    text = SEED.read_text(encoding="utf-8")
    title, _, body = text.partition("\n")
    v = clf.classify(ItemText(id="seed", title=title, summary=body))
    assert v.is_enforcement
    assert v.regulator == "ICO"
    assert v.jurisdiction == "GB"
    assert v.target == "Clearview AI"
    assert v.action_type == "fine"
    assert v.amount == 7_500_000
    assert v.currency == "GBP"
    assert v.amount_eur is not None and v.amount_eur > v.amount


_FI_CS = [json.loads(line) for line in (SEED.parent / "lexicon_cases_fi_cs.jsonl").read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize("case", _FI_CS, ids=[f"{c['language']}-{i}" for i, c in enumerate(_FI_CS)])
def test_finnish_and_czech_decisions(clf: Classifier, case: dict) -> None:
    """Sentences written with the Finnish and Czech lexicons, by their author: actions and hard
    negatives (an inquiry opened, a complaint, a proposal, a fingerprint or cookie fine, an appeal)."""
    v = clf.classify(ItemText(id="t", title=case["title"], summary=case["summary"], language=case["language"]))
    assert v.is_enforcement is case["enforcement"], v.reasons
    assert v.action_type == case["action_type"], v.reasons
