"""Feed bytes → entries (pure: no I/O, no clock unless ``now`` is left out).

The bytes we fetched are read by ``xmlread`` (lxml: well-formed RSS 2.0 and Atom 1.0, exactly as
feedparser reads them, several times faster), and by feedparser when that reader declines
(feedparser is lenient with broken documents, says what is wrong, and reads every other format).
Neither is given a URL. feedparser's charset detection runs first; then the document's DOCTYPE is checked: if it declares any entity other than a plain
character reference (``<!ENTITY nbsp "&#160;">``), it is removed, so no external entity is ever
resolved (XXE) and nothing expands (billion laughs). Both parsers hand over entries in feedparser's
shape; titles and summaries are reduced to plain text here, and links are resolved here.

Dedup keys: the entry's guid (with a trailing update timestamp removed, as GOV.UK appends one),
else its link, else a hash of its text. When a feed reuses guids for different entries within one
document, this feed falls back to links, and when links repeat too, to text hashes; the mode used
is returned so the caller can store it and pass it next time.
"""

from __future__ import annotations

import hashlib
import io
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser
import feedparser.datetimes as _fp_dates
from feedparser.encodings import convert_to_utf8

from frwatch.errors import PermanentError
from frwatch.ingest import xmlread
from frwatch.ingest.html import collapse_whitespace, html_to_text, truncate
from frwatch.timeutil import utcnow

DEDUP_MODES = ("guid", "link", "content")
TITLE_LIMIT = 500
SUMMARY_LIMIT = 5000
KEY_LIMIT = 255  # longer guids/links are replaced by their hash (the column holds 300)
EARLIEST = datetime(1995, 1, 1, tzinfo=UTC)
FUTURE_SLACK = timedelta(days=1)

_HTML_TYPES = ("text/html", "application/xhtml+xml")
# "…/merger-inquiry#2026-07-31T11:00:46Z" or "…#1690000000": the fragment changes on every update.
_TIMESTAMP_FRAGMENT = re.compile(
    r"#(?:\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?(?:Z|[+-]\d{2}:?\d{2})?|\d{10}(?:\d{3})?)$"
)
_PROLOG_SKIP = re.compile(rb"(?:\s+|<\?.*?\?>|<!--.*?-->)*", re.DOTALL)
# a construct left open runs to the end of the data (so the DOCTYPE "never ends"): each is scanned
# once, where a failed match at every "<!--" rescanned the rest, quadratic in the body's size
_DOCTYPE_TOKEN = re.compile(
    rb"\"[^\"]*(?:\"|\Z)|'[^']*(?:'|\Z)|<!--.*?(?:-->|\Z)|<\?.*?(?:\?>|\Z)|[^\"'<>\[\]]+|[<>\[\]]", re.DOTALL)
_ENTITY_DECL = re.compile(rb"<!ENTITY\s+(%\s*)?([^\s\"']*)\s*(\"[^\"]*\"|'[^']*'|[A-Z]+)?", re.IGNORECASE)
_CHAR_REF = re.compile(rb"&#(?:[0-9]{1,7}|x[0-9a-fA-F]{1,6});")
_NUMERIC_REF = re.compile(rb"&#(?:[xX]([0-9a-fA-F]+)|([0-9]+));")
_REPLACEMENT_REF = b"&#xFFFD;"
_URL_WHITESPACE = str.maketrans("", "", "\t\n\r")
_CONTROL = re.compile("[\x00-\x1f\x7f]")
_C0_AND_SPACE = "".join(map(chr, range(0x21)))


class NotAFeed(PermanentError):
    """The body is not a usable RSS/Atom document (empty, an HTML page, dangerous XML, garbage)."""


@dataclass(frozen=True)
class Entry:
    key: str  # dedup key, unique within the feed: guid, link or "sha256:<content hash>"
    guid: str | None  # as published
    link: str | None  # absolute http(s) URL
    title: str  # plain text
    summary: str  # plain text, at most SUMMARY_LIMIT characters
    published: datetime | None  # aware UTC; None when missing or implausible
    content_hash: str  # sha256 of title + "\n" + summary: changes when the item is edited


@dataclass(frozen=True)
class ParsedFeed:
    title: str | None
    entries: list[Entry]
    ttl: timedelta | None  # RSS <ttl>
    dedup_mode: str  # the mode the keys were made with: store it and pass it next time
    warning: str | None  # what was wrong with a document that still parsed (feedparser "bozo")


def body_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def parse_feed(body: bytes, *, url: str, content_type: str | None = None, dedup_mode: str = "guid",
               now: datetime | None = None) -> ParsedFeed:
    """Parse fetched feed bytes; raises NotAFeed when there is no feed to read."""
    if not body.strip():
        raise NotAFeed("empty body: no feed document")
    now = now or utcnow()
    headers = {"content-type": content_type} if content_type else {}
    encoding_info: dict[str, Any] = {}
    # feedparser's own charset detection (BOM, HTTP charset, XML declaration), done first so the
    # DOCTYPE check sees exactly the text feedparser will parse, whatever the original encoding.
    try:  # feedparser's own code: a crash in it is this document's problem, told as such
        data = convert_to_utf8(headers, body, encoding_info)
    except MemoryError:
        raise
    except Exception as exc:
        raise NotAFeed(f"unreadable encoding: {_describe(exc)}") from None
    data, doctype_warning = strip_dangerous_doctype(data)
    document = xmlread.read(data) or _read_lenient(repair_char_refs(data), body, content_type)
    entries = [entry for raw in document.entries if (entry := _entry(raw, url, now)) is not None]
    mode, keys = _assign_keys(entries, dedup_mode if dedup_mode in DEDUP_MODES else "guid")
    unique: dict[str, Entry] = {}
    for key, entry in zip(keys, entries):  # an entry listed twice is kept once (the first, usually newest)
        unique.setdefault(key, replace(entry, key=key))

    title = html_to_text(document.title, limit=TITLE_LIMIT) if document.title else None
    problem = document.problem or encoding_info.get("bozo_exception")
    warnings = [text for text in (doctype_warning, _describe(problem) if problem else None) if text]
    return ParsedFeed(
        title=title or None,
        entries=list(unique.values()),
        ttl=_ttl(document.ttl),
        dedup_mode=mode,
        warning="; ".join(warnings) or None,
    )


def repair_char_refs(data: bytes) -> bytes:
    """Numeric character references no XML parser takes, made ones it does: a UTF-16 surrogate
    pair written as two references (``&#xD83D;&#xDE00;``, as some generators write emoji) becomes
    the one character, any other reference to a code point XML forbids (a lone surrogate, NUL,
    past U+10FFFF) U+FFFD. Otherwise one such reference fails the whole document (feedparser
    raises on them), and with it every good entry beside it. Run only on the documents lxml
    refused (a well-formed feed has no such reference), one reference at a time."""
    out: list[bytes] = []
    last = 0
    high: re.Match[bytes] | None = None  # a high surrogate waiting for its low half
    for match in _NUMERIC_REF.finditer(data):
        code = _ref_code(match)
        if high is not None:
            if match.start() == high.end() and 0xDC00 <= code < 0xE000:
                pair = 0x10000 + ((_ref_code(high) - 0xD800) << 10) + code - 0xDC00
                out += [data[last:high.start()], b"&#x%X;" % pair]
                last, high = match.end(), None
                continue
            out += [data[last:high.start()], _REPLACEMENT_REF]
            last, high = high.end(), None
        if 0xD800 <= code < 0xDC00:
            high = match
        elif not _xml_char(code):
            out += [data[last:match.start()], _REPLACEMENT_REF]
            last = match.end()
    if high is not None:
        out += [data[last:high.start()], _REPLACEMENT_REF]
        last = high.end()
    return b"".join(out) + data[last:] if out else data


def _ref_code(match: re.Match[bytes]) -> int:
    """The code point a reference names; -1 past any (more digits than U+10FFFF has)."""
    hex_digits, decimal = match.group(1), match.group(2)
    digits = (hex_digits or decimal).lstrip(b"0")
    if len(digits) > (6 if hex_digits else 7):
        return -1
    return int(digits or b"0", 16 if hex_digits else 10)


def _xml_char(code: int) -> bool:
    return code in (0x9, 0xA, 0xD) or 0x20 <= code <= 0xD7FF or 0xE000 <= code <= 0xFFFD or 0x10000 <= code <= 0x10FFFF


def _read_lenient(data: bytes, body: bytes, content_type: str | None) -> xmlread.FeedDocument:
    try:  # feedparser raises on some inputs (its open issues #591, #599): the document's problem, told as such
        parsed = feedparser.parse(
            io.BytesIO(data),
            # no content-location: links are resolved against ``url`` here (_absolute_http); a base
            # would make feedparser urljoin every element (~30% of its time) for nothing
            response_headers={"content-type": "application/xml; charset=utf-8"},
            resolve_relative_uris=False,
            sanitize_html=False,
        )
    except MemoryError:
        raise
    except Exception as exc:
        raise NotAFeed(f"feed parser failed: {_describe(exc)}") from None
    if not parsed.get("version") and not parsed.entries:
        raise NotAFeed(_not_a_feed_reason(body, content_type, parsed))
    return xmlread.FeedDocument(parsed.entries, parsed.feed.get("title"), parsed.feed.get("ttl"),
                                parsed.get("bozo_exception"))


def strip_dangerous_doctype(data: bytes) -> tuple[bytes, str | None]:
    """Remove the DOCTYPE if it declares an entity other than a character reference.

    ``data`` is ASCII-compatible (UTF-8). External entities (SYSTEM/PUBLIC), parameter entities and
    entities whose value is more than one character reference are what XXE and entity-expansion
    attacks need; without the DOCTYPE nothing is declared, so a reference such as ``&xxe;`` stays
    literal text. Returns the data to parse and a warning when something was removed. A DOCTYPE
    that never ends leaves no document: NotAFeed.
    """
    start = _PROLOG_SKIP.match(data).end()  # type: ignore[union-attr]  # matches the empty string
    if data[start:start + 9].upper() != b"<!DOCTYPE":
        return data, None
    subset = bytearray()
    depth = 0
    for token in _DOCTYPE_TOKEN.finditer(data, start + 9):
        text = token.group()
        if text == b">" and depth == 0:
            end = token.end()
            break
        if text == b"[":
            depth += 1
        elif text == b"]":
            depth = max(depth - 1, 0)
        elif depth:
            subset += text
    else:
        raise NotAFeed("malformed XML: the DOCTYPE declaration never ends")
    for declaration in _ENTITY_DECL.finditer(bytes(subset)):
        parameter, name, value = declaration.groups()
        label = name.decode("ascii", "replace")
        if parameter:
            problem = f"parameter entity %{label}"
        elif value is None or value[:1] not in (b'"', b"'"):
            problem = f"external entity {label} (XXE)"
        elif not _CHAR_REF.fullmatch(value[1:-1]):
            problem = f"entity {label} whose value is not one character reference"
        else:
            continue
        return data[:start] + data[end:], f"removed the DOCTYPE: it declares {problem}"
    return data, None


def _not_a_feed_reason(body: bytes, content_type: str | None, parsed: Any) -> str:
    head = body[:4096].lower()
    if b"<html" in head or b"<!doctype html" in head or (content_type or "").lower().startswith("text/html"):
        return f"an HTML page, not an RSS/Atom feed (content-type {content_type or 'not given'})"
    problem = parsed.get("bozo_exception")
    return "not an RSS/Atom feed" + (f": {_describe(problem)}" if problem else "")


def _describe(problem: Exception) -> str:
    return str(problem) or type(problem).__name__


def _entry(raw: Any, base: str, now: datetime) -> Entry | None:
    summary = _text(raw.get("summary_detail")) or _text(next(iter(raw.get("content") or ()), None))
    summary = truncate(summary, SUMMARY_LIMIT)
    title = truncate(_text(raw.get("title_detail")), TITLE_LIMIT) or truncate(summary, 120)
    link = _absolute_http(raw.get("link"), base)
    guid = collapse_whitespace(raw.get("id") or "") or None
    if not (title or link or guid):
        return None
    return Entry(
        key="",  # assigned once the dedup mode of the whole document is known
        guid=guid,
        link=link,
        title=title,
        summary=summary,
        published=_published(raw, now),
        content_hash=hashlib.sha256(f"{title}\n{summary}".encode()).hexdigest(),
    )


def _text(detail: Any) -> str:
    """Plain text of a feedparser text construct (HTML types are stripped, plain text kept)."""
    if not detail or not detail.get("value"):
        return ""
    if (detail.get("type") or "").lower() in _HTML_TYPES:
        return html_to_text(detail["value"], limit=SUMMARY_LIMIT * 2)
    return collapse_whitespace(detail["value"])


def _absolute_http(link: str | None, base: str) -> str | None:
    """An http(s) URL, or None. Tabs and newlines are dropped and control characters at either
    end stripped (as URL parsers do); a link with any other inside is none (PostgreSQL refuses
    NUL; the Atom feed cannot carry them)."""
    link = (link or "").translate(_URL_WHITESPACE).strip(_C0_AND_SPACE)  # as URL parsers strip them
    if not link or _CONTROL.search(link):
        return None
    try:
        absolute = urljoin(base, link)
        scheme = urlsplit(absolute).scheme.lower()
    except ValueError:
        return None
    return absolute if scheme in ("http", "https") else None


def _published(raw: Any, now: datetime) -> datetime | None:
    """The first plausible of published/updated/created, in UTC."""
    for field in ("published", "updated", "created"):
        when = parse_date(raw.get(field), now=now)
        if when is not None:
            return when
    return None


def parse_date(text: str | None, *, now: datetime) -> datetime | None:
    """A feed date as aware UTC, or None when missing, unreadable, before 1995 or after now + 1 day.

    feedparser's own chain ends with a lenient ISO 8601 reader that turns garbage such as
    "2013-xx-27" or "2003-12-31T25:14:55Z" into a wrong date; a wrong date is worse than none
    (the caller falls back to first-seen), so that reader is left out. The cost: the two-digit-year
    truncated forms of ISO 8601:1988 ("031231", "-0312") read as None.
    """
    text = (text or "").strip()
    if not text or _impossible_offset(text):
        return None
    for handler in _DATE_HANDLERS:
        try:
            value = handler(text)
        except (KeyError, IndexError, OverflowError, ValueError):  # some handlers raise on near-misses
            value = None
        if value is not None:
            break
    else:
        return None
    try:
        when = datetime(*value[:6], tzinfo=UTC)
    except (TypeError, ValueError):
        return None
    if when < EARLIEST or when > now + FUTURE_SLACK:
        return None
    return when


_COMMA_WITHOUT_SPACE = re.compile(r",(?=\S)")  # "Fri,24 Nov 2023 …"
# a numeric UTC offset after a time of day: "…18:14:55-08:00", "…T181455-0800", "…22:40:00 GMT-01:01",
# "…17:26 +0200 (CEST)", "…10:00+05"
_OFFSET = re.compile(r"\d:?\d\d(?::?\d\d(?:[.,]\d+)?)?\s*(?:GMT|UTC|UT)?\s*([+-])(\d\d)(?::?(\d\d))?"
                     r"\s*(?:\([^()]*\))?\s*$", re.IGNORECASE)
OFFSET_RANGE_MINUTES = {"-": 12 * 60, "+": 14 * 60}  # the world's offsets run from -12:00 to +14:00


def _impossible_offset(text: str) -> bool:
    """True for an offset no place has (+25:00, -13:00, +02:75): feedparser's readers would shift
    the date by it, and a wrong date is worse than none."""
    match = _OFFSET.search(text)
    if match is None:
        return False
    hours, minutes = int(match[2]), int(match[3] or 0)
    return minutes > 59 or hours * 60 + minutes > OFFSET_RANGE_MINUTES[match[1]]


def _rfc822(text: str) -> time.struct_time | None:
    value: time.struct_time | None = _fp_dates.rfc822._parse_date_rfc822(_COMMA_WITHOUT_SPACE.sub(", ", text))
    return value


# feedparser's per-format readers (underscore names, unchanged through 6.x), its lenient ISO 8601 one left out.
_DATE_HANDLERS: tuple[Callable[[str], time.struct_time | None], ...] = (
    _fp_dates.w3dtf._parse_date_w3dtf,  # strict: rejects 25:00, 2013-xx-27, trailing junk
    _rfc822,
    _fp_dates.asctime._parse_date_asctime,
    _fp_dates.perforce._parse_date_perforce,
    _fp_dates.hungarian._parse_date_hungarian,
    _fp_dates.greek._parse_date_greek,
    _fp_dates.korean._parse_date_nate,
    _fp_dates.korean._parse_date_onblog,
)


def normalise_guid(guid: str, link: str | None) -> str:
    """Drop a trailing update-timestamp fragment when what is left is the entry's own link
    (GOV.UK's "…/page#2026-07-31T11:00:46Z"), so an edited entry keeps its identity. Otherwise
    the fragment may be the identity ("…/enforcement#2026-11-02", one page's dated actions) and
    is kept: dropping it would make a new action an edit of an older one."""
    stripped = _TIMESTAMP_FRAGMENT.sub("", guid)
    return stripped if stripped == link else guid


def _assign_keys(entries: list[Entry], mode: str) -> tuple[str, list[str]]:
    """Keys in ``mode``, or in the next safer mode when ``mode`` cannot tell this document's entries apart."""
    for candidate in DEDUP_MODES[DEDUP_MODES.index(mode):]:
        if candidate == "content" or not _ambiguous(entries, candidate):
            return candidate, [_key(entry, candidate) for entry in entries]
    raise AssertionError("unreachable: content mode is always accepted")


def _ambiguous(entries: list[Entry], mode: str) -> bool:
    """True when one published guid (or link) stands for entries that differ.

    Raw guids are compared, not normalised ones: two updates of one GOV.UK page differ only in the
    timestamp fragment and are meant to collapse into one item.
    """
    seen: dict[str, tuple[str | None, str]] = {}
    for entry in entries:
        identity = (entry.guid or entry.link) if mode == "guid" else entry.link  # what ``_key`` uses
        if identity and seen.setdefault(identity, (entry.link, entry.content_hash)) != (entry.link, entry.content_hash):
            return True
    return False


def _key(entry: Entry, mode: str) -> str:
    if mode == "guid" and entry.guid:
        key = normalise_guid(entry.guid, entry.link)
    elif mode in ("guid", "link") and entry.link:
        key = entry.link
    else:
        return f"sha256:{entry.content_hash}"
    return key if len(key) <= KEY_LIMIT else f"sha256:{hashlib.sha256(key.encode()).hexdigest()}"


def _ttl(value: Any) -> timedelta | None:
    """RSS <ttl> in minutes; None unless a whole number between 1 minute and 7 days."""
    try:
        minutes = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return timedelta(minutes=minutes) if 1 <= minutes <= 7 * 24 * 60 else None
