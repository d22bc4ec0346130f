"""Outcome/posture cues and broadened action vocabulary, on sentences written for these tests."""

from __future__ import annotations

import re

import pytest

from frwatch.classify import Classifier, ItemText
from frwatch.classify.lexicon import LexiconError, load_lexicon
from frwatch.classify.text import compile_terms, display, term_regex


@pytest.fixture(scope="module")
def clf() -> Classifier:
    return Classifier.load()


def verdict(clf: Classifier, title: str, summary: str = "", language: str | None = None):
    return clf.classify(ItemText(id="t", title=title, summary=summary, language=language))


def test_umlaut_digraph_terms_match_folded_umlauts() -> None:
    pattern = compile_terms(["*loeschung ... an", "pruefung"], digraphs=True)
    assert pattern is not None
    assert pattern.search("behorde ordnet die loschung der fotos an")
    assert pattern.search("die loeschung wird an")
    assert pattern.search("eine prufung")
    assert not re.search(term_regex("*loeschung ... an"), "behorde ordnet die loschung der fotos an")


@pytest.mark.parametrize(("language", "title", "summary"), [
    # appeal/review filed by the company
    ("en", "Retailer to challenge watchdog's facial recognition ruling",
     "The grocery chain said it would seek a review of the privacy regulator's determination."),
    ("fr", "Reconnaissance faciale : la société fait appel de la sanction de la CNIL", ""),
    ("es", "La cadena recurre la multa de la AEPD por el reconocimiento facial", ""),
    # ruling in the user's favour / decision overturned
    ("en", "Court rules council's use of facial recognition cameras was lawful",
     "A judge dismissed the campaigners' challenge against the city."),
    ("de", "Verwaltungsgericht gibt Stadt recht: Gesichtserkennung am Bahnhof darf bleiben",
     "Die Anordnung der Datenschutzbehörde wurde aufgehoben."),
    ("it", "Il tribunale annulla la sanzione del Garante sul riconoscimento facciale", ""),
    ("nl", "Rechter vernietigt boete van AP voor gezichtsherkenning bij sportschool", ""),
    ("pt", "Tribunal anula multa aplicada a loja por reconhecimento facial", ""),
    ("el", "Το δικαστήριο ακύρωσε το πρόστιμο για την αναγνώριση προσώπου", ""),
    # regulator decides not to act / voluntary withdrawal / process opened
    ("en", "Privacy regulator drops further action against face search site",
     "The commissioner said a determination was not warranted."),
    ("es", "Una cadena de gimnasios desiste del reconocimiento facial",
     "La AEPD mantiene abierto un procedimiento sancionador."),
    ("sv", "IMY avskriver ärendet om ansiktsigenkänning i butik", ""),
    ("sv", "Datainspektionen ger kommunen klartecken för ansiktsigenkänning", ""),
    # a court siding with the user, a claim dismissed, a user found compliant
    ("en", "Appeals court sides with police over stadium facial recognition",
     "The judges quashed nothing and left the regulator's ban order without effect."),
    ("en", "Judge throws out shopper's facial recognition suit against mall",
     "The court dismissed the claim that the face-matching cameras breached state privacy law."),
    ("en", "Airport's face-boarding trial complied with privacy law, commissioner finds",
     "The commissioner warned that a permanent system would need stronger safeguards."),
    ("nl", "Rechter: gemeente mag camera's met gezichtsherkenning blijven gebruiken",
     "Volgens de rechtbank is het gebruik niet in strijd met de AVG."),
    # a bid or a collective complaint is not a ban
    ("en", "City court rejects campaigners' bid to ban facial recognition cameras",
     "The judge said the network was proportionate; the group said it would appeal."),
    ("fr", "Reconnaissance faciale : plainte collective de 8 000 personnes contre la mairie",
     "L'association saisit la CNIL et demande une interdiction du dispositif."),
    # legal action taken by a person; a fine announced as intended
    ("en", "Shopper takes legal action against retailer over facial recognition error",
     "She has launched a High Court challenge against the chain, backed by a rights group."),
    ("no", "Datatilsynet varsler millionbot mot kjøpesenter for ansiktsgjenkjenning",
     "Senteret har frist til å uttale seg før endelig vedtak fattes."),
    # questioned, challenged, referred; an appeal allowed, a way cleared, an escape
    ("en", "State attorney general questions arena operator over facial recognition bans on critics",
     "A letter asks the company to explain its policy and warns it may breach civil rights law."),
    ("en", "Grocer's use of facial recognition faces legal challenge",
     "A rights group has lodged a complaint asking the regulator to investigate the cameras."),
    ("en", "Appeals court clears the way for transit operator to switch face-matching cameras back on",
     "The judges partly overturned a ruling that had declared the system unconstitutional."),
    ("en", "Security firm escapes enforcement action over facial recognition watchlists",
     "The regulator said the company had since addressed its concerns."),
    # paying for equipment is no settlement
    ("en", "Met Police to pay £3m for new live facial recognition vans", "The force says the vans will be in use by spring."),
    ("de", "Stadt zahlt Millionen für Gesichtserkennungskameras", "Der Stadtrat hat die Anschaffung beschlossen."),
    # a body backing a bill: the bill is no law broken
    ("en", "Privacy watchdog backs facial recognition ban bill", "The commissioner told lawmakers the bill was overdue."),
    # a negative in the gap of a cue still counts ("court … rul*" around "overturns")
    ("en", "Court overturns ruling against police facial recognition", ""),
    ("en", "Liberty seeks court order in bid to stop police facial recognition", ""),
    # "remarkable", a campaigners' demand, "sans cesse"
    ("sv", "IMY: Polisens användning av ansiktsigenkänning är anmärkningsvärd", ""),
    ("fr", "Reconnaissance faciale : La Quadrature du Net exige que la CNIL fasse cesser les expérimentations", ""),
    ("fr", "Reconnaissance faciale : la CNIL exige une vigilance sans cesse renouvelée des communes", ""),
    # no breach found; a settlement refused; a past ban as background
    ("en", "Supermarket facial recognition trial did not breach privacy law, commissioner says",
     "The retailer says incidents fell in stores using the cameras."),
    ("en", "Judge Nixes Face-Scan Timeclock BIPA Deal Over Claims Process",
     "A federal judge refused to preliminarily approve a $1.2 million settlement between a staffing agency and workers."),
    ("en", "A year after the FTC's pharmacy ban, retailers quietly return to facial recognition",
     "The order barred the chain from using the technology for five years."),
    # a court striking down a fine, a procedural ruling, a case closed, a practice upheld, a
    # general rule stated, fines told as history, a system allowed back
    ("en", "Court strikes down watchdog's fine over facial recognition", "The judge found the regulator lacked evidence."),
    ("en", "Upper Tribunal sides with ICO in jurisdiction dispute over face search firm",
     "The case goes back to the lower tribunal, which has yet to decide on the penalty."),
    ("en", "ICO concludes investigation into retail facial recognition firm without further action", ""),
    ("fr", "Le Conseil d'État valide la reconnaissance faciale dans le fichier des antécédents",
     "La haute juridiction a rejeté la requête de l'association."),
    ("nl", "AP: gezichtsherkenning in sportscholen bijna altijd verboden",
     "Volgens de toezichthouder mag het alleen met uitdrukkelijke toestemming."),
    ("en", "Clearview AI's database tops 50 billion images as police use grows",
     "Several European regulators have fined it in recent years, but it has not paid."),
    ("en", "Appeals court lets city restart facial recognition cameras under conditions",
     "Judges held the system is not unconstitutional in itself."),
    # approvals, signalled fines, opinions, annual reports, plans (the ninth blind set)
    ("en", "Football club gets green light to use facial recognition at stadium entrance",
     "The data protection agency approved the club's request to scan spectators' faces."),
    ("en", "Regulator signals fine for shopping centre over face-scanning cameras",
     "The authority sent an advance notification of the fee before any final decision."),
    ("fr", "Portiques de reconnaissance faciale au lycée : la CNIL rend son avis",
     "La CNIL estime le dispositif envisagé contraire au principe de proportionnalité."),
    ("fr", "Rapport annuel de la CNPD : les sanctions de l'année passée en revue",
     "Dont une amende pour un contrôle d'accès par reconnaissance faciale."),
    ("it", "Riconoscimento facciale, parere negativo del Garante sul sistema del ministero",
     "Nel parere inviato al ministero l'Autorità ritiene che il sistema sia privo di base giuridica."),
    ("it", "Tornelli con riconoscimento facciale in fabbrica, il giudice respinge il ricorso",
     "Per il tribunale il sistema non viola lo Statuto dei lavoratori."),
    ("it", "Stadi, telecamere con riconoscimento facciale ai tornelli allo studio",
     "Il Garante dovrà esprimersi; in passato ha inflitto sanzioni per sistemi analoghi."),
    ("nl", "Jaarverslag AP: boetes voor gezichtsherkenning goed voor recordbedrag", ""),
    ("fr", "La CNIL adresse un projet de mise en demeure à une commune pour la reconnaissance faciale", ""),
    ("en", "Regulators conclude facial recognition needs a legal framework", ""),
    ("fr", "Clearview AI affirme ne pas avoir contrevenu au RGPD avec la reconnaissance faciale", ""),
    ("fr", "Le préfet impose par arrêté l'usage de caméras à reconnaissance faciale au stade", ""),
    # fine proceedings opened are a process
    ("de", "Datenschutzbehörde leitet Bußgeldverfahren gegen Gesichtersuchmaschine ein",
     "Die Behörde prüft, ob die Suchmaschine biometrische Daten ohne Rechtsgrundlage verarbeitet."),
])
def test_outcomes_in_the_targets_favour_are_not_enforcement(clf, language, title, summary) -> None:
    v = verdict(clf, title, summary, language)
    assert not v.is_enforcement, v.reasons


@pytest.mark.parametrize(("language", "title", "summary"), [
    # words near the session's new negatives that do not negate
    ("fr", "La CNIL sanctionne Clearview AI suite à des plaintes collectives",
     "L'entreprise de reconnaissance faciale doit payer 20 millions d'euros."),
    ("en", "Clearview AI fined €30.5m by Dutch regulator over facial recognition database",
     "The company hadn't complied with earlier orders and must act to avoid a further penalty."),
    ("en", "ICO fines Serco Leisure over facial recognition of staff",
     "The company is allowed to lodge an appeal within 28 days."),
    ("en", "Court clears the way for Clearview AI fine over facial recognition", "The court rejected the company's objections."),
    ("no", "Datatilsynet gir treningskjede bot for ansiktsgjenkjenning",
     "Saken startet etter at en varsler meldte fra om kameraene."),
    # favour and background cues tied to their objects (a third review)
    ("en", "Court refuses to approve Clearview AI request to stay £7.5m ICO fine", ""),
    ("en", "Court nixes Clearview AI appeal, upholds facial recognition fine", ""),
    ("en", "Watchdog rejects settlement offer, fines Clearview AI €20m over facial recognition", ""),
    ("en", "OAIC finds Kmart breached privacy law with facial recognition",
     "Kmart said it did not breach the Act and is considering its options."),
    ("en", "Two years after the scandal, ICO fines Clearview AI £7.5m over facial recognition", ""),
    ("tr", "KVKK: okulda yüz tanıma sistemi kullanımı yasa dışı", ""),
    # cues of the ninth set tied to their objects (a fourth review)
    ("en", "Appeal court gives green light to Clearview AI fine over facial recognition", ""),
    ("en", "Judge approved FTC request to ban pharmacy chain from using facial recognition", ""),
    ("en", "Regulator fines retailer over facial recognition without advance notification to customers", ""),
    ("en", "Dutch regulator signals tough stance with €30.5m fine for Clearview AI", ""),
    ("it", "Il Garante multa l'azienda per il riconoscimento facciale: non viola solo il GDPR", ""),
    # a negative word inside the action cue ("renoncer" in "ordonne … de renoncer")
    ("fr", "Le Préposé fédéral ordonne à une salle de sport de renoncer à la reconnaissance faciale",
     "Le PFPDT exige que la société cesse de scanner le visage de ses membres."),
    # a pilot project stopped: "projet" is no hedge here
    ("fr", "Reconnaissance faciale à l'aéroport : l'organe de contrôle impose l'arrêt du projet de la police",
     "Le COC estime que le traitement ne repose sur aucune base légale."),
    # an authority named by a compound noun, a penalty payment imposed
    ("nl", "Privacytoezichthouder legt school dwangsom op om gezichtsscan",
     "De Nederlandse privacytoezichthouder eist dat de school binnen vier weken stopt."),
])
def test_enforcement_in_more_phrasings(clf, language, title, summary) -> None:
    v = verdict(clf, title, summary, language)
    assert v.is_enforcement, v.reasons


def test_a_negative_word_inside_the_action_cue_does_not_negate_it(clf) -> None:
    """'demanda' (lawsuit) is a filed-process cue, but 'que pone fin a la demanda' settles one."""
    v = verdict(clf, "Una app de fotos pagará 5 millones de dólares en Illinois por el reconocimiento facial",
                "La fiscal general anunció el acuerdo, que pone fin a la demanda por datos biométricos.", "es")
    assert v.is_enforcement and v.action_type == "settlement", v.reasons


@pytest.mark.parametrize(("language", "title", "summary", "action_type"), [
    ("sv", "Kommunen får böta 300 000 kronor för ansiktsigenkänning i skolan",
     "IMY konstaterar att behandlingen saknade rättslig grund.", "fine"),
    ("sv", "Butikskedja döms att betala skadestånd för ansiktsigenkänning",
     "Tingsrätten slog fast att kunderna filmats utan samtycke.", "fine"),
    ("el", "Η εταιρεία θα πληρώσει 2 εκατ. δολάρια σε διακανονισμό για αναγνώριση προσώπου",
     "Ο γενικός εισαγγελέας ανακοίνωσε τη συμφωνία.", "settlement"),
    ("pt", "Justiça manda prefeitura suspender câmeras de reconhecimento facial",
     "O tribunal determina que o município interrompa o tratamento de dados faciais.", "judgment"),
    ("de", "Datenschutzbeauftragte ordnet Löschung von Gesichtsdaten bei Fitnessstudio an",
     "Die Verarbeitung der Gesichtsbilder sei rechtswidrig.", "deletion_order"),
    ("nl", "Toezichthouder: supermarkt schond privacyregels met gezichtsherkenning",
     "De autoriteit oordeelde dat klanten niet waren geïnformeerd.", "determination"),
    ("el", "Η Αρχή «τιμώρησε» αλυσίδα καταστημάτων για αναγνώριση προσώπου με 1 εκατ. ευρώ", "", "fine"),
    ("de", "Gesichtserkennung: Fotodienst zahlt 50 Millionen Dollar",
     "Das Unternehmen legt den Rechtsstreit mit dem Bundesstaat Illinois bei.", "settlement"),
    ("de", "Gesichtsdatenbank: Anordnung zur Löschung eines biometrischen Profils",
     "Der Landesdatenschutzbeauftragte hat gegenüber dem Anbieter angeordnet, den Hashwert zu entfernen.",
     "deletion_order"),
    ("en", "School rapped by data watchdog over face-scanning canteen",
     "Pupils had their faces scanned for lunch payments before anyone assessed the risks, the regulator found.",
     "reprimand"),
    ("en", "Photo app maker to pay Illinois $35 million over facial recognition claims",
     "The payments will be spread over three years; the company admitted no wrongdoing.", "settlement"),
    ("en", "Social network settles Texas lawsuit over photo-tagging feature",  # tagging faces: weak face evidence
     "The agreement is the largest ever obtained by a single state, according to the attorney general.",
     "settlement"),
    ("en", "Chelmsford school told off by watchdog over face scans in lunch queue",
     "The Information Commissioner's Office said the school should have assessed the risks.", "reprimand"),
    ("en", "Judge strikes down city's fugitive-hunting face surveillance system",
     "The ruling found the city had pulled biometric records of millions of residents.", "judgment"),
    ("de", "Gesichtserkennung: Fotodienst zahlt Illinois 50 Millionen Dollar",
     "Der Konzern legt damit eine Klage des Bundesstaats bei.", "settlement"),
    # a court the user may go to later does not make the regulator's order a judgment
    ("en", "Hamburg data protection chief orders police to delete G20 face database",
     "The city's interior authority said it would challenge the order in court.", "deletion_order"),
    ("en", "Mall owner collected shoppers' images with facial analysis, privacy commissioners find",
     "The commissioners concluded the company had no valid consent.", "determination"),
    ("fr", "La police municipale a contrevenu à la loi en utilisant la reconnaissance faciale",
     "La CNIL a constaté l'absence de base légale.", "determination"),
    ("sv", "Norska Datatilsynet inför vite mot gymkedja för ansiktsskanning vid entrén",
     "Kedjan påförs ett löpande vite tills den slutar.", "penalty_payment"),
    ("en", "Judge declares city's facial recognition system unconstitutional",
     "The court found the fugitive-tracking system had run without legal oversight.", "judgment"),
    # the law a breach names is no legislation cue
    ("fr", "La police municipale a enfreint la loi en recourant à la reconnaissance faciale, conclut la CNIL",
     "", "determination"),
])
def test_broadened_action_vocabulary(clf, language, title, summary, action_type) -> None:
    v = verdict(clf, title, summary, language)
    assert v.is_enforcement, v.reasons
    assert v.action_type == action_type, v.reasons


@pytest.mark.parametrize(("language", "title", "summary", "action_type"), [
    # the same cues asserted stay actions; a negation further off does not reach them
    ("en", "Regulator fines supermarket £1m over facial recognition trial",
     "The Information Commissioner's Office said there was no doubt the chain broke the law.", "fine"),
    ("de", "Gesichtserkennung: Datenschutzbehörde verhängt Strafe gegen Supermarkt",
     "Die Kette hatte keine Einwilligung der Kunden eingeholt.", "fine"),
    # a relative clause with the news in the headline
    ("en", "ICO fines retailer £2m over facial recognition",
     "The retailer, which was warned in 2021, must also delete the images.", "fine"),
    # a negated cue yields to the next one
    ("en", "ICO issues no fine but orders retailer to delete facial recognition data", "", "deletion_order"),
])
def test_asserted_actions_survive_the_negation_and_clause_checks(clf, language, title, summary, action_type) -> None:
    v = verdict(clf, title, summary, language=language)
    assert v.is_enforcement and v.action_type == action_type


def test_a_figure_floor_after_the_cue_is_no_negation(clf) -> None:
    v = verdict(clf, "Retailer fined no less than £3m over facial recognition",
                "The Information Commissioner's Office said the chain broke the law.", language="en")
    assert v.is_enforcement and v.action_type == "fine" and v.amount == 3_000_000


def test_a_word_yaml_reads_as_a_boolean_is_refused_in_a_rules_file(tmp_path) -> None:
    # YAML 1.1 reads a bare no, yes, on or off as a boolean: "on" had silently left the English stopwords
    path = tmp_path / "xx.yaml"
    path.write_text("language: xx\nstopwords: [the, on]\n", encoding="utf-8")
    with pytest.raises(LexiconError, match="'stopwords' holds True.*quote it"):
        load_lexicon(path)
    path.write_text('language: xx\nstopwords: [the, "on"]\n', encoding="utf-8")
    assert "on" in load_lexicon(path).stopwords


def test_portuguese_settlement_phrasings(clf) -> None:
    v = verdict(clf, "Rede social vai pagar US$ 500 milhões ao estado para encerrar ação sobre reconhecimento facial",
                "A empresa fechou um acordo com o procurador-geral do estado.", language="pt")
    assert v.is_enforcement and v.action_type == "settlement" and (v.amount, v.currency) == (500_000_000, "USD")


@pytest.mark.parametrize(("language", "title", "summary", "action_type", "amount"), [
    # a negation after a cue is a determiner only: "sin precedentes" negates nothing
    ("es", "Reconocimiento facial: multa sin precedentes de la AEPD a un supermercado",
     "La AEPD impone 2,5 millones de euros a la cadena.", "fine", 2_500_000),
    # a negation before a cue does not reach across punctuation
    ("it", "Riconoscimento facciale senza consenso, multa del Garante a un supermercato", "", "fine", None),
    ("fr", "Reconnaissance faciale sans consentement : amende de la CNIL pour une mairie", "", "fine", None),
    # a relative clause in a headline, with punctuation before the cue, or a recall beside the news
    ("en", "Face search firm, which scraped photos, fined €30.5m by Dutch watchdog", "", "fine", 30_500_000),
    ("en", "Face search firm, which has faced fines across Europe, hit with €30.5m Dutch fine", "", "fine",
     30_500_000),
    # "last year's" opens no back-dated sentence
    ("en", "Italian watchdog acts on face search firm after complaint",
     "Last year's complaint by an NGO led the Garante to fine the firm €20m on Tuesday.", "fine", 20_000_000),
    # a fine recalled with other steps is not coordinated with the penalty payment
    ("de", "Gesichtserkennung: nach Bußgeld und Anordnung nun Zwangsgeld gegen Foto-App",
     "Die CNIL setzt das Zwangsgeld fest.",
     "penalty_payment", None),
    # "multa" inside "multa coercitiva" is no fine: the payment's own amount
    ("es", "Reconocimiento facial: la AEPD impone una multa coercitiva a un gimnasio",
     "La multa de 2,5 millones de euros sigue impagada. La AEPD impone ahora una multa coercitiva de "
     "300.000 euros.", "penalty_payment", 300_000),
    # a price in a hyphenated name is no amount
    ("de", "Gesichtserkennung bei 49-Euro-Ticket-Kontrollen: Datenschutzbehörde verhängt Bußgeld von 200.000 Euro",
     "", "fine", 200_000),
])
def test_review_cases_keep_their_action_and_amount(clf, language, title, summary, action_type, amount) -> None:
    v = verdict(clf, title, summary, language=language)
    assert v.is_enforcement and v.action_type == action_type and v.amount == amount


@pytest.mark.parametrize(("language", "title", "summary", "currency"), [
    ("da", "Datatilsynet giver bøde på 500.000 kr for ansigtsgenkendelse", "", "DKK"),
    ("no", "Datatilsynet gir overtredelsesgebyr på 500 000 kroner for ansiktsgjenkjenning", "", "NOK"),
    ("sv", "IMY: sanktionsavgift på 200 000 kr för ansiktsigenkänning", "", "SEK"),
])
def test_kr_and_kroner_take_the_jurisdictions_currency(clf, language, title, summary, currency) -> None:
    assert verdict(clf, title, summary, language=language).currency == currency


def test_only_html_tags_are_stripped() -> None:
    assert display("Turnover <USD 5m or >USD 10m") == "Turnover <USD 5m or >USD 10m"
    assert display("&lt;p&gt;Fined £5m&lt;/p&gt;") == "Fined £5m"


# Whether an item is enforcement, for this session's phrasings: cues negated, recalled or
# back-dated, steps before or against an action, the actor a headline fine implies, and the cases
# two reviews raised
@pytest.mark.parametrize(("language", "title", "summary", "enforcement"), [
    # a negated cue: no action of the item's
    ("en", "Regulator ends review of supermarket's facial recognition trial with no fine",
     "The Information Commissioner's Office said the chain had stopped the trial.", False),
    ("de", "Gesichtserkennung im Supermarkt: Datenschutzbehörde verhängt keine Strafe",
     "Die Kette hat die Kameras abgeschaltet.", False),
    ("fr", "Reconnaissance faciale : pas d'amende pour la mairie, selon la CNIL",
     "La commune a retiré les caméras avant la fin du contrôle.", False),
    # a relative clause recalls what someone did before
    ("en", "Police to put permanent facial recognition cameras in town centre",
     "The Information Commissioner's Office, which fined a retailer £2m in 2021, said it would watch the rollout.", False),
    ("it", "Telecamere con riconoscimento facciale in stazione dal prossimo mese",
     "Il Garante, che aveva sanzionato il comune nel 2021, chiede informazioni.", False),
    # a summary sentence dated before the news
    ("en", "Social network brings back facial recognition to fight scam adverts",
     "The test starts next month. Earlier this year the company agreed to pay $1bn to settle a lawsuit over its old tagging tool.", False),
    # roundups and a record of past fines
    ("en", "Facial recognition in review: a year of fines and new laws",
     "We look back on the regulators' biggest decisions.", False),
    ("en", "Face search start-up passes 40 billion images",
     "The company has faced fines from several European regulators, which it has not paid.", False),
    # the reviews' cases
    ("pt", "Justiça encerra ação contra operadora de metrô por reconhecimento facial", "", False),  # a dismissal
    ("it", "Riconoscimento facciale allo stadio: sanzioni ai tifosi, dice il commissariato", "", False),  # a police station
    # a headline fine of an amount implies its actor
    ("en", "Town council fined €150,000 for facial recognition at the town hall", "", True),
    ("en", "Hospital could be fined £2m over facial recognition", "", False),  # the hedge still counts
    ("en", "Town council fined for facial recognition at the town hall", "", False),  # no amount, no actor
    # a law that allows facial recognition
    ("en", "Hungary bans street festival, allows facial recognition to identify attendees",
     "Under the new law, police may use facial recognition tools.", False),
    # a file reference is no opening of proceedings; opening them still is
    ("es", "Procedimiento sancionador PS/00042/2025: la AEPD impone una multa de 90.000 euros a un gimnasio "
     "por el reconocimiento facial", "", True),
    ("es", "La AEPD inicia un procedimiento sancionador contra un gimnasio por el reconocimiento facial", "", False),
    ("fr", "Reconnaissance faciale : l'Autorité de protection des données adresse une réprimande à une commune",
     "", True),
    ("en", "Shopping centre fined KSh3 million for scanning shoppers' faces", "", True),
    ("en", "Council's appeal against €200,000 DPC fine over facial matching listed for hearing", "", False),
    ("en", "High Court hears challenge to police live facial recognition", "Judgment was reserved.", False),
    ("en", "Regulator opens inspection into facial recognition cameras at city arena", "", False),
    ("en", "PIPC notifies gym of proposed KRW 500 million penalty over facial recognition",
     "The commission sent a preliminary notice.", False),
    ("en", "Judge tosses BIPA suit over virtual try-on face scans", "", False),
    # a person fined, a recalled fine, a pending one, a company's worth: no actor implied
    ("en", "Man fined £90 for covering face to avoid police facial recognition camera", "", False),
    ("en", "Face search firm, fined €20m in Italy, raises $30m", "", False),
    ("en", "Face search firm faces $10m fine for facial recognition database", "", False),
    ("en", "Facial recognition firm worth $1bn fined", "", False),
    # "allowing facial recognition" is what a fine is for; an order may allow it with consent
    ("en", "Company fined €50,000 for allowing facial recognition without consent", "", True),
    ("en", "Court orders app to stop scraping, allows facial recognition only with consent", "", True),
    # an appeal rejected confirms the action; someone's appeal against it is a process
    ("en", "ICO rejects appeal against facial recognition fine", "", True),
    ("en", "Council's appeal against facial recognition fine to be heard in May",
     "The ICO fined the council in 2024.", False),
    # Spanish proceedings opened in the past tense stay a process
    ("es", "La AEPD abrió un procedimiento sancionador a un supermercado por el reconocimiento facial", "", False),
    ("es", "La AEPD ha iniciado un procedimiento sancionador contra un gimnasio por el reconocimiento facial", "",
     False),
    # a final fine below the proposed one is a fine; "opening inspection" only as a step
    ("en", "ICO fines retailer £2m over facial recognition, less than half its proposed £5m penalty", "", True),
    ("en", "Regulator orders supermarket to stop facial recognition after opening inspection", "", True),
    # French: escaping a reprimand
    ("fr", "Reconnaissance faciale : la ville échappe à la réprimande de la CNIL", "", False),
    # the third review's cases
    # a fine for failing to check ages names facial age estimation only as a method
    ("en", "Ofcom fines adult site £1m for failing to introduce highly effective age assurance",
     "The site relied on a tick box rather than facial age estimation, the regulator said.", False),
    ("en", "ICO closes facial recognition investigation without enforcement action", "", False),
    # the same words beside a real action (third review)
    ("en", "Regulator fines app over facial age checks without consent", "", True),
    ("en", "Watchdog closes facial recognition investigation, fines retailer £200,000", "", True),
    ("en", "CNIL fines company €200,000 for facial recognition, saying the practice remains illegal", "", True),
    ("nl", "AP legt Clearview boete van 30,5 miljoen op: gezichtsherkenning blijft verboden", "", True),
    # "AP" unplaced still tells that a body acted
    ("en", "AP fines face search firm €30.5m over facial recognition database", "", True),
    # Finnish and Czech: a law broken is no legislation; a face hit is no face data; a
    # condemnation by a minister is no judgment; public advice is no warning; an appeal
    # rejected by a court confirms the fine
    ("fi", "Tietosuojavaltuutettu: kauppa käytti kasvojentunnistusta vastoin lakia – seuraamusmaksu 50 000 euroa",
     "", True),
    ("cs", "ÚOOÚ: supermarket používal rozpoznávání obličejů v rozporu se zákonem, dostal pokutu 500 tisíc", "",
     True),
    ("fi", "Käräjäoikeus tuomitsi miehen pahoinpitelystä – hän löi uhria nyrkillä kasvoihin", "", False),
    ("cs", "Soud odsoudil muže, který útočníkovi rozbil obličej", "", False),
    ("fi", "Ministeri tuomitsi kasvojentunnistusvalvonnan jyrkästi", "", False),
    ("cs", "Ministr odsoudil čínský systém rozpoznávání obličejů", "", False),
    ("fi", "Tietosuojavaltuutetun varoitus: älä lataa kasvokuviasi tekoälysovelluksiin", "", False),
    ("cs", "ÚOOÚ vydal varování před aplikacemi, které upravují fotografie obličeje", "", False),
])
def test_enforcement_or_not_in_more_phrasings(clf, language, title, summary, enforcement) -> None:
    assert verdict(clf, title, summary, language=language).is_enforcement is enforcement
