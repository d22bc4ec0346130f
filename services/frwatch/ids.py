"""Public identifiers: a short type prefix and a sortable random part (``sub_01J…``)."""

from __future__ import annotations

import os
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case


def new_id(prefix: str) -> str:
    """Time-ordered (48-bit ms) + 80 random bits, so ids sort by creation like ULIDs."""
    value = (int(time.time() * 1000) << 80) | int.from_bytes(os.urandom(10), "big")
    chars = []
    for _ in range(26):
        value, rest = divmod(value, 32)
        chars.append(_ALPHABET[rest])
    return f"{prefix}_{''.join(reversed(chars))}"
