"""The HTML dashboard at ``/``: login by form into an HttpOnly cookie, filters, escaping, and
what each kind of viewer may see."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from frwatch.api.app import create_app
from frwatch.models import Outbox, Subscription
from frwatch.runtime import open_runtime
from tests.conftest import ADMIN_HEADERS, make_settings
from tests.integration.read_seed import HOSTILE, Seeded, add_event, bearer, integrator_token, seed


@pytest.fixture
async def data(runtime: Any) -> Seeded:
    seeded = await seed(runtime.sessions)
    await add_event(runtime.sessions, "evt_hostile", 9, title=HOSTILE, regulator="<i>Reg</i>")
    return seeded


async def add_subscription(runtime: Any, sub_id: str, owner: str | None, *, failing: bool = False) -> None:
    now = runtime.clock()
    async with runtime.sessions() as session, session.begin():
        session.add(Subscription(id=sub_id, owner_id=owner, url=f"https://hooks.example/{sub_id}?key=s3cret",
                                 description=f"desc {sub_id}", secret="whsec_topsecret", event_types=[], filters={},
                                 created_at=now, updated_at=now, consecutive_failures=3 if failing else 0,
                                 failing_since=now - timedelta(hours=2) if failing else None))
        await session.flush()
        session.add(Outbox(id=f"msg_{sub_id}", subscription_id=sub_id, event_type="enforcement.detected",
                           payload="{}", status="pending", attempts=1, next_attempt_at=now, created_at=now))


async def html(resp: Any) -> str:
    assert resp.status == 200, await resp.text()
    assert resp.content_type == "text/html"
    assert "script-src" not in resp.headers["Content-Security-Policy"]  # default-src 'none': no script at all
    return await resp.text()


async def sign_in(api: Any, token: str) -> Any:
    return await api.post("/login", data={"token": token}, allow_redirects=False)


async def test_without_a_token_the_dashboard_asks_to_sign_in(api: Any, data: Seeded) -> None:
    resp = await api.get("/", allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/login"
    page = await html(await api.get("/login"))
    assert 'type="password"' in page and 'action="/login"' in page


async def test_sign_in_sets_an_httponly_cookie_and_shows_events(api: Any, data: Seeded) -> None:
    refused = await sign_in(api, "wrong")
    assert refused.headers["Location"] == "/login?failed" and "Set-Cookie" not in refused.headers
    assert "not accepted" in await html(await api.get("/login?failed"))
    assert (await api.get("/", allow_redirects=False)).headers["Location"] == "/login"  # no cookie was kept
    resp = await sign_in(api, "admin-token")
    assert resp.status == 303 and resp.headers["Location"] == "/"
    cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    page = await html(await api.get("/"))
    for fact in ("ICO", "GB", "Clearview AI Inc", "fine", "7,500,000 GBP", "Biometric Update, ICO news",
                 "CNIL actualités", "admin"):
        assert fact in page
    # the cookie is for the pages only: the JSON API still wants a bearer token (no CSRF)
    assert (await api.get("/v1/events")).status == 401
    out = await api.post("/logout", allow_redirects=False)
    assert out.status == 303
    assert (await api.get("/", allow_redirects=False)).status == 303


async def test_user_text_is_escaped_and_links_are_safe(api: Any, data: Seeded) -> None:
    page = await html(await api.get("/", headers=ADMIN_HEADERS))
    assert HOSTILE not in page and "<i>Reg</i>" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in page
    assert "javascript:" not in page


async def test_filters(api: Any, data: Seeded) -> None:
    page = await html(await api.get("/?action_type=ban&q=&jurisdiction=&since=", headers=ADMIN_HEADERS))
    assert 'data-event-id="evt_ftc_rite_aid"' in page and "evt_ico_clearview" not in page
    assert '<option value="ban" selected>' in page
    page = await html(await api.get("/?jurisdiction=GB&since=2026-01-10", headers=ADMIN_HEADERS))
    assert page.count("data-event-id=") == 1
    resp = await api.get("/?min_score=7", headers=ADMIN_HEADERS)
    assert resp.status == 400 and resp.content_type == "application/problem+json"


async def test_paging_link_keeps_the_filters(api: Any, data: Seeded) -> None:
    page = await html(await api.get("/?limit=1&target=clearview", headers=ADMIN_HEADERS))
    assert page.count("data-event-id=") == 1 and "Older events" in page
    older = page.split('<a href="')[-1].split('"')[0].replace("&amp;", "&")
    assert "target=clearview" in older and "cursor=" in older


async def test_subscriptions_by_viewer_and_no_secrets(api: Any, runtime: Any, data: Seeded) -> None:
    token, key_id = await integrator_token(runtime.sessions)
    await add_subscription(runtime, "sub_mine", key_id, failing=True)
    await add_subscription(runtime, "sub_other", None)
    mine = await html(await api.get("/", headers=bearer(token)))
    assert "sub_mine" in mine and "sub_other" not in mine and "failing" in mine
    everything = await html(await api.get("/", headers=ADMIN_HEADERS))
    assert "sub_mine" in everything and "sub_other" in everything
    for secret in ("whsec_", "s3cret", "hooks.example", "feed.xml", "admin-token", token):
        assert secret not in everything and secret not in mine


async def test_public_dashboard(aiohttp_client: Any, db_url: str, runtime: Any, data: Seeded) -> None:
    await add_subscription(runtime, "sub_hidden", None)
    async with open_runtime(make_settings(db_url, dashboard_public=True)) as public_rt:
        client = await aiohttp_client(create_app(public_rt))
        page = await html(await client.get("/"))
        assert "public view" in page and "evt_ftc_rite_aid" in page
        assert "sub_hidden" not in page and "Sign in to see" in page
        assert "Continue without signing in" in await html(await client.get("/login"))


async def test_cross_site_sign_in_is_refused(api: Any, data: Seeded) -> None:
    resp = await api.post("/login", data={"token": "admin-token"}, headers={"Origin": "https://evil.example"},
                          allow_redirects=False)
    assert resp.status == 403 and resp.content_type == "application/problem+json"
