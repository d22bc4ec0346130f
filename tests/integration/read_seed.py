"""A small, known data set for the read-side tests (API, Atom, dashboard, export, metrics):
three sources, three events with their reports, a near-miss item and a hostile title."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from frwatch.api.auth import KEY_PREFIX, hash_key, new_api_key
from frwatch.models import Event, Item, Source
from frwatch.store import api_keys as key_store

T0 = datetime(2026, 1, 10, 9, 0, tzinfo=timezone.utc)
HOSTILE = '<script>alert("x")</script> & <b>bold</b>'


@dataclass
class Seeded:
    ico: str = "evt_ico_clearview"
    cnil: str = "evt_cnil_clearview"
    ftc: str = "evt_ftc_rite_aid"
    near_miss: int = 0
    hostile_item: int = 0


def _source(id: str, name: str, regulator: str | None, jurisdiction: str | None, language: str) -> Source:
    return Source(id=id, name=name, url=f"https://{id}.example/feed.xml", kind="regulator" if regulator else "news",
                  regulator=regulator, jurisdiction=jurisdiction, language=language, enabled=True,
                  origin="config", created_at=T0, updated_at=T0, next_poll_at=T0 + timedelta(minutes=15),
                  error_count=0, polls=3, dedup_mode="guid", last_polled_at=T0, last_success_at=T0,
                  last_status=200)


def _event(id: str, hours: int, **facts: object) -> Event:
    seen = T0 + timedelta(hours=hours)
    values: dict[str, object] = dict(summary="", reasons=["enforcement verb"], score=0.9, amount=None,
                                     currency=None, amount_eur=None, target_key=None, related_event_id=None)
    values.update(facts)
    return Event(id=id, occurred_at=seen - timedelta(hours=1), first_seen_at=seen, updated_at=seen,
                 item_count=1, **values)  # type: ignore[arg-type]


def _item(source: str, key: str, hours: int, title: str, *, event: Event | None, language: str,
          score: float = 0.9, summary: str = "") -> Item:
    seen = T0 + timedelta(hours=hours)
    facts = {name: getattr(event, name) for name in
             ("regulator", "jurisdiction", "target", "action_type", "amount", "currency", "amount_eur")} \
        if event else {}
    return Item(source_id=source, dedup_key=key, guid=key, link=f"https://{source}.example/{key}", title=title,
                summary=summary, language=language, content_hash=key.ljust(64, "0"), published_at=seen,
                first_seen_at=seen, updated_at=seen, revision=1, is_enforcement=event is not None, score=score,
                reasons=["seed"], event_id=event.id if event else None, **facts)


async def seed(sessions: async_sessionmaker[AsyncSession]) -> Seeded:
    """Events, newest first: FTC/Rite Aid (US-DC, hour 3), CNIL/Clearview (FR, hour 2),
    ICO/Clearview (GB, hour 1, two reports: ICO in English, news in French)."""
    ids = Seeded()
    ico = _event(ids.ico, 1, title="ICO fines Clearview AI £7.5m", regulator="ICO", jurisdiction="GB",
                 target="Clearview AI Inc", action_type="fine", amount=7_500_000, currency="GBP",
                 amount_eur=8_700_000, score=0.95, summary="Facial recognition database of UK residents")
    cnil = _event(ids.cnil, 2, title="La CNIL sanctionne Clearview AI", regulator="CNIL", jurisdiction="FR",
                  target="Clearview AI Inc", action_type="fine", amount=20_000_000, currency="EUR",
                  amount_eur=20_000_000, score=0.8, summary="Amende prononcée à l'Échéance du délai")
    ftc = _event(ids.ftc, 3, title="FTC bans Rite Aid from using facial recognition", regulator="FTC",
                 jurisdiction="US-DC", target="Rite Aid", action_type="ban", score=0.7)
    ico.item_count = 2
    async with sessions() as session, session.begin():
        session.add_all([_source("ico-uk", "ICO news", "ICO", "GB", "en"),
                         _source("cnil-fr", "CNIL actualités", "CNIL", "FR", "fr"),
                         _source("news-en", "Biometric Update", None, None, "en")])
        await session.flush()
        session.add_all([ico, cnil, ftc])
        await session.flush()
        near_miss = _item("news-en", "n1", 4, "Facial recognition trial at a football stadium", event=None,
                          language="en", score=0.35)
        hostile = _item("news-en", "n2", 5, HOSTILE, event=None, language="en", score=0.1)
        session.add_all([
            _item("ico-uk", "i1", 1, ico.title, event=ico, language="en"),
            _item("news-en", "i2", 1, "Clearview AI condamnée au Royaume-Uni", event=ico, language="fr"),
            _item("cnil-fr", "c1", 2, cnil.title, event=cnil, language="fr"),
            _item("news-en", "f1", 3, ftc.title, event=ftc, language="en"),
            near_miss, hostile,
        ])
        await session.flush()
        ids.near_miss, ids.hostile_item = near_miss.id, hostile.id
    return ids


async def add_event(sessions: async_sessionmaker[AsyncSession], event_id: str, hours: int, **facts: object) -> None:
    """One more event (with one report from ``news-en``), first seen ``hours`` after T0."""
    event = _event(event_id, hours, **{"title": event_id, **facts})
    async with sessions() as session, session.begin():
        session.add(event)
        await session.flush()
        session.add(_item("news-en", event_id, hours, event.title, event=event, language="en"))


async def integrator_token(sessions: async_sessionmaker[AsyncSession], name: str = "acme") -> tuple[str, str]:
    """A fresh API key: (token, key id)."""
    token = new_api_key()
    async with sessions() as session, session.begin():
        key = await key_store.create(session, name=name, key_hash=hash_key(token), prefix=token[:len(KEY_PREFIX) + 6],
                                     now=T0)
    return token, key.id


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
