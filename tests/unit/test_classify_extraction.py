"""Regulator, court, target and money extraction mechanisms, on sentences written for these tests."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from frwatch.classify import Classifier, ItemText
from frwatch.classify.extract import MAX_TARGET
from frwatch.classify.money import parse_number


@pytest.fixture(scope="module")
def clf() -> Classifier:
    return Classifier.load()


def verdict(clf: Classifier, title: str, summary: str = "", language: str | None = None,
            source_name: str | None = None):
    return clf.classify(ItemText(id="t", title=title, summary=summary, language=language,
                                 source_name=source_name))


@pytest.mark.parametrize(("language", "title", "summary", "source", "regulator", "jurisdiction"), [
    # a named foreign regulator beats the outlet's language and generic nouns
    ("de", "Frankreich: Fitnesskette muss Bußgeld wegen Gesichtserkennung zahlen",
     "Die Datenschutzbehörde CNIL verhängte eine Strafe von 800.000 Euro.", "Tagesblatt", "CNIL", "FR"),
    ("it", "La Francia multa una catena di palestre per il riconoscimento facciale",
     "Il garante francese CNIL ha sanzionato la società con 900 mila euro.", "Giornale", "CNIL", "FR"),
    # a country adjective next to an authority word means that country's DPA
    ("es", "Multa millonaria a una cadena de supermercados por reconocimiento facial",
     "La autoridad neerlandesa de protección de datos impuso la sanción.", "Diario", "AP", "NL"),
    ("de", "Gesichtserkennung: Behörde verhängt Strafe gegen Modekette",
     "Die italienische Datenschutzbehörde untersagt der Firma die Verarbeitung.", "Zeitung", "Garante", "IT"),
    # a country acting in the headline
    ("es", "Italia multa a una app de citas por el reconocimiento facial",
     "La empresa deberá pagar 1 millón de euros.", "Diario", "Garante", "IT"),
    # the generic noun still works when nothing better is said
    ("de", "Datenschutzbehörde: Supermarkt verarbeitete Gesichtsbilder rechtswidrig",
     "Die österreichische Behörde gab einer Kundin recht und ordnete die Löschung an.", None, "DSB", "AT"),
    # regional DPA through a city adjective
    ("de", "Hamburger Datenschutzbeauftragter verhängt Bußgeld wegen Gesichtserkennung im Stadion", "",
     None, "HmbBfDI", "DE"),
    ("de", "Gesichtserkennung am Eingang: 40.000 Euro Bußgeld für Spielhalle",
     "Die Berliner Datenschutzbeauftragte ahndet den Einsatz der Kameras.", None, "BlnBDI", "DE"),
    # a generic noun every German state's authority shares, placed by a city of that state
    ("de", "Gesichtsscan statt Stempeluhr: Bußgeld für Spedition",
     "Die Landesdatenschutzbeauftragte in Düsseldorf hat gegen das Unternehmen ein Bußgeld verhängt.",
     None, "LDI NRW", "DE"),
    ("de", "Gesichtserkennung im Fitnessstudio: Bußgeld",
     "Der Landesbeauftragte für Datenschutz in Hessen verhängte 30.000 Euro.", None, "HBDI", "DE"),
    # another country's adjective beside a body's name makes it that country's body
    ("it", "Spagna, telecamere che riconoscono i volti nei negozi: multa da 1,5 milioni",
     "Il Garante privacy spagnolo ha sanzionato la catena di negozi.", None, "AEPD", "ES"),
    # a region's body shares the national body's generic noun: the region picks it, else the nation
    ("es", "Protección de Datos catalana declara ilegal el fichaje con reconocimiento facial",
     "El hospital de Girona debe desactivar el sistema.", None, "APDCAT", "ES"),
    ("es", "Protección de Datos multa a un gimnasio de Sevilla por el reconocimiento facial",
     "La sanción asciende a 40.000 euros por tratar datos biométricos en España.", None, "AEPD", "ES"),
    # bodies of Peru, Finland (named in Swedish) and Cyprus (in Greek)
    ("es", "Sancionan a cadena de gimnasios por exigir reconocimiento facial",
     "La Autoridad Nacional de Protección de Datos Personales impuso una multa de S/ 80.000 a la empresa.",
     None, "ANPD", "PE"),
    ("sv", "Dataombudsmannen ger polisen en anmärkning för ansiktsigenkänning",
     "Polisen testade tjänsten utan tillstånd.", None, "Tietosuojavaltuutettu", "FI"),
    ("el", "Πρόστιμο € 20.000 σε κλινική για σύστημα αναγνώρισης προσώπου",
     "Η Επίτροπος Προστασίας Δεδομένων Προσωπικού Χαρακτήρα έκρινε ότι η κλινική παραβίασε τον κανονισμό.",
     None, "Cyprus Data Protection Commissioner", "CY"),
    # a country's adjective next to another body's name across punctuation is no adjective of it
    ("en", "Clearview AI fined by the UK ICO, Italian Garante, Greek HDPA",
     "The facial recognition firm faces penalties across Europe.", None, "ICO", "GB"),
    ("en", "EU: CNIL fines Clearview AI €20m over facial recognition", "", None, "CNIL", "FR"),
    # a Catalan place elsewhere does not make Spain's generic name Catalonia's body
    ("es", "Protección de Datos multa con 20.000 euros a un gimnasio de Barcelona",
     "El gimnasio usaba reconocimiento facial en la entrada.", None, "AEPD", "ES"),
    # bodies that share an acronym are told apart by the place
    ("es", "La ANPD del Perú multa a una cadena por el reconocimiento facial", "", None, "ANPD", "PE"),
    ("pt", "A ANPD multa rede de farmácias por reconhecimento facial no Brasil", "", None, "ANPD", "BR"),
    # every Finnish place is read (the file once listed Finland twice, and YAML kept the shorter list)
    ("it", "Il Garante finlandese sanziona la polizia di Helsinki per il riconoscimento facciale", "",
     None, "Tietosuojavaltuutettu", "FI"),
])
def test_regulator_named_in_text_wins(clf, language, title, summary, source, regulator, jurisdiction) -> None:
    v = verdict(clf, title, summary, language, source)
    assert v.is_enforcement, v.reasons
    assert (v.regulator, v.jurisdiction) == (regulator, jurisdiction)


def test_court_in_running_text_is_the_regulator(clf) -> None:
    v = verdict(clf, "Reconnaissance faciale au stade : le tribunal administratif de Lyon suspend le dispositif",
                "Le juge estime que le club a traité des visages sans base légale.", "fr")
    assert v.is_enforcement and v.action_type == "judgment"
    assert v.regulator == "Tribunal administratif de Lyon"


def test_brazilian_state_court_from_gazetteer(clf) -> None:
    v = verdict(clf, "Justiça condena rede de farmácias por reconhecimento facial de clientes",
                "O Tribunal de Justiça de São Paulo (TJ-SP) considerou ilegal a coleta de dados faciais.", "pt")
    assert v.is_enforcement and (v.regulator, v.jurisdiction) == ("TJ-SP", "BR")


@pytest.mark.parametrize(("language", "title", "summary", "target"), [
    # no pattern around the name, but a legal form ends it
    ("it", "Riconoscimento facciale dei dipendenti, sanzione del Garante",
     "Nel mirino la Logistica Padana S.p.A., che rilevava le presenze con i volti.", "Logistica Padana S.p.A."),
    ("sv", "Sanktionsavgift för ansiktsigenkänning i trapphus",
     "IMY har granskat Solbacka Fastigheter AB, som får betala 200 000 kronor.", "Solbacka Fastigheter AB"),
    ("de", "Bußgeld wegen Gesichtserkennung im Fitnessstudio",
     "Die Aufsichtsbehörde ahndet den Verstoß. Betroffen ist die Nordlicht Fitness GmbH.", "Nordlicht Fitness GmbH"),
    ("es", "La AEPD multa a un gimnasio por el reconocimiento facial de sus socios",
     "La Agencia considera que Gimnasios del Sur, S.L. trató datos biométricos sin base legal.",
     "Gimnasios del Sur, S.L."),
    ("pt", "Tribunal mantém condenação da Metrovia por câmeras de reconhecimento facial",
     "A empresa terá de pagar R$ 300 mil por danos morais coletivos.", "Metrovia"),
    ("sv", "IMY: kommunen bröt mot dataskyddsförordningen med ansiktsigenkänning",
     "Integritetsskyddsmyndigheten påför Polismyndigheten en sanktionsavgift på 1 000 000 kronor.",
     "Polismyndigheten"),
    ("sv", "Skola bötfälls för ansiktsigenkänning i matsalen",
     "IMY påför utbildningsnämnden i Umeå kommun en sanktionsavgift på 150 000 kronor.", "Umeå kommun"),
    ("en", "School reprimanded over facial recognition at the canteen",
     "The ICO has issued a reprimand to Northgate Academy, which scanned pupils' faces without consent.",
     "Northgate Academy"),
    ("de", "Datenschutzbehörde: Gesichtserkennung im Kaufhaus verstößt gegen die DSGVO",
     "Die österreichische Datenschutzbehörde hat festgestellt, dass die Firma Modehaus Berger gegen die DSGVO verstoßen hat.",
     None),
])
def test_targets(clf, language, title, summary, target) -> None:
    v = verdict(clf, title, summary, language)
    assert v.is_enforcement, v.reasons
    if target is None:
        assert v.target is None or "DSGVO" not in v.target
    else:
        assert v.target == target


@pytest.mark.parametrize(("language", "title", "summary", "target"), [
    # a public body or school named by its head word, wherever it stands
    ("en", "Watchdog announces €80,000 fine of the Department of Rural Affairs",
     "Staff badges were checked against face templates without a legal basis.", "Department of Rural Affairs"),
    ("en", "Regulator reprimands school over face-scanning canteen",
     "Hollybank Community High School in Leeds took payments by scanning pupils' faces, the ICO found.",
     "Hollybank Community High School"),
    ("fr", "La CNIL met en demeure une commune pour ses caméras à reconnaissance faciale",
     "Lors d'un contrôle, la CNIL a constaté que la commune de Saint-Aubin-sur-Loire utilisait le module.",
     "Commune de Saint-Aubin-sur-Loire"),
    ("es", "Un juez suspende el reconocimiento facial en el metro",
     "El juzgado ordenó suspender el sistema del Gobierno de la Ciudad de Rosario por falta de controles.",
     "Gobierno de la Ciudad de Rosario"),
    ("pt", "CNPD proíbe reconhecimento facial em exames online",
     "A CNPD determinou que o Instituto Politécnico de Braga deixe de usar o software.",
     "Instituto Politécnico de Braga"),
    ("sv", "IMY: ansiktsigenkänning i skolan bröt mot dataskyddsförordningen",
     "Integritetsskyddsmyndigheten påför Storvik kommun en sanktionsavgift.", "Storvik kommun"),
    ("fr", "Examens à distance : une université mise en demeure pour la reconnaissance faciale",
     "La CNIL a mis en demeure l'Université de Montclair de cesser de comparer les visages.",
     "Université de Montclair"),
    ("it", "Presenze con il volto, il Garante multa l'ospedale",
     "Sanzionata l'Azienda ospedaliera San Carlo di Vetralla per i terminali di riconoscimento facciale.",
     "Azienda ospedaliera San Carlo di Vetralla"),
    ("en", "School's facial recognition roll-call ends in a fine",
     "The regulator ordered Lindvik municipality to pay SEK 150,000.", "Lindvik municipality"),
    # the subject of a breach
    ("fr", "La SNCF a enfreint la loi avec ses caméras à reconnaissance faciale, juge la CNIL", "", "SNCF"),
    # a legal form alone is no name; a name ending a regulator's longer name is none either
    ("en", "Photo app maker settles FTC charges over facial recognition",
     "Under the settlement, Pixtree, Inc. must delete the face models built from users' photos.", "Pixtree, Inc."),
    ("de", "Clearview AI: Anordnung zur Löschung eines Gesichtsprofils",
     "Der Hamburgische Beauftragte für Datenschutz und Informationsfreiheit hat gegenüber der Firma angeordnet, "
     "den Hashwert zu löschen.", "Clearview AI"),
    # German capitalises every noun: one capitalised word yields to a company named with its legal form
    ("de", "Gesichtsscan statt Stempeluhr: 80.000 Euro Bußgeld für Spedition",
     "Die Landesdatenschutzbeauftragte hat gegen die Elbtal Logistik GmbH ein Bußgeld verhängt.",
     "Elbtal Logistik GmbH"),
    # a capitalised word before a common noun describes it: the school is named in the summary
    ("en", "ICO reprimands Essex school that introduced facial recognition for canteen payments",
     "Hollybank Community High School began scanning pupils' faces without an impact assessment.",
     "Hollybank Community High School"),
    # a known organisation under another name: its parent, its name in another language
    ("en", "Facebook parent settles Texas lawsuit over facial recognition", "", "Meta"),
    ("de", "Gesichtserkennung: Facebook-Konzern zahlt 1,4 Milliarden Dollar",
     "Der Konzern legt den Rechtsstreit mit dem Bundesstaat Texas bei.", "Meta"),
    ("fr", "La GRC a enfreint la loi en recourant à la reconnaissance faciale, conclut le commissaire", "", "RCMP"),
    # more legal forms: Italian without dots, Peruvian S.A.C., German and Swiss AG
    ("it", "Presenze con il volto, il Garante multa una società di servizi",
     "Sanzionata la Servizi Ambientali Irpini Srl per i terminali di riconoscimento facciale.",
     "Servizi Ambientali Irpini Srl"),
    ("es", "Sancionan a una cadena de gimnasios por el reconocimiento facial",
     "La autoridad impuso una multa de S/ 80.000 a Gimnasios del Pacífico S.A.C. por tratar datos biométricos.",
     "Gimnasios del Pacífico S.A.C."),
    ("de", "Gesichtserkennung am Eingang: EDÖB verbietet Fitnesskette den Scan",
     "Der Beauftragte verlangt, dass die Alpenfit Schweiz AG die biometrischen Daten löscht.", "Alpenfit Schweiz AG"),
    # a capitalised lexicon word before the head is no part of the name
    ("en", "Privacy Watchdog Reprimands Riverside Academy Over Facial Recognition", "", "Riverside Academy"),
    # a name ends with its sentence
    ("en", "Face recognition on campus breached the law, regulator finds",
     "The regulator reprimanded the Northfield University. The Commission will follow up.", "Northfield University"),
    # a place-adjective opening a company's name does not disqualify it ("Hellenic" = Greece)
    ("el", "Πρόστιμο 15.000 ευρώ για σύστημα ωρομέτρησης με αναγνώριση προσώπου",
     "Η Αρχή Προστασίας Δεδομένων έκρινε ότι η Ελληνικά Τρόφιμα Α.Ε. επεξεργαζόταν βιομετρικά δεδομένα.",
     "Ελληνικά Τρόφιμα Α.Ε."),
    # cases from the reviews of the eleventh session's target rules
    # a company right after "Regulator:" is no part of the regulator's name
    ("en", "ICO: Acme Leisure ordered to stop using facial recognition", "", "Acme Leisure"),
    # the rest of a regulator's own name is no target
    ("es", "La Agencia de Protección de Datos de la Comunidad de Madrid multa a un gimnasio",
     "El gimnasio Fitlux usaba reconocimiento facial en la entrada sin base legal.", None),
    # "and" joins two bodies, it does not continue one
    ("en", "Regulator reprimands force over facial recognition trial",
     "The regulator criticised the police and Home Office for the trial.", None),
    # an abbreviation ending in a dot and a possessive inside a head-word name
    ("en", "Watchdog reprimands school over facial recognition canteen",
     "St. Mary's High School scanned pupils' faces without consent, the ICO found.", "St. Mary's High School"),
    # outside a Title Case headline a function word may belong to the name
    ("en", "Watchdog reprimands Isle of Man Constabulary over facial recognition", "", "Isle of Man Constabulary"),
    # in one, a word in capitals is no function word
    ("en", "ICO Fines Capita IT Services Over Facial Recognition Of Staff", "", "Capita IT Services"),
    # a capitalised word before a noun that a brand can precede is the brand
    ("en", "FTC bans Everalbum app from using facial recognition without consent", "", "Everalbum"),
    # in German, a word the item repeats stays the target beside another company's legal form
    ("de", "Bußgeld gegen Rewe wegen Gesichtserkennung an der Kasse",
     "Die Landesdatenschutzbeauftragte in Köln ahndet die Kameras der Cognitec Systems GmbH. "
     "Rewe muss 80.000 Euro zahlen.", "Rewe"),
    # in Title Case a name ends at a cue word after its first word; a name may open with a common noun
    ("en", "FTC Fines Bank of America Over Facial Recognition At Branches", "", "Bank of America"),
    ("en", "Police Scotland Told To Stop Using Facial Recognition Vans", "The ICO issued an enforcement notice.",
     "Police Scotland"),
    ("en", "University Of Melbourne Breached Privacy With Facial Recognition, Regulator Finds", "",
     "University Of Melbourne"),
    ("en", "Everalbum Photo App Settles With FTC Over Facial Recognition", "", "Everalbum"),
    # AG after one word ends a company's name too
    ("de", "Gesichtserkennung im Werk: Bußgeld gegen Konzern",
     "Das BayLDA stellte fest, dass die Siemens AG Gesichtsbilder ohne Rechtsgrundlage verarbeitet hatte.",
     "Siemens AG"),
    # a regulator's whole name inside a candidate: the regulator, no target
    ("sv", "Norska Datatilsynet inför vite mot gymkedja för ansiktsskanning", "", None),
    # a German sentence adverb before "muss" is no name
    ("de", "Gesichtserkennung im Fitnessstudio: Bußgeld vom Landesdatenschutzbeauftragten in Stuttgart",
     "Zudem muss der Betreiber die Gesichtsdaten löschen.", None),
    # in a Title Case headline, capitals that hold a lexicon word mark no name
    ("en", "Court Grants Final Approval to $68.5 Million Photo App BIPA Settlement",
     "An Illinois court approved the settlement resolving claims against Pixtree, Inc. over face templates.",
     "Pixtree"),
    ("en", "Photo App Developer Must Delete Facial Recognition Models Under FTC Settlement",
     "Pixtree, Inc. is required to delete face embeddings built from users' photos.", "Pixtree, Inc."),
])
def test_targets_beyond_the_language_patterns(clf, language, title, summary, target) -> None:
    """Head words, legal forms, Title Case, descriptive nouns, and names that are no target."""
    v = verdict(clf, title, summary, language)
    assert v.is_enforcement, v.reasons
    assert v.target == target


def test_the_summarys_exact_figure_replaces_the_headlines_rounding(clf) -> None:
    v = verdict(clf, "Loja é multada em R$ 58 mil por usar reconhecimento facial",
                "A Senacon concluiu que a loja captou rostos sem informar. O valor da multa é de R$ 58.767,00.", "pt")
    assert (v.amount, v.currency) == (58767, "BRL")
    v = verdict(clf, "Watchdog fines face search firm £2m",
                "The ICO also said the firm paid £10,000 in costs.", "en")
    assert (v.amount, v.currency) == (2_000_000, "GBP")  # a different amount is not a rounding


def test_a_generic_authority_name_with_another_countrys_adjective_is_that_countrys(clf) -> None:
    v = verdict(clf, "Ολλανδία: Πρόστιμο 30,5 εκατ. ευρώ σε εταιρεία αναγνώρισης προσώπων",
                "Η ολλανδική Αρχή Προστασίας Δεδομένων έκρινε ότι η εταιρεία συνέλεξε παράνομα φωτογραφίες.", "el")
    assert (v.regulator, v.jurisdiction) == ("AP", "NL")
    v = verdict(clf, "Πρόστιμο 20.000 ευρώ για αναγνώριση προσώπου",
                "Η Αρχή Προστασίας Δεδομένων επέβαλε πρόστιμο σε αλυσίδα γυμναστηρίων.", "el")
    assert (v.regulator, v.jurisdiction) == ("HDPA", "GR")


def test_a_county_named_beside_a_judge_is_no_target(clf) -> None:
    v = verdict(clf, "Photo app maker inks $2M deal to end face-scan suit",
                "The settlement awaits final approval from a Cook County judge.", "en")
    assert v.is_enforcement and v.target is None


@pytest.mark.parametrize(("title", "summary", "target"), [
    ("OIPC AB finds retailer's facial recognition use unlawful", "", None),  # a regulator, not a company
    ("Privacy commissioner finds mall's facial recognition unlawful",
     "CALGARY, AB - The commissioner found the operator broke the law.", None),  # a dateline
    ("ICO orders leisure firm to stop facial recognition",  # a known company beats a legal form
     "After a complaint by Privacy Advocates Ltd, the ICO ordered Serco Leisure to stop using face scans.", "Serco"),
])
def test_a_legal_form_does_not_make_a_regulator_or_a_dateline_the_target(clf, title, summary, target) -> None:
    assert verdict(clf, title, summary, "en").target == target


def test_swedish_police_is_the_target_and_canonical(clf) -> None:
    v = verdict(clf, "Polisen får böta för ansiktsigenkänningsappen", "IMY konstaterar brister.", "sv")
    assert v.is_enforcement and v.target == "Polismyndigheten"


@pytest.mark.parametrize(("text", "scaled", "thousands", "value"), [
    ("1.400", True, ".", 1400.0),
    ("1.400", True, ",", 1.4),
    ("1,375", True, ",", 1375.0),
    ("2,5", True, ".", 2.5),
    ("50.000", False, None, 50000.0),
])
def test_parse_number_with_thousands_separator(text, scaled, thousands, value) -> None:
    assert parse_number(text, scaled, thousands) == value


def test_scale_word_after_dot_grouping_in_spanish(clf) -> None:
    v = verdict(clf, "Una red social pagará 2.300 millones de dólares a Illinois por el reconocimiento facial",
                "El fiscal general anunció el acuerdo.", "es")
    assert v.amount == 2_300_000_000 and v.currency == "USD"


def test_counts_are_not_money(clf) -> None:
    v = verdict(clf, "Privacy commissioner finds mall operator broke the law with facial recognition",
                "The Office of the Privacy Commissioner of Canada found the company captured 3 million shoppers' faces.",
                "en")
    assert v.is_enforcement and v.amount is None


def test_a_run_of_long_tokens_is_no_target(clf) -> None:
    """A candidate longer than any organisation's name (MAX_TARGET) is a run of tokens; it would
    also not fit the events' target column on PostgreSQL (300), failing the feed on every poll."""
    for title in ("ICO fines Acme" + "x" * 300 + " over facial recognition",
                  "CNIL fines " + " ".join(["Zyxwvutsrqponmlkjihgfedcba" * 3] * 6) + " for facial recognition"):
        verdict = clf.classify(ItemText("x", title, "", language="en"))
        assert verdict.is_enforcement and verdict.target is None
    verdict = clf.classify(ItemText("x", "ICO fines Clearview AI over facial recognition", "", language="en"))
    assert verdict.target == "Clearview AI" and len(verdict.target) <= MAX_TARGET




@pytest.mark.parametrize(("title", "summary", "amount"), [
    ("ICO fines Clearview AI £7,552,800 over facial recognition", "The £7.5m penalty is the ICO's largest.", 7_552_800),
    ("Garante fines Clearview AI €20m over facial recognition",
     "A separate €19.2m fine was imposed in Greece.", 20_000_000),
])
def test_only_the_exact_figure_of_a_headline_rounding_replaces_it(clf, title, summary, amount) -> None:
    v = verdict(clf, title, summary, "en")
    assert v.amount == amount


def test_a_state_authority_noun_names_no_state_without_a_place(clf) -> None:
    v = verdict(clf, "Landesdatenschutzbeauftragte verhängt Bußgeld wegen Gesichtserkennung",
                "Das Fitnessstudio muss 20.000 Euro zahlen, teilte die Behörde vor dem Essen mit.", "de")
    assert v.is_enforcement and v.regulator is None
    v = verdict(clf, "Die Landesbeauftragte für Datenschutz und Informationsfreiheit Nordrhein-Westfalen "
                "verhängt Bußgeld wegen Gesichtserkennung", "", "de")
    assert (v.regulator, v.jurisdiction) == ("LDI NRW", "DE")  # the full name is no generic noun


@pytest.mark.parametrize(("summary", "target"), [
    ("Former AG Jim Hood said the settlement with Acme Vision was fair.", "Acme Vision"),
    ("According to the Quebec AG report, Acme Vision paid the penalty.", "Acme Vision"),
])
def test_ag_after_one_word_or_before_a_name_is_no_company(clf, summary, target) -> None:
    v = verdict(clf, "Attorney general fines firm over facial recognition", summary, "en")
    assert v.target in (target, None) and v.target != "Former AG" and "AG" not in (v.target or "")


def test_a_key_written_twice_in_the_gazetteer_is_an_error(tmp_path) -> None:
    from frwatch.classify.regulators import Gazetteer
    path = tmp_path / "regulators.yaml"
    path.write_text("places:\n  FI: [Finland, Helsinki]\n  FI: [Finland]\n", encoding="utf-8")
    with pytest.raises(ValueError, match="FI"):
        Gazetteer.load(path)
    path.write_text("regulators:\n  - {name: X, jurisdiction: FI}\n  - {name: X, jurisdiction: FI}\n", encoding="utf-8")
    with pytest.raises(ValueError, match="twice"):
        Gazetteer.load(path)


def test_lira_amounts(clf) -> None:
    v = verdict(clf, "Turkey: KVKK fines private hospital TRY 300,000 over facial recognition attendance system", "", "en")
    assert (v.amount, v.currency) == (300_000, "TRY")




def test_a_lower_case_currency_code_is_a_word(clf) -> None:
    v = verdict(clf, "ICO reprimands police force over facial recognition",
                "The force will try 2 more deployments before the review.", "en")
    assert v.is_enforcement and v.amount is None


def test_the_gazetteer_loader_accepts_merge_keys(tmp_path) -> None:
    from frwatch.classify.regulators import Gazetteer
    path = tmp_path / "regulators.yaml"
    path.write_text("base: &dpa {kind: dpa, national: true}\n"
                    "regulators:\n  - {<<: *dpa, name: X, jurisdiction: FI, aliases: [Xyzzy]}\n", encoding="utf-8")
    assert Gazetteer.load(path).regulators[0].national




@pytest.mark.parametrize(("language", "jurisdiction", "currency"), [("no", "NO", "NOK"), ("da", "DK", "DKK")])
def test_the_language_picks_among_same_named_bodies_when_no_place_does(clf, language, jurisdiction, currency) -> None:
    v = verdict(clf, "Datatilsynet: bøde til kæde for ansigtsgenkendelse" if language == "da"
                else "Datatilsynet: overtredelsesgebyr til kjede for ansiktsgjenkjenning",
                "Datatilsynet har gitt kjeden et gebyr på 3 millioner kroner." if language == "no"
                else "Datatilsynet har givet kæden en bøde på 3 millioner kroner.", language=language)
    assert (v.regulator, v.jurisdiction, v.amount, v.currency) == ("Datatilsynet", jurisdiction, 3_000_000, currency)
    # a place named in the text still decides
    v = verdict(clf, "Datatilsynet i Norge giver butik en bøde for ansigtsgenkendelse", language="da")
    assert v.jurisdiction == "NO"


def test_markup_and_entities_left_in_a_feeds_text_are_read_as_text(clf) -> None:
    v = verdict(clf, "Watchdog fines retailer &#163;2m over facial recognition &#8211; report",
                "<p>The Information Commissioner&#8217;s Office said Corner Shops Ltd &amp; partners broke "
                "the law.</p><p>It must delete the images.</p>", language="en")
    assert v.is_enforcement and (v.amount, v.currency, v.regulator) == (2_000_000, "GBP", "ICO")
    assert v.target == "Corner Shops Ltd"


@pytest.mark.parametrize(("title", "summary", "amount"), [
    # the amount in the penalty payment's own sentence, not the fine it enforces
    ("Facial recognition: regulator collects the penalty payment from a photo app",
     "In 2023 the CNIL imposed a fine of 8 million euros on the company. It has now set the periodic "
     "penalty payment at 1.4 million euros because the images were not deleted.", 1_400_000),
    # a sentence stating both: the first amount, as for any action
    ("Facial recognition: periodic penalty payment for a photo app",
     "The CNIL set the periodic penalty payment at 1.4 million euros; the earlier fine of 8 million euros "
     "stands.", 1_400_000),
])
def test_a_penalty_payments_amount_is_the_one_stated_with_it(clf, title, summary, amount) -> None:
    v = verdict(clf, title, summary, language="en")
    assert v.action_type == "penalty_payment" and v.amount == amount


@pytest.mark.parametrize(("language", "title", "action_type"), [
    ("nl", "AP: boete en last onder dwangsom voor app vanwege gezichtsherkenning", "fine"),
    ("en", "CNIL gives photo app a fine and periodic penalty payments over facial recognition", "fine"),
    # a fine recalled beside the payment is not joined to it
    ("de", "Gesichtserkennung: Behörde verhängt Zwangsgeld gegen Foto-App", "penalty_payment"),
])
def test_a_fine_joined_to_a_penalty_payment_is_the_action(clf, language, title, action_type) -> None:
    assert verdict(clf, title, language=language).action_type == action_type


@pytest.mark.parametrize(("language", "title", "summary", "target"), [
    # a country with an elided article is no target
    ("fr", "L'Espagne interdit à Visiotech de traiter les visages de ses citoyens",
     "Le régulateur espagnol a infligé 2 millions d'euros à la société Visiotech.", "Visiotech"),
    # a county before "academy" describes it; the academy's name follows
    ("en", "ICO reprimands Devon academy over facial recognition in canteen",
     "Oakfield Park Academy used the system for a year without an impact assessment.", "Oakfield Park Academy"),
])
def test_no_target_from_a_place_before_its_noun_or_after_an_elided_article(clf, language, title, summary,
                                                                            target) -> None:
    assert verdict(clf, title, summary, language=language).target == target


@pytest.mark.parametrize(("language", "title", "summary", "regulator", "jurisdiction"), [
    # an English county or town places a generic watchdog
    ("en", "Lincolnshire college reprimanded over facial recognition at the gates",
     "The data watchdog said the college had not assessed the risks.", "ICO", "GB"),
    # an Australian state does, and an Italian "Commissaria" is an authority
    ("en", "Retailer's facial recognition cameras broke privacy law, commissioner finds",
     "The chain scanned shoppers in Queensland stores for three years.", "OAIC", "AU"),
    ("it", "Australia, supermercati hanno violato la privacy con il riconoscimento facciale",
     "Secondo la Commissaria alla privacy australiana i dati sono stati raccolti senza consenso.", "OAIC", "AU"),
])
def test_more_places_and_authority_nouns(clf, language, title, summary, regulator, jurisdiction) -> None:
    v = verdict(clf, title, summary, language=language)
    assert v.is_enforcement and (v.regulator, v.jurisdiction) == (regulator, jurisdiction)


def test_a_hyphenated_compound_amount(clf) -> None:
    v = verdict(clf, "Gesichtserkennung: 90-Millionen-Dollar-Vergleich mit Foto-App genehmigt",
                "Ein US-Bundesrichter hat den Vergleich in der Sammelklage abgesegnet.", language="de")
    assert v.action_type == "settlement" and (v.amount, v.currency) == (90_000_000, "USD")


def test_a_regulator_condemning_a_company_to_pay_fines_it(clf) -> None:
    v = verdict(clf, "Le gendarme espagnol des données condamne une salle de sport à 300 000 euros",
                "L'AEPD reproche à la salle d'avoir imposé la reconnaissance faciale à l'entrée.", language="fr")
    assert (v.action_type, v.regulator, v.amount) == ("fine", "AEPD", 300_000)
    # a court's condemnation stays a judgment
    v = verdict(clf, "Le tribunal condamne une salle de sport à 300 000 euros pour la reconnaissance faciale",
                "", language="fr")
    assert v.action_type == "judgment"


@pytest.mark.parametrize(("language", "title", "summary", "regulator", "jurisdiction", "amount", "currency"), [
    ("en", "Romanian DPA fines bakery 49,770 lei over facial recognition time clocks",
     "The National Supervisory Authority for Personal Data Processing (ANSPDCP) sanctioned Pékség Alba SRL.",
     "ANSPDCP", "RO", 49_770, "RON"),
    ("en", "NAIH fines lender HUF 15 million over face matching in remote onboarding",
     "Hungary's authority found the bank kept face templates.", "NAIH", "HU", 15_000_000, "HUF"),
    ("es", "La SIC multa a una cadena de gimnasios por reconocimiento facial",
     "La Superintendencia de Industria y Comercio impuso una multa de $ 950.000.000 a la empresa colombiana.",
     "SIC", "CO", 950_000_000, "COP"),
    # "$" in Argentina is the peso, unless the text says dollars
    ("es", "La AAIP sancionó a un club con una multa de $ 5.000.000 por el reconocimiento facial", "",
     "AAIP", "AR", 5_000_000, "ARS"),
    ("en", "ODPC issues penalty notice of KES 2 million to a supermarket over facial recognition", "",
     "ODPC", "KE", 2_000_000, "KES"),
])
def test_regulators_places_and_currencies_of_more_countries(clf, language, title, summary, regulator,
                                                             jurisdiction, amount, currency) -> None:
    v = verdict(clf, title, summary, language=language)
    assert (v.regulator, v.jurisdiction, v.amount, v.currency) == (regulator, jurisdiction, amount, currency)


@pytest.mark.parametrize(("language", "title", "summary", "target"), [
    # a regulator described by place and noun is no target; the company with its legal form is
    ("en", "Lithuanian DPA fines payment firm KlientPay UAB €40,000 over selfie face templates",
     "The State Data Protection Inspectorate (VDAI) found the templates were kept for years.", "KlientPay UAB"),
    # "issues … notice of KES 2 million to X", "imposes … penalty surcharge on X"
    ("en", "ODPC issues penalty notice of KES 2 million to Westgate Plaza over facial recognition", "",
     "Westgate Plaza"),
    ("en", "PIPC imposes KRW 900 million penalty surcharge on Hanbit Door Systems over facial recognition", "",
     "Hanbit Door Systems"),
    ("pl", "Prezes UODO nałożył karę 200 tys. zł na spółkę Magazyny Odra za rozpoznawanie twarzy", "",
     "Magazyny Odra"),
])
def test_targets_after_amounts_and_beside_described_regulators(clf, language, title, summary, target) -> None:
    assert verdict(clf, title, summary, language=language).target == target


@pytest.mark.parametrize(("language", "title", "summary", "regulator", "jurisdiction", "currency"), [
    # names several countries' bodies share need their place
    ("en", "Britain's information regulator fines retailer over facial recognition", "", "ICO", "GB", None),
    ("en", "Office of the Data Protection Commissioner orders Irish bank to stop facial recognition", "",
     "DPC", "IE", None),
    ("en", "Thailand's PDPC fines hospital over facial recognition", "", "PDPC", "TH", None),
    # "$" stays the dollar in English copy about Colombia
    ("en", "Colombia's SIC fines app over face scans",
     "The Superintendencia de Industria y Comercio imposed a fine of $1.5 million.", "SIC", "CO", "USD"),
])
def test_shared_body_names_and_dollars_abroad(clf, language, title, summary, regulator, jurisdiction,
                                              currency) -> None:
    v = verdict(clf, title, summary, language=language)
    assert (v.regulator, v.jurisdiction) == (regulator, jurisdiction) and v.currency == currency


def test_croatian_kuna_before_the_euro(clf) -> None:
    def currency(year: int) -> str | None:
        return clf.classify(ItemText(id="t", title="AZOP fines bank over facial recognition",
                                     summary="The Croatian Personal Data Protection Agency imposed a fine of 2.3 million.",
                                     language="en", published=datetime(year, 5, 1, tzinfo=timezone.utc))).currency
    assert (currency(2021), currency(2024)) == ("HRK", "EUR")


@pytest.mark.parametrize(("title", "target"), [
    ("DPC reprimands school in Ennis, Co. Clare over facial recognition", None),  # a county, no legal form
    ("Nairobi mall fined KSh5 million for scanning shoppers' faces", None),  # an amount, no name
    ("PIPC fines Hanbit Co. over facial recognition door system", "Hanbit Co"),
])
def test_legal_form_co_and_amounts_as_targets(clf, title, target) -> None:
    assert verdict(clf, title, language="en").target == target


def test_a_newswire_is_no_regulator_and_a_configured_feed_still_is(clf) -> None:
    # "AP" names the Dutch body only where the text, its language or its feed places it
    v = verdict(clf, "City settles wrongful arrest lawsuit over police facial recognition",
                "The man will receive $300,000 under the settlement.", language="en", source_name="AP News")
    assert v.regulator is None
    v = clf.classify(ItemText(id="t", title="AP legt boete op aan supermarkt voor gezichtsherkenning", summary="",
                              language="nl"))
    assert v.regulator == "AP"
    v = clf.classify(ItemText(id="t", title="Fine for supermarket over facial recognition", summary="",
                              language="en", source_name="AP", source_regulator="AP", source_jurisdiction="NL"))
    assert (v.regulator, v.jurisdiction) == ("AP", "NL")


@pytest.mark.parametrize(("language", "title", "summary", "target"), [
    ("fr", "La CNIL inflige une amende de 5 millions d'euros à Visiotech",
     "Elle doit aussi effacer les visages des personnes en France.", "Visiotech"),  # "Elle" is a pronoun
    ("it", "Esami online con il riconoscimento facciale, multa da 200mila euro alla Bocconi",
     "Secondo il Garante, il software trattava dati biometrici degli studenti.", "Bocconi"),
])
def test_more_target_phrasings(clf, language, title, summary, target) -> None:
    assert verdict(clf, title, summary, language=language).target == target


@pytest.mark.parametrize(("language", "title", "target"), [
    # a city after "à" / "a" is where, not whom
    ("fr", "Reconnaissance faciale : la CNIL inflige une amende de 50 000 euros à Paris à la société Visio", "Visio"),
    ("it", "Riconoscimento facciale, il Garante multa da 50mila euro a Milano la Clearview AI", "Clearview AI"),
])
def test_a_city_is_no_target(clf, language, title, target) -> None:
    assert verdict(clf, title, language=language).target == target
