"""Standard Webhooks signatures: the spec's test vector, rotation, and the reference verifier."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta, timezone

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from frwatch.notify.signing import active_secrets, generate_secret, secret_key, sign, webhook_headers

# From the Standard Webhooks specification's reference tests.
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TIMESTAMP = 1614265330
SPEC_BODY = '{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_spec_test_vector() -> None:
    assert sign(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY) == SPEC_SIGNATURE


def test_generated_secret_is_whsec_and_32_bytes() -> None:
    secret = generate_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret[6:])) == 32
    assert secret != generate_secret()


@pytest.mark.parametrize("bad", ["", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_not base64!",
                                 "whsec_" + base64.b64encode(b"short").decode(),
                                 "whsec_" + base64.b64encode(bytes(65)).decode()])
def test_invalid_secrets_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        secret_key(bad)


def test_reference_library_verifies_our_headers() -> None:
    secret, body = generate_secret(), '{"type":"subscription.ping"}'
    now = int(datetime.now(timezone.utc).timestamp())
    headers = webhook_headers([secret], "msg_1", now, body)
    assert Webhook(secret).verify(body, headers) == {"type": "subscription.ping"}
    with pytest.raises(WebhookVerificationError):
        Webhook(generate_secret()).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body + " ", headers)


def test_both_signatures_during_rotation_each_verifies() -> None:
    old, new, body = generate_secret(), generate_secret(), "{}"
    now = int(datetime.now(timezone.utc).timestamp())
    headers = webhook_headers([new, old], "msg_2", now, body)
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (old, new):
        Webhook(secret).verify(body, headers)


def test_previous_secret_signs_only_until_its_expiry() -> None:
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    later = now + timedelta(hours=24)
    assert active_secrets("new", "old", later, now) == ["new", "old"]
    assert active_secrets("new", "old", later, later) == ["new"]
    assert active_secrets("new", None, None, now) == ["new"]
