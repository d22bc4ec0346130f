"""Secret rotation: both signatures during the overlap, then only the new one."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from standardwebhooks import Webhook

from frwatch.notify.signing import sign
from frwatch.notify.worker import deliver_due
from frwatch.runtime import Runtime
from tests.conftest import ADMIN_HEADERS
from tests.integration.test_subscriptions_api import create
from tests.webhooks import FakeClock, WebhookReceiver, seed_event


async def test_rotation_signs_with_both_secrets_for_the_overlap(api: Any, runtime: Runtime) -> None:
    async with WebhookReceiver() as receiver:
        sub = await create(api, ADMIN_HEADERS, url=receiver.url())
        old = sub["secret"]
        headers = {**ADMIN_HEADERS, "Idempotency-Key": "rotate-1"}
        response = await api.post(f"/v1/subscriptions/{sub['id']}/rotate-secret", headers=headers)
        rotated = await response.json()
        again = await (await api.post(f"/v1/subscriptions/{sub['id']}/rotate-secret", headers=headers)).json()
        assert response.status == 200 and again == rotated  # a repeated request does not rotate twice
        new = rotated["secret"]
        assert new != old and new.startswith("whsec_")
        fetched = await (await api.get(f"/v1/subscriptions/{sub['id']}", headers=ADMIN_HEADERS)).json()
        assert fetched["previous_secret_expires_at"] == rotated["previous_secret_expires_at"]

        await seed_event(runtime)
        await deliver_due(runtime)
        [during] = receiver.received
        assert len(during.headers["webhook-signature"].split(" ")) == 2
        for secret in (old, new):  # a receiver still on the old secret, and one already on the new
            Webhook(secret).verify(during.body, during.headers)

        runtime.clock = FakeClock(runtime.clock() + runtime.settings.webhook_rotation_overlap + timedelta(seconds=1))
        await seed_event(runtime)
        await deliver_due(runtime)
        after = receiver.received[1]
        timestamp = int(after.headers["webhook-timestamp"])
        assert after.headers["webhook-signature"] == sign(new, after.id, timestamp, after.body)


async def test_rotation_accepts_a_given_secret_and_refuses_a_bad_one(api: Any) -> None:
    sub = await create(api, ADMIN_HEADERS)
    path = f"/v1/subscriptions/{sub['id']}/rotate-secret"
    chosen = "whsec_" + "A" * 44
    response = await api.post(path, json={"secret": chosen}, headers=ADMIN_HEADERS)
    assert response.status == 200 and (await response.json())["secret"] == chosen
    response = await api.post(path, json={"secret": "nope"}, headers=ADMIN_HEADERS)
    assert response.status == 422 and (await response.json())["field"] == "secret"
