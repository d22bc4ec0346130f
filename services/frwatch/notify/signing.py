"""Standard Webhooks signing (https://www.standardwebhooks.com): secrets and signature headers.

A secret is ``whsec_`` + base64 of the key bytes. A signature is ``v1,`` + base64 of
HMAC-SHA256(key, "{msg_id}.{timestamp}.{body}"). Several signatures (during a secret rotation)
are sent space-separated in one ``webhook-signature`` header; a receiver accepts any of them.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hmac
import secrets
from datetime import datetime
from typing import Sequence

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
MIN_SECRET_BYTES = 24  # the spec's bounds for an accepted secret
MAX_SECRET_BYTES = 64


def generate_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


@functools.lru_cache(maxsize=4096)
def secret_key(secret: str) -> bytes:
    """The key bytes of a ``whsec_`` secret; ValueError when it is not one. Kept: every attempt
    signs with its endpoint's secret."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError(f"must start with {SECRET_PREFIX!r}")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX):], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("must be whsec_ followed by base64") from None
    if not MIN_SECRET_BYTES <= len(key) <= MAX_SECRET_BYTES:
        raise ValueError(f"key must be {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} bytes")
    return key


def sign(secret: str, msg_id: str, timestamp: int, body: str) -> str:
    content = f"{msg_id}.{timestamp}.{body}".encode()
    return "v1," + base64.b64encode(hmac.digest(secret_key(secret), content, "sha256")).decode()


def active_secrets(secret: str, previous: str | None, previous_expires_at: datetime | None,
                   now: datetime) -> list[str]:
    """The current secret, plus the previous one while a rotation's overlap lasts."""
    if previous and previous_expires_at is not None and previous_expires_at > now:
        return [secret, previous]
    return [secret]


def webhook_headers(secrets_: Sequence[str], msg_id: str, timestamp: int, body: str) -> dict[str, str]:
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(sign(secret, msg_id, timestamp, body) for secret in secrets_),
    }
