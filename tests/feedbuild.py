"""Small RSS/Atom documents built in tests (for cases the recorded fixtures do not cover)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import format_datetime
from xml.sax.saxutils import escape


@dataclass
class FeedItem:
    title: str
    summary: str = ""
    guid: str | None = None
    link: str | None = None
    published: datetime | None = None


def rss(items: list[FeedItem], *, title: str = "Test feed", ttl: int | None = None) -> bytes:
    parts = [f"<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>{escape(title)}</title>",
             "<link>https://feed.example/</link><description>test</description>"]
    if ttl is not None:
        parts.append(f"<ttl>{ttl}</ttl>")
    for item in items:
        parts.append("<item>")
        parts.append(f"<title>{escape(item.title)}</title><description>{escape(item.summary)}</description>")
        if item.guid:
            parts.append(f"<guid isPermaLink='false'>{escape(item.guid)}</guid>")
        if item.link:
            parts.append(f"<link>{escape(item.link)}</link>")
        published = item.published or datetime(2026, 11, 1, 12, 0, tzinfo=timezone.utc)
        parts.append(f"<pubDate>{format_datetime(published)}</pubDate>")
        parts.append("</item>")
    parts.append("</channel></rss>")
    return "".join(parts).encode()
