"""A local feed farm and webhook receiver farm for the benchmarks (127.0.0.1 only).

    python bench/farm.py --feeds 2000 --items 20 --enforcement-share 0.1 [--latency-ms 0]

prints one JSON line ``{"port": P}`` when it listens, then serves until its standard input closes
(the parent died or finished), ``--lifetime`` seconds passed, or ``POST /_ctl/stop`` arrives.

Feeds: ``GET /feeds/{n}.xml`` (n in 0..feeds-1) is an RSS 2.0 document of the feed's newest
``--items`` items: realistic titles and summaries in en, fr, de, it, nl and es, a share of them
reports of a facial-recognition enforcement action (a regulator fines/orders a company), the rest
privacy news, near-misses and unrelated news. Each feed has a strong ETag that changes when an item
is published to it; ``If-None-Match`` with the current ETag gets ``304``. ``--latency-ms`` delays
every feed answer. Bodies are rendered once per version, so the farm costs little per request.

Webhooks: ``POST /hook/{k}`` records the arrival (wall-clock time, path, ``webhook-id``, timestamp, signature, body) and
answers 200 — any k, so K endpoints are K paths.

Control (JSON): ``POST /_ctl/publish {"feeds": [..] | null (all), "per_feed": k}`` publishes k new
items to each feed; ``POST /_ctl/stream {"rate", "duration", "feeds": [..]}`` publishes ``rate``
items per second spread round-robin over ``feeds`` for ``duration`` seconds (in the background);
``GET /_ctl/stats`` counts; ``GET /_ctl/published`` link → publish time and first-served time;
``GET /_ctl/arrivals?bodies=0|1`` the recorded webhooks; ``POST /_ctl/reset`` forgets arrivals.
Times are ``time.time()`` (both processes run on this machine, so they compare).

It is also importable: ``ItemFactory`` makes the same items in-process (the classification bench).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass
from email.utils import formatdate
from xml.sax.saxutils import escape

from aiohttp import web

# --- synthetic items ---------------------------------------------------------------------------

LANGS = ("en", "fr", "de", "it", "nl", "es")

REGULATORS: dict[str, list[tuple[str, str]]] = {
    "en": [("the ICO", "GB"), ("the FTC", "US"), ("the OAIC", "AU"), ("the Information Commissioner's Office", "GB")],
    "fr": [("la CNIL", "FR")],
    "de": [("der Hamburgische Datenschutzbeauftragte", "DE"), ("die Datenschutzbehörde", "AT")],
    "it": [("il Garante per la protezione dei dati personali", "IT")],
    "nl": [("de Autoriteit Persoonsgegevens", "NL")],
    "es": [("la AEPD", "ES")],
}

ENFORCEMENT: dict[str, list[tuple[str, str]]] = {
    "en": [
        ("{reg_cap} fines {target} £{amount} million over facial recognition database",
         "{reg_cap} has issued a fine of £{amount} million to {target} for scraping images of people from the "
         "internet to build a facial recognition database, and ordered it to delete the data of UK residents."),
        ("{target} to pay ${amount} million in FTC settlement over facial recognition",
         "The Federal Trade Commission said {target} misused facial recognition technology and agreed to a "
         "${amount} million settlement that bans it from using face matching for five years."),
        ("{reg_cap} orders {target} to stop using facial recognition on customers",
         "{reg_cap} issued an enforcement notice ordering {target} to stop processing biometric data with "
         "facial recognition cameras in its stores and to delete the face templates it collected."),
    ],
    "fr": [
        ("La CNIL inflige une amende de {amount} millions d'euros à {target} pour reconnaissance faciale",
         "La CNIL a sanctionné la société {target} d'une amende de {amount} millions d'euros pour avoir collecté "
         "des photographies de visages sans base légale et lui enjoint de supprimer les données."),
        ("Reconnaissance faciale : sanction de {amount} millions d'euros contre {target}",
         "La formation restreinte de la CNIL a prononcé une sanction contre {target}, qui utilisait un "
         "logiciel de reconnaissance faciale sur des images collectées en ligne."),
    ],
    "de": [
        ("Datenschutzbehörde verhängt Bußgeld von {amount} Millionen Euro gegen {target} wegen Gesichtserkennung",
         "Die Behörde hat gegen {target} ein Bußgeld von {amount} Millionen Euro verhängt, weil das Unternehmen "
         "biometrische Daten mit Gesichtserkennung verarbeitet hat, und die Löschung angeordnet."),
    ],
    "it": [
        ("Il Garante privacy sanziona {target} per {amount} milioni di euro: riconoscimento facciale illecito",
         "Il Garante per la protezione dei dati personali ha inflitto a {target} una sanzione di {amount} milioni "
         "di euro per il trattamento illecito di dati biometrici con il riconoscimento facciale."),
    ],
    "nl": [
        ("Autoriteit Persoonsgegevens legt {target} boete van {amount} miljoen euro op voor gezichtsherkenning",
         "De Autoriteit Persoonsgegevens heeft {target} een boete van {amount} miljoen euro opgelegd voor het "
         "illegaal verwerken van biometrische gegevens met gezichtsherkenning."),
    ],
    "es": [
        ("La AEPD multa a {target} con {amount} millones de euros por usar reconocimiento facial",
         "La Agencia Española de Protección de Datos ha impuesto a {target} una multa de {amount} millones de "
         "euros por tratar datos biométricos mediante sistemas de reconocimiento facial sin base jurídica."),
    ],
}

OTHER: dict[str, list[tuple[str, str]]] = {
    "en": [
        ("Lawmakers debate limits on facial recognition in public spaces",
         "A committee heard evidence on whether police use of live facial recognition needs a new legal basis; "
         "no decision is expected before the autumn. Report {n}."),
        ("{target} launches new cloud storage plans for small businesses",
         "The company said the plans start at $5 a month and include encrypted backups. Item {n}."),
        ("Data breach at {target} exposes customer email addresses",
         "The firm said it had informed the regulator and affected customers after an intrusion. Item {n}."),
        ("Consultation opens on guidance for biometric recognition at work",
         "The regulator invites comments on draft guidance about employers using biometric systems. Note {n}."),
        ("Quarterly results: {target} revenue up 12%",
         "Analysts expected slower growth; shares rose in early trading. Item {n}."),
    ],
    "fr": [
        ("La CNIL publie son rapport annuel",
         "Le rapport présente l'activité de l'autorité, ses contrôles et ses priorités pour l'année. Note {n}."),
        ("{target} présente une nouvelle application de messagerie",
         "L'entreprise promet un chiffrement de bout en bout par défaut. Article {n}."),
    ],
    "de": [
        ("Bundestag berät über Videoüberwachung an Bahnhöfen",
         "Die Fraktionen sind uneins über den Einsatz neuer Kamerasysteme. Meldung {n}."),
        ("{target} eröffnet neues Rechenzentrum in Frankfurt",
         "Das Unternehmen investiert nach eigenen Angaben 200 Millionen Euro. Meldung {n}."),
    ],
    "it": [
        ("Il Garante pubblica le linee guida sui cookie",
         "Le nuove regole riguardano i banner e il consenso degli utenti. Notizia {n}."),
        ("{target} annuncia un nuovo smartphone",
         "Il dispositivo sarà disponibile in autunno. Notizia {n}."),
    ],
    "nl": [
        ("Kabinet wil regels voor camera's in de openbare ruimte aanscherpen",
         "Een wetsvoorstel wordt na de zomer verwacht. Bericht {n}."),
    ],
    "es": [
        ("El Congreso debate una ley sobre inteligencia artificial",
         "Los grupos parlamentarios presentaron enmiendas al proyecto. Noticia {n}."),
    ],
}

_SYLLABLES = ("ver", "ida", "lux", "nor", "tec", "qua", "ri", "sol", "zen", "pix", "mar", "ko", "fa", "vi", "tra",
              "neo", "ul", "gra", "cam", "sen", "dor", "ax", "lo", "mi")
_SUFFIXES = ("AI", "Vision", "Labs", "Systems", "Technologies", "Analytics", "Security", "Retail")


def company(rng: random.Random) -> str:
    name = "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 3))).capitalize()
    return f"{name} {rng.choice(_SUFFIXES)}"


@dataclass(frozen=True)
class SynthItem:
    guid: str
    link: str
    title: str
    summary: str
    language: str
    enforcement: bool
    published: float  # unix time


class ItemFactory:
    """Deterministic synthetic items (seeded), ``enforcement_share`` of them enforcement reports.

    DATES: enforcement reports carry a publication date spread over the last five years, and each
    names a new company with a varied amount. Real feeds carry a few actions a month; with every
    synthetic action dated today, thousands of "fines by the ICO this week" would all be grouped
    into a handful of giant events, which no real stream does. (What the benchmarks time is the
    publish time the farm records, not the feed's date.)"""

    def __init__(self, enforcement_share: float = 0.1, seed: int = 8, base_link: str = "https://news.example"):
        self.share = enforcement_share
        self.rng = random.Random(seed)
        self.base_link = base_link
        self.count = 0

    def make(self, feed: int, *, published: float | None = None, language: str | None = None,
             enforcement: bool | None = None) -> SynthItem:
        rng = self.rng
        self.count += 1
        n = self.count
        lang = language or LANGS[feed % len(LANGS)]
        is_enf = rng.random() < self.share if enforcement is None else enforcement
        target = company(rng)
        if is_enf:
            title, summary = rng.choice(ENFORCEMENT[lang])
            reg = rng.choice(REGULATORS[lang])[0]
            values = dict(target=target, amount=rng.randint(5, 3000) / 10, reg_cap=reg[:1].upper() + reg[1:])
        else:
            title, summary = rng.choice(OTHER[lang])
            values = dict(target=target, n=n)
        published = published if published is not None else time.time()
        if is_enf:  # actions are dated over five years, as a real archive is: see DATES below
            published -= rng.uniform(0, 5 * 365) * 86400
        return SynthItem(guid=f"farm-{feed}-{n}", link=f"{self.base_link}/{feed}/{n}", title=title.format(**values),
                         summary=summary.format(**values), language=lang, enforcement=is_enf, published=published)


def render_rss(feed: int, items: list[SynthItem]) -> bytes:
    parts = ["<?xml version='1.0' encoding='utf-8'?>\n<rss version='2.0'><channel>",
             f"<title>Farm feed {feed}</title><link>https://news.example/{feed}/</link>",
             "<description>Synthetic feed for frwatch benchmarks</description>"]
    for item in items:
        parts.append(f"<item><title>{escape(item.title)}</title><link>{escape(item.link)}</link>"
                     f"<guid isPermaLink='false'>{item.guid}</guid>"
                     f"<description>{escape(item.summary)}</description>"
                     f"<pubDate>{formatdate(item.published, usegmt=True)}</pubDate></item>")
    parts.append("</channel></rss>")
    return "".join(parts).encode()


# --- the farm ---------------------------------------------------------------------------------

class Feed:
    __slots__ = ("index", "items", "version", "_body")

    def __init__(self, index: int):
        self.index = index
        self.items: list[SynthItem] = []
        self.version = 0
        self._body: bytes | None = None

    @property
    def etag(self) -> str:
        return f'"{self.index}-{self.version}"'

    def body(self) -> bytes:
        if self._body is None:
            self._body = render_rss(self.index, self.items)
        return self._body


class Farm:
    def __init__(self, feeds: int, items: int, share: float, latency_ms: float, seed: int = 8):
        self.window = items
        self.latency = latency_ms / 1000
        self.factory = ItemFactory(share, seed)
        self.feeds = [Feed(n) for n in range(feeds)]
        start = time.time() - 3600
        for feed in self.feeds:  # initial content, an hour old, newest first
            feed.items = [self.factory.make(feed.index, published=start - 60 * k) for k in range(items)]
        self.published: dict[str, float] = {}  # link → publish time (items published after start-up)
        self.served: dict[str, float] = {}  # link → first time a 200 body carrying it was served
        self.status = Counter[int]()
        self.arrivals: list[tuple[float, str, str, str, str, bytes]] = []
        self.stop = asyncio.Event()
        self._streams: set[asyncio.Task[None]] = set()

    def publish(self, index: int, count: int = 1) -> None:
        feed = self.feeds[index]
        now = time.time()
        fresh = [self.factory.make(index, published=now) for _ in range(count)]
        for item in fresh:
            self.published[item.link] = (now, item.enforcement)
        feed.items = (fresh[::-1] + feed.items)[: self.window]
        feed.version += 1
        feed._body = None

    # handlers
    async def feed(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        try:
            feed = self.feeds[int(name)]
        except (ValueError, IndexError):
            self.status[404] += 1
            raise web.HTTPNotFound()
        if self.latency:
            await asyncio.sleep(self.latency)
        etag = feed.etag
        if request.headers.get("If-None-Match") == etag:
            self.status[304] += 1
            return web.Response(status=304, headers={"ETag": etag})
        self.status[200] += 1
        if self.published:
            now = time.time()
            for item in feed.items:
                if item.link in self.published and item.link not in self.served:
                    self.served[item.link] = now
        return web.Response(body=feed.body(), headers={"ETag": etag,
                                                       "Content-Type": "application/rss+xml; charset=utf-8"})

    async def hook(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        headers = request.headers
        self.arrivals.append((time.time(), request.path, headers.get("webhook-id", ""),
                              headers.get("webhook-timestamp", ""), headers.get("webhook-signature", ""), body))
        return web.Response(text="ok")

    async def ctl_publish(self, request: web.Request) -> web.StreamResponse:
        spec = await request.json()
        indices = spec.get("feeds")
        per_feed = int(spec.get("per_feed", 1))
        targets = range(len(self.feeds)) if indices is None else indices
        for index in targets:
            self.publish(index, per_feed)
        return web.json_response({"published": len(targets) * per_feed})

    async def ctl_stream(self, request: web.Request) -> web.StreamResponse:
        spec = await request.json()
        task = asyncio.create_task(self._stream(float(spec["rate"]), float(spec["duration"]), list(spec["feeds"])))
        self._streams.add(task)
        task.add_done_callback(self._streams.discard)
        return web.json_response({"started": True})

    async def _stream(self, rate: float, duration: float, feeds: list[int]) -> None:
        """``rate`` items/s at a steady pace (a few per 10 ms tick), round-robin over ``feeds``."""
        started = time.monotonic()
        made = 0
        turn = 0
        while (elapsed := time.monotonic() - started) < duration:
            due = int(elapsed * rate) - made
            for _ in range(due):
                self.publish(feeds[turn % len(feeds)])
                turn += 1
            made += max(due, 0)
            await asyncio.sleep(0.01)

    async def ctl_stats(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"status": dict(self.status), "arrivals": len(self.arrivals),
                                  "published": len(self.published), "streams": len(self._streams),
                                  "etags": {str(f.index): f.etag for f in self.feeds}
                                  if request.query.get("etags") else None})

    async def ctl_published(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"published": self.published, "served": self.served})

    async def ctl_arrivals(self, request: web.Request) -> web.StreamResponse:
        with_bodies = request.query.get("bodies") == "1"
        rows = [[at, path, wid, ts, sig, body.decode() if with_bodies else len(body)]
                for at, path, wid, ts, sig, body in self.arrivals]
        return web.json_response({"arrivals": rows})

    async def ctl_reset(self, request: web.Request) -> web.StreamResponse:
        self.arrivals.clear()
        self.status.clear()
        self.published.clear()
        self.served.clear()
        return web.json_response({"reset": True})

    async def ctl_stop(self, request: web.Request) -> web.StreamResponse:
        self.stop.set()
        return web.json_response({"stopping": True})

    def app(self) -> web.Application:
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_get("/feeds/{name}.xml", self.feed)
        app.router.add_post("/hook/{k}", self.hook)
        app.router.add_post("/_ctl/publish", self.ctl_publish)
        app.router.add_post("/_ctl/stream", self.ctl_stream)
        app.router.add_get("/_ctl/stats", self.ctl_stats)
        app.router.add_get("/_ctl/published", self.ctl_published)
        app.router.add_get("/_ctl/arrivals", self.ctl_arrivals)
        app.router.add_post("/_ctl/reset", self.ctl_reset)
        app.router.add_post("/_ctl/stop", self.ctl_stop)
        return app


async def serve(args: argparse.Namespace) -> None:
    farm = Farm(args.feeds, args.items, args.enforcement_share, args.latency_ms, args.seed)
    runner = web.AppRunner(farm.app(), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", args.port, backlog=4096)
    await site.start()
    port = runner.addresses[0][1]
    print(json.dumps({"port": port}), flush=True)
    loop = asyncio.get_running_loop()
    if not sys.stdin.isatty():  # the parent closing our stdin (or dying) stops the farm
        loop.add_reader(sys.stdin.fileno(), lambda: sys.stdin.buffer.read1(65536) or farm.stop.set())
    try:
        await asyncio.wait_for(farm.stop.wait(), timeout=args.lifetime)
    except TimeoutError:
        pass
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--items", type=int, default=20, help="items per feed document")
    parser.add_argument("--enforcement-share", type=float, default=0.1)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--lifetime", type=float, default=1800, help="seconds before it stops by itself")
    asyncio.run(serve(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
