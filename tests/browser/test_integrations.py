"""Staff set up an integration in Chromium: make an API key on the Integrations page, copy it
(shown once), use it from a real HTTP client, see the call in the request log, add a webhook
subscription and pause it; then revoke the key and find it refused."""

from __future__ import annotations

import re

import requests
from playwright.sync_api import expect

from phonebank.models import Role
from tests.browser.conftest import screenshot, sign_in


def test_staff_make_use_and_revoke_an_api_key(site, new_context):
    page = new_context().new_page()
    sign_in(page, site.url, site.users[Role.STAFF][1])
    page.click("nav >> text=Integrations")
    expect(page.locator("h1")).to_have_text("Integrations")

    page.fill("#key-name", "Events module")
    page.check("input[name=scopes][value='people:read']")
    page.check("input[name=scopes][value='people:write']")
    page.click("button:has-text('Make the key')")
    token = page.locator("#new-key-token").inner_text().strip()
    assert re.fullmatch(r"pb_[0-9a-f]{8}_[\w-]{43}", token), token
    expect(page.locator("#api-keys")).to_contain_text("Events module")
    screenshot(page, "integrations-new-key")

    api = requests.Session()
    api.headers["Authorization"] = f"Bearer {token}"
    made = api.post(
        f"{site.url}/api/v1/people",
        json={"given_name": "Ivy", "family_name": "Integration",
              "email_addresses": [{"address": "ivy@example.org"}]},
        timeout=10,
    )  # fmt: skip
    assert made.status_code == 201, made.text
    assert api.get(f"{site.url}/api/v1/changes", timeout=10).status_code == 403  # no scope

    page.goto(f"{site.url}/integrations")  # the key is never shown again
    expect(page.locator("#new-key")).to_have_count(0)
    assert token not in page.content()
    expect(page.locator("#api-log")).to_contain_text("POST /api/v1/people")
    expect(page.locator("#api-log")).to_contain_text("403")

    page.fill("#hook-name", "Email tool")
    page.fill("#hook-url", "http://127.0.0.1:9/phonebank")
    page.check("input[name=event_types][value='canvass.recorded']")
    page.click("button:has-text('Add the subscription')")
    secret = page.locator("#new-secret-value").inner_text().strip()
    assert re.fullmatch(r"[0-9a-f]{64}", secret)
    row = page.locator("#webhooks tr", has_text="Email tool")
    expect(row).to_contain_text("active")
    expect(row).to_contain_text("canvass.recorded")
    row.locator("button:has-text('Pause')").click()
    expect(page.locator(".flash")).to_contain_text("paused")
    expect(page.locator("#webhooks tr", has_text="Email tool")).to_contain_text("paused")
    screenshot(page, "integrations")

    page.locator("#api-keys tr", has_text="Events module").locator(
        "button:has-text('Revoke')"
    ).click()
    expect(page.locator(".flash")).to_contain_text("revoked")
    assert api.get(f"{site.url}/api/v1/people", timeout=10).status_code == 401


def test_a_volunteer_cannot_open_integrations(site, new_context):
    page = new_context().new_page()
    sign_in(page, site.url, site.users[Role.VOLUNTEER][1])
    expect(page.locator("nav >> text=Integrations")).to_have_count(0)
    response = page.goto(f"{site.url}/integrations")
    assert response.status == 403
