"""The fast reader: well-formed RSS 2.0 and Atom 1.0 through lxml, in feedparser's entry shape.

feedparser spends most of its time in Python SAX callbacks; lxml builds the tree in C, and only
the few elements frwatch uses are read here (title, link, id, summary, content, dates, the feed's
title and <ttl>). Anything this reader does not reproduce exactly returns None, and
``parse.parse_feed`` asks feedparser instead: a document that is not well-formed (feedparser
repairs it and says why), another format (RSS 0.9/1.0, Atom 0.3), an element feedparser would
also map onto those fields (``dc:title``, ``media:description``, ``itunes:summary``, …), repeated
or nested markup in a field, an Atom text of an unusual type. Equality with feedparser's reading
is tested on every document of the feedparser corpus this reader accepts.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from html import escape
from typing import Any
from urllib.parse import urljoin

from feedparser.mixin import _FeedParserMixin
from lxml import etree

ATOM = "{http://www.w3.org/2005/Atom}"
_CONTENT = "{http://purl.org/rss/1.0/modules/content/}"
_DC = "{http://purl.org/dc/elements/1.1/}"
_DCTERMS = "{http://purl.org/dc/terms/}"

_PARSERS = threading.local()  # an lxml parser is not to be shared between threads (big bodies parse in one)


def _parser() -> Any:
    """This thread's parser. It fetches, expands and loads nothing: no DTD, no entities (an
    undefined one is an error, and feedparser gets the document), no network; a document is
    already size-capped."""
    parser = getattr(_PARSERS, "parser", None)
    if parser is None:
        parser = _PARSERS.parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                                                   huge_tree=False, remove_comments=True, remove_pis=True)
    return parser

# RSS item children read here: the field each fills (dates as feedparser names them).
_RSS_FIELDS = {
    "title": "title", "link": "link", "guid": "id", "description": "summary", _CONTENT + "encoded": "content",
    "pubDate": "published", _DC + "date": "updated", _DCTERMS + "issued": "published",
    _DCTERMS + "modified": "updated", _DCTERMS + "created": "created",
}
_ATOM_FIELDS = {
    ATOM + "title": "title", ATOM + "link": "link", ATOM + "id": "id", ATOM + "summary": "summary",
    ATOM + "content": "content", ATOM + "published": "published", ATOM + "updated": "updated",
}
# Elements feedparser also maps onto the fields above (or whose fields it merges): the document
# goes to feedparser when any of them appears anywhere.
_FEEDPARSER_ONLY = (
    _DC + "title", _DC + "description", _DCTERMS + "abstract",
    "{http://search.yahoo.com/mrss/}title", "{http://search.yahoo.com/mrss/}description",
    "{http://www.itunes.com/dtds/podcast-1.0.dtd}summary", "{http://www.w3.org/1999/xhtml}body",
    "{http://purl.org/rss/1.0/}item", ATOM + "source",
    # RSS elements outside the spec that feedparser still reads into those fields
    "summary", "content", "id", "published", "updated", "issued", "modified", "created", "fullitem", "body",
    "abstract", "info",
)
# feedparser reads C1 control characters as the Windows-1252 characters they usually stand for
_C1_CONTROLS = re.compile(rb"\xc2[\x80-\x9f]|&#(?:12[89]|1[345][0-9]);|&#[xX]0*[89][0-9a-fA-F];")
_looks_like_html = _FeedParserMixin.looks_like_html  # feedparser's guess for RSS text elements
_ATOM_TYPES = {"text": "text/plain", "html": "text/html", "xhtml": "application/xhtml+xml",
               "text/plain": "text/plain", "text/html": "text/html"}


@dataclass(frozen=True)
class FeedDocument:
    """What a reader read (this one or feedparser): entries in feedparser's shape (title_detail,
    summary_detail, content, link, id, dates), the feed's title and <ttl>, and what was wrong with
    a document that still parsed."""
    entries: list[Any]
    title: str | None
    ttl: Any
    problem: Exception | None = None


class _Unsupported(Exception):
    """Something only feedparser reads the way frwatch expects."""


def read(data: bytes) -> FeedDocument | None:
    """The document's entries and feed fields, or None when feedparser should read it."""
    if _C1_CONTROLS.search(data):
        return None
    try:
        root = etree.fromstring(data, parser=_parser())
    except (etree.XMLSyntaxError, ValueError):
        return None
    try:
        if next(root.iter(*_FEEDPARSER_ONLY), None) is not None:
            return None
        if root.tag == "rss" and root.get("version", "").startswith("2."):
            return _rss(root)
        if root.tag == ATOM + "feed":
            return _atom(root)
    except _Unsupported:
        return None
    return None


def _rss(root: Any) -> FeedDocument:
    channels = root.findall("channel")
    items = channels[0].findall("item") if len(channels) == 1 else []
    if len(channels) != 1 or sum(1 for _ in root.iter("item")) != len(items):
        raise _Unsupported("items outside the one channel")
    channel = channels[0]
    entries = []
    for item in items:
        fields = _fields(item, _RSS_FIELDS)
        entry: dict[str, Any] = {}
        for name in ("published", "updated", "created"):
            if name in fields:
                entry[name] = _plain(fields[name])
        if "title" in fields:
            title = _plain(fields["title"])
            entry["title_detail"] = {"type": "text/html" if _looks_like_html(title) else "text/plain", "value": title}
        if "summary" in fields:
            entry["summary_detail"] = {"type": "text/html", "value": _plain(fields["summary"])}
        if "content" in fields:
            entry["content"] = [{"type": "text/html", "value": _plain(fields["content"])}]
        if "link" in fields:
            entry["link"] = _plain(fields["link"])
        if "id" in fields:
            guid = fields["id"]
            entry["id"] = _plain(guid)
            if guid.get("isPermaLink", "true") == "true" and "link" not in entry:
                entry["link"] = entry["id"]  # feedparser's "guidislink"
        entries.append(entry)
    title = channel.find("title")
    return FeedDocument(entries, _plain(title) if title is not None else None, channel.findtext("ttl"))


def _atom(root: Any) -> FeedDocument:
    entries = []
    for element in root.findall(ATOM + "entry"):
        fields = _fields(element, _ATOM_FIELDS, repeatable=(ATOM + "link",))
        entry: dict[str, Any] = {}
        for name in ("published", "updated"):
            if name in fields:
                entry[name] = _plain(fields[name])
        if "id" in fields:
            entry["id"] = _plain(fields["id"])
        for name in ("title", "summary"):
            if name in fields:
                entry[f"{name}_detail"] = _atom_text(fields[name])
        if "content" in fields:
            entry["content"] = [_atom_text(fields["content"])]
        link = _atom_link(element.findall(ATOM + "link")) or entry.get("id")  # feedparser: the id stands in
        if link:
            entry["link"] = link
        entries.append(entry)
    title = root.find(ATOM + "title")
    return FeedDocument(entries, _atom_text(title)["value"] if title is not None else None, None)


def _fields(element: Any, names: dict[str, str], repeatable: tuple[str, ...] = ()) -> dict[str, Any]:
    """The children of ``element`` that fill a field, by field name; a field given twice, or an
    image inside the entry (whose title and link feedparser may take for the entry's), is
    feedparser's to settle."""
    if next(element.iter("image", ATOM + "image"), None) is not None:
        raise _Unsupported("an image inside an entry")
    found: dict[str, Any] = {}
    for child in element:
        name = names.get(child.tag)
        if name is None or child.tag in repeatable:
            continue
        if name in found:
            raise _Unsupported(f"{child.tag} given twice")
        found[name] = child
    return found


def _plain(element: Any) -> str:
    """The text of an element that holds only text (markup inside is feedparser's to serialise)."""
    if len(element):
        raise _Unsupported(f"markup inside {element.tag}")
    return (element.text or "").strip()


def _atom_text(element: Any) -> dict[str, str]:
    """An Atom text construct as feedparser's detail: its type, and its text (xhtml: the markup
    inside the wrapping div)."""
    kind = _ATOM_TYPES.get(element.get("type", "text"))
    if kind is None or element.get("src") is not None:
        raise _Unsupported("an Atom text of another type, or out of line")
    if kind != "application/xhtml+xml":
        return {"type": kind, "value": _plain(element)}
    divs = list(element)
    if len(divs) != 1 or divs[0].tag != "{http://www.w3.org/1999/xhtml}div" or (element.text or "").strip():
        raise _Unsupported("xhtml text without its one div")
    div = divs[0]
    inner = escape(div.text or "", quote=False) + "".join(etree.tostring(child, method="html", encoding="unicode") for child in div)
    return {"type": kind, "value": inner.strip()}


def _atom_link(links: list[Any]) -> str | None:
    """feedparser's entry link: the last alternate link of an HTML type, against xml:base."""
    chosen = None
    for link in links:
        href = link.get("href")
        if href is None:
            raise _Unsupported("a link without href")
        rel = link.get("rel", "alternate")
        kind = link.get("type", "application/atom+xml" if rel == "self" else "text/html")
        if rel == "alternate" and kind in ("text/html", "application/xhtml+xml"):
            chosen = urljoin(link.base, href) if link.base else href
    return chosen
