"""The dashboard in a real headless browser (Debian's chromium through Playwright): sign in,
see the events, apply a filter, take a screenshot. Skips only when no browser is installed and
``CI`` is unset; under CI a missing browser fails."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.integration.read_seed import HOSTILE, add_event, seed

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def chromium() -> str:
    """The browser to drive, or skip (fail under CI) when there is none."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        import playwright  # noqa: F401
    except ImportError:
        path = None
    if path is None:
        message = "no chromium (apt-get install chromium) or no playwright package"
        if os.environ.get("CI"):
            pytest.fail(f"{message}: the browser test must run under CI")
        pytest.skip(message)
    return path


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_sign_in_filter_and_screenshot(api: Any, runtime: Any, tmp_path: Path) -> None:
    executable = chromium()
    from playwright.async_api import async_playwright

    await seed(runtime.sessions)
    await add_event(runtime.sessions, "evt_hostile", 9, title=HOSTILE)
    base = str(api.make_url("/")).rstrip("/")
    dialogs: list[str] = []
    console_errors: list[str] = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(viewport={"width": 1400, "height": 900})
            page = await context.new_page()
            page.on("dialog", lambda dialog: dialogs.append(dialog.message))
            page.on("console", lambda msg: console_errors.append(msg.text) if msg.type == "error" else None)

            await page.goto(base + "/")
            assert page.url == base + "/login"
            await page.fill("#token", "admin-token")
            await page.click("button[type=submit]")
            await page.wait_for_url(base + "/")
            rows = page.locator("#events tbody tr")
            assert await rows.count() == 4
            assert await page.locator("#events").get_by_text(HOSTILE, exact=True).count() == 1  # shown as text
            cookies = {c["name"]: c for c in await context.cookies()}
            assert cookies["frwatch_token"]["httpOnly"] and cookies["frwatch_token"]["sameSite"] == "Strict"

            await page.select_option("select[name=action_type]", "ban")
            await page.fill("input[name=q]", "Rite")
            await page.click("form.filters button[type=submit]")
            await page.wait_for_url("**action_type=ban**")
            assert await rows.count() == 1
            assert "Rite Aid" in await rows.first.inner_text()
            assert await page.locator("select[name=action_type]").input_value() == "ban"

            shot = tmp_path / "dashboard.png"
            await page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
        finally:
            await browser.close()
    assert dialogs == []  # no script ran
    assert console_errors == []  # e.g. no CSP violation of the stylesheet
