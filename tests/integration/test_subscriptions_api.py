"""/v1/subscriptions and /v1/api-keys: CRUD, validation problems, tenants, idempotency, ping."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from frwatch.notify.signing import generate_secret
from tests.conftest import ADMIN_HEADERS
from tests.webhooks import WebhookReceiver

PROBLEM = "application/problem+json"


async def new_key(api: Any, name: str = "acme") -> dict[str, str]:
    response = await api.post("/v1/api-keys", json={"name": name}, headers=ADMIN_HEADERS)
    assert response.status == 201
    return {"Authorization": f"Bearer {(await response.json())['key']}"}


async def create(api: Any, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    body.setdefault("url", "http://127.0.0.1:9/hook")
    response = await api.post("/v1/subscriptions", json=body, headers=headers)
    assert response.status == 201, await response.text()
    return await response.json()


async def problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status == status, await response.text()
    assert response.content_type == PROBLEM
    body = await response.json()
    assert body["status"] == status and body["detail"]
    return body


async def test_api_keys_are_admin_only_shown_once_and_revocable(api: Any) -> None:
    response = await api.post("/v1/api-keys", json={"name": "acme"}, headers=ADMIN_HEADERS)
    created = await response.json()
    assert response.status == 201 and created["key"].startswith("frw_")
    assert created["key"].startswith(created["prefix"])
    listed = await (await api.get("/v1/api-keys", headers=ADMIN_HEADERS)).json()
    assert [k["id"] for k in listed["data"]] == [created["id"]] and "key" not in listed["data"][0]
    integrator = {"Authorization": f"Bearer {created['key']}"}
    await problem(await api.get("/v1/api-keys", headers=integrator), 403)
    await problem(await api.post("/v1/api-keys", json={"name": "x"}), 401)
    assert (await api.get("/v1/subscriptions", headers=integrator)).status == 200
    assert (await api.delete(f"/v1/api-keys/{created['id']}", headers=ADMIN_HEADERS)).status == 204
    await problem(await api.get("/v1/subscriptions", headers=integrator), 401)


async def test_create_get_patch_delete(api: Any) -> None:
    headers = await new_key(api)
    created = await create(api, headers, description="alerts", event_types=["enforcement.detected"],
                           filters={"jurisdictions": ["gb", "US"], "languages": ["EN"], "min_score": 0.5})
    assert created["secret"].startswith("whsec_") and len(base64.b64decode(created["secret"][6:])) == 32
    assert created["filters"] == {"jurisdictions": ["GB", "US"], "regulators": [], "action_types": [],
                                  "targets": [], "languages": ["en"], "min_score": 0.5}
    assert created["enabled"] is True and created["health"]["consecutive_failures"] == 0
    path = f"/v1/subscriptions/{created['id']}"
    fetched = await (await api.get(path, headers=headers)).json()
    assert "secret" not in fetched and fetched["description"] == "alerts"
    response = await api.patch(path, json={"description": "changed", "enabled": False,
                                           "filters": {"regulators": ["ICO"]}}, headers=headers)
    patched = await response.json()
    assert response.status == 200 and patched["description"] == "changed" and patched["enabled"] is False
    assert patched["filters"]["regulators"] == ["ICO"] and patched["filters"]["jurisdictions"] == []
    assert patched["event_types"] == ["enforcement.detected"]
    assert (await api.delete(path, headers=headers)).status == 204
    await problem(await api.get(path, headers=headers), 404)


async def test_a_valid_secret_is_accepted(api: Any) -> None:
    secret = generate_secret()
    assert (await create(api, ADMIN_HEADERS, secret=secret))["secret"] == secret


async def test_integrators_see_only_their_own(api: Any) -> None:
    alice, bob = await new_key(api, "alice"), await new_key(api, "bob")
    mine = await create(api, alice)
    theirs = await create(api, bob)
    path = f"/v1/subscriptions/{theirs['id']}"
    for response in (await api.get(path, headers=alice), await api.patch(path, json={"enabled": False}, headers=alice),
                     await api.delete(path, headers=alice), await api.post(f"{path}/ping", headers=alice),
                     await api.post(f"{path}/rotate-secret", headers=alice),
                     await api.get(f"{path}/deliveries", headers=alice)):
        await problem(response, 404)
    listed = await (await api.get("/v1/subscriptions", headers=alice)).json()
    assert [s["id"] for s in listed["data"]] == [mine["id"]]
    everything = await (await api.get("/v1/subscriptions", headers=ADMIN_HEADERS)).json()
    assert {s["id"] for s in everything["data"]} == {mine["id"], theirs["id"]}
    assert (await api.get(path, headers=bob)).status == 200


async def test_list_is_paginated(api: Any) -> None:
    ids = [(await create(api, ADMIN_HEADERS))["id"] for _ in range(3)]
    first = await (await api.get("/v1/subscriptions?limit=2", headers=ADMIN_HEADERS)).json()
    assert [s["id"] for s in first["data"]] == ids[:2] and first["next_cursor"] == ids[1]
    rest = await (await api.get(f"/v1/subscriptions?limit=2&cursor={first['next_cursor']}",
                                headers=ADMIN_HEADERS)).json()
    assert [s["id"] for s in rest["data"]] == ids[2:] and rest["next_cursor"] is None
    assert (await problem(await api.get("/v1/subscriptions?limit=0", headers=ADMIN_HEADERS), 400))["field"] == "limit"


@pytest.mark.parametrize("body, field", [
    ({}, "url"),
    ({"url": "http://127.0.0.1:9/", "colour": "red"}, "colour"),
    ({"url": 5}, "url"),
    ({"url": "http://127.0.0.1:9/", "enabled": "yes"}, "enabled"),
    ({"url": "http://127.0.0.1:9/", "event_types": ["enforcement.deleted"]}, "event_types[0]"),
    ({"url": "http://127.0.0.1:9/", "filters": {"min_score": 2}}, "filters.min_score"),
    ({"url": "http://127.0.0.1:9/", "filters": {"jurisdictions": ["Britain"]}}, "filters.jurisdictions[0]"),
    ({"url": "http://127.0.0.1:9/", "filters": {"action_types": ["parking"]}}, "filters.action_types[0]"),
    ({"url": "http://127.0.0.1:9/", "filters": {"size": 1}}, "filters.size"),
    ({"url": "http://127.0.0.1:9/", "filters": []}, "filters"),
    ({"url": "http://127.0.0.1:9/", "secret": "whsec_short"}, "secret"),
    ({"url": "http://127.0.0.1:9/", "description": None}, "description"),
    ({"url": "ftp://127.0.0.1/hook"}, "url"),
    ({"url": "http://10.1.2.3/hook"}, "url"),
    ({"url": "http://169.254.169.254/latest/meta-data"}, "url"),
    ({"url": "http://[::ffff:10.0.0.1]/"}, "url"),
    ({"url": "http://127.0.0.1:99999/hook"}, "url"),  # no port to deliver to
    ({"url": "http://127.0.0.1:0/hook"}, "url"),
])
async def test_invalid_bodies_name_the_field(api: Any, body: dict[str, Any], field: str) -> None:
    found = await problem(await api.post("/v1/subscriptions", json=body, headers=ADMIN_HEADERS), 422)
    assert found["field"] == field


async def test_patch_refuses_the_secret_and_bad_urls(api: Any) -> None:
    path = f"/v1/subscriptions/{(await create(api, ADMIN_HEADERS))['id']}"
    found = await problem(await api.patch(path, json={"secret": generate_secret()}, headers=ADMIN_HEADERS), 422)
    assert found["field"] == "secret"
    found = await problem(await api.patch(path, json={"url": "http://192.168.1.1/"}, headers=ADMIN_HEADERS), 422)
    assert found["field"] == "url"


async def test_unreadable_bodies(api: Any) -> None:
    await problem(await api.post("/v1/subscriptions", data="{", headers={**ADMIN_HEADERS,
                                                                         "Content-Type": "application/json"}), 400)
    await problem(await api.post("/v1/subscriptions", data="[1]", headers={**ADMIN_HEADERS,
                                                                           "Content-Type": "application/json"}), 400)
    await problem(await api.post("/v1/subscriptions", data="url=x", headers={**ADMIN_HEADERS,
                                                                             "Content-Type": "text/plain"}), 415)
    huge = b'{"url": "' + b"a" * (1024 * 1024 + 10) + b'"}'
    found = await problem(await api.post("/v1/subscriptions", data=huge,
                                         headers={**ADMIN_HEADERS, "Content-Type": "application/json"}), 413)
    assert "1048576" in found["detail"]


async def test_idempotency_key_replays_the_first_result(api: Any) -> None:
    headers = {**ADMIN_HEADERS, "Idempotency-Key": "create-1"}
    body = {"url": "http://127.0.0.1:9/hook"}
    first = await api.post("/v1/subscriptions", json=body, headers=headers)
    again = await api.post("/v1/subscriptions", json=body, headers=headers)
    assert first.status == again.status == 201
    assert await first.json() == await again.json() and again.headers["Idempotent-Replayed"] == "true"
    listed = await (await api.get("/v1/subscriptions", headers=ADMIN_HEADERS)).json()
    assert len(listed["data"]) == 1
    found = await problem(await api.post("/v1/subscriptions", json={"url": "http://127.0.0.1:8/"}, headers=headers),
                          422)
    assert found["field"] == "Idempotency-Key"
    other = await new_key(api)  # keys are per caller
    assert (await api.post("/v1/subscriptions", json=body, headers={**other, "Idempotency-Key": "create-1"})
            ).headers.get("Idempotent-Replayed") is None


async def test_ping_sends_a_signed_ping_and_returns_the_attempt(api: Any) -> None:
    async with WebhookReceiver() as receiver:
        receiver.respond("/down", 503, body=b"maintenance")
        up = await create(api, ADMIN_HEADERS, url=receiver.url("/hook"))
        down = await create(api, ADMIN_HEADERS, url=receiver.url("/down"), enabled=False)
        response = await api.post(f"/v1/subscriptions/{up['id']}/ping", headers=ADMIN_HEADERS)
        result = await response.json()
        assert response.status == 200 and result["delivered"] is True and result["status_code"] == 200
        [body] = receiver.verify(up["secret"], "/hook")
        assert body["type"] == "subscription.ping" and body["data"]["subscription_id"] == up["id"]
        assert receiver.on("/hook")[0].id == result["message_id"]
        failed = await (await api.post(f"/v1/subscriptions/{down['id']}/ping", headers=ADMIN_HEADERS)).json()
        assert failed["delivered"] is False and failed["status_code"] == 503
        assert failed["response_excerpt"] == "maintenance"
    log = await (await api.get(f"/v1/subscriptions/{up['id']}/deliveries", headers=ADMIN_HEADERS)).json()
    [attempt] = log["data"]
    assert attempt["message_id"] == result["message_id"] and attempt["event_type"] == "subscription.ping"
    assert attempt["status_code"] == 200 and attempt["message_status"] == "delivered"
