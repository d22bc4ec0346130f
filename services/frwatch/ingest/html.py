"""HTML fragment → plain text, safely and without a dependency.

Feed titles and summaries arrive as HTML of any quality. Only text nodes are kept: tags, comments,
``<script>``/``<style>`` bodies vanish, entities are unescaped, whitespace is collapsed. Nothing
is ever fetched or executed; ``html.parser`` never raises on malformed markup.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

# Elements whose text is not content.
_SKIP = frozenset({"script", "style", "template", "noscript", "head", "title", "svg", "math", "iframe", "object"})
# Elements that separate words: a space stands in for them so "<p>a</p><p>b</p>" reads "a b".
_BREAK = frozenset({
    "address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt", "figcaption", "figure", "footer",
    "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "img", "li", "main", "nav", "ol", "p", "pre", "section",
    "table", "td", "th", "tr", "ul",
})
# Markup beyond this many characters is not looked at (the text is capped far below it anyway).
_MAX_INPUT = 200_000
# A tag cut off by truncation ("… <a href=\"/x"): html.parser would emit it as text.
_UNFINISHED_TAG = re.compile(r"<[A-Za-z/!?][^<>]*\Z")


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self._skipping.append(tag)
        elif tag in _BREAK:
            self.parts.append(" ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BREAK:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._skipping:
            while self._skipping and self._skipping.pop() != tag:
                pass
        elif tag in _BREAK:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


# Characters XML 1.0 cannot carry (C0 controls but tab/CR/LF, lone surrogates, U+FFFE/U+FFFF): they
# carry no text, and one of them stored would make every Atom feed built from it ill-formed.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def collapse_whitespace(text: str) -> str:
    """Runs of whitespace (including NBSP and line breaks) become one space; ends are trimmed;
    control characters are dropped."""
    return " ".join(_NOT_XML.sub("", text).split())


def truncate(text: str, limit: int) -> str:
    """At most ``limit`` characters, cut at a word boundary when one is near, marked with '…'."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit * 0.8:
        cut = cut[:space]
    return cut.rstrip() + "…"


def html_to_text(markup: str, *, limit: int | None = None) -> str:
    """Visible text of an HTML fragment, entities unescaped, whitespace collapsed."""
    if "<" not in markup and "&" not in markup:
        text = collapse_whitespace(markup)
    else:
        parser = _TextExtractor()
        parser.feed(_UNFINISHED_TAG.sub("", markup[:_MAX_INPUT]))
        parser.close()
        text = collapse_whitespace("".join(parser.parts))
    return truncate(text, limit) if limit is not None else text
