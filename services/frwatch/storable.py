"""Text fit to store: what a database column and an encoder take, from whatever a peer sent."""

from __future__ import annotations


def storable_text(text: str) -> str:
    """``text`` with NUL (which PostgreSQL refuses in text) and unpaired surrogates (which no
    encoder takes: aiohttp decodes header bytes that are not UTF-8 to them) as U+FFFD."""
    if text.isascii():
        return text.replace("\x00", "\ufffd")
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace").replace("\x00", "\ufffd")


def encodable(text: str) -> bool:
    """False for text with unpaired surrogates: what JSON's ``"\\ud800"`` and header bytes that are
    not UTF-8 decode to, which no database or hash can take (an API input to refuse)."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True
