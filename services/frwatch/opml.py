"""OPML import/export of sources (pure: text in, specs out, and back)."""

from __future__ import annotations

import re
import unicodedata
from xml.etree.ElementTree import Element, SubElement, tostring

import defusedxml.ElementTree as SafeET

from frwatch.sources_config import SourceSpec, parse_source


def slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:64] or "feed"


def parse_opml(text: str, *, default_kind: str = "news") -> list[SourceSpec]:
    """Every outline with an xmlUrl becomes a source; ids are slugs of the title, made unique.
    frwatch's own export carries its fields as ``frwatch:*``-free attributes it reads back."""
    root = SafeET.fromstring(text)
    specs: list[SourceSpec] = []
    used: set[str] = set()
    for outline in root.iter("outline"):
        url = outline.get("xmlUrl")
        if not url:
            continue
        name = outline.get("title") or outline.get("text") or url
        base = outline.get("frwatchId") or slug(name)
        source_id, n = base, 2
        while source_id in used:
            source_id, n = f"{base}-{n}", n + 1
        used.add(source_id)
        raw = {"id": source_id, "name": name, "url": url, "kind": outline.get("frwatchKind") or default_kind}
        for attr, key in (("frwatchRegulator", "regulator"), ("frwatchJurisdiction", "jurisdiction"),
                          ("language", "language")):
            if outline.get(attr):
                raw[key] = outline.get(attr)
        specs.append(parse_source(raw))
    return specs


def to_opml(specs: list[SourceSpec], title: str = "frwatch sources") -> str:
    root = Element("opml", version="2.0")
    SubElement(SubElement(root, "head"), "title").text = title
    body = SubElement(root, "body")
    for spec in specs:
        attrs = {"type": "rss", "text": spec.name, "title": spec.name, "xmlUrl": spec.url,
                 "frwatchId": spec.id, "frwatchKind": spec.kind}
        for attr, value in (("frwatchRegulator", spec.regulator), ("frwatchJurisdiction", spec.jurisdiction),
                            ("language", spec.language)):
            if value:
                attrs[attr] = value
        SubElement(body, "outline", attrs)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + tostring(root, encoding="unicode") + "\n"
