"""What people do in Chromium: sign in and out, join from an invite, manage the team, and use a
phone-sized screen. Every test runs against a real gunicorn + gevent server on PostgreSQL."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from phonebank.models import Role
from tests.browser.conftest import LOGIN_URL, expect_connected, screenshot, sign_in
from tests.factories import PASSWORD

# The ``site`` fixture's server is a real gunicorn process (tests/browser/conftest.py).
pytestmark = [pytest.mark.live]

HOME_HEADINGS = {
    Role.VOLUNTEER: ("Hello, Volunteer", ["Your campaigns", "Before your first shift"]),
    Role.LEAD: ("Call-centre lead", ["Campaigns you run", "Your volunteers"]),
    Role.STAFF: ("Staff overview", ["Campaigns", "Team"]),
}


def no_horizontal_overflow(page: Page, width: int) -> None:
    scroll_width = page.evaluate("document.scrollingElement.scrollWidth")
    assert scroll_width <= width, f"page is {scroll_width}px wide on a {width}px screen"


@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.value)
def test_each_role_signs_in_to_their_home_page_and_out(site, browser, role):
    page = browser.new_page()
    page.goto(site.url + "/")
    expect(page).to_have_url(LOGIN_URL)  # anonymous people are sent to sign in
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    if role is Role.VOLUNTEER:
        screenshot(page, "login")

    sign_in(page, site.url, site.users[role][1])

    expect(page).to_have_url(site.url + "/")
    h1, h2s = HOME_HEADINGS[role]
    expect(page.get_by_role("heading", level=1)).to_have_text(h1)
    for h2 in h2s:
        expect(page.get_by_role("heading", level=2, name=h2, exact=True)).to_be_visible()
    if role is Role.STAFF:
        expect(page.locator("main")).to_contain_text("1 volunteer, 1 lead, 1 staff.")
    expect_connected(page)
    screenshot(page, f"home-{role.value}")

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(LOGIN_URL)
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_role("status")).to_have_text("You are signed out.")
    page.goto(site.url + "/")
    expect(page).to_have_url(LOGIN_URL)  # the session really ended


def test_wrong_password_shows_the_error_on_the_page(site, browser):
    page = browser.new_page()
    sign_in(page, site.url, site.users[Role.STAFF][1], "not the password")

    expect(page.locator(".field.has-error .error")).to_have_text(
        "That email and password do not match an account."
    )
    expect(page.get_by_label("Password", exact=True)).to_have_attribute("aria-invalid", "true")
    expect(page).to_have_url(LOGIN_URL)
    expect(page.locator("#conn-status")).to_have_count(0)  # still signed out


def test_staff_invite_link_signs_up_a_volunteer_once(site, browser, new_context):
    staff = browser.new_page()
    sign_in(staff, site.url, site.users[Role.STAFF][1])
    expect(staff.get_by_role("heading", name="Staff overview")).to_be_visible()
    staff.get_by_role("link", name="Invite volunteers").click()
    expect(staff.get_by_role("heading", name="Invite links", level=1)).to_be_visible()

    staff.get_by_label("Joins as").select_option(label="Volunteer")
    staff.get_by_label("Number of sign-ups allowed").fill("1")
    staff.get_by_label("Note for yourself").fill("Saturday canvass")
    staff.get_by_role("button", name="Create link").click()

    expect(staff.get_by_role("status")).to_contain_text("Invite link created")
    row = staff.locator("#invites-table tbody tr.highlight")
    expect(row).to_contain_text("Saturday canvass")
    expect(row.locator("td").nth(3)).to_have_text("0 / 1")
    link_box = row.get_by_label("Invite link")
    link = link_box.input_value()
    assert re.fullmatch(re.escape(site.url) + r"/join/[\w-]{20,}", link), link
    expect_connected(staff)
    screenshot(staff, "invites")

    # Someone else, in their own browser, opens the link and joins.
    newcomer = new_context().new_page()
    newcomer.goto(link)
    expect(newcomer.get_by_role("heading", name="Join phonebank")).to_be_visible()
    expect(newcomer.locator("main")).to_contain_text("You are joining as a volunteer")
    screenshot(newcomer, "join")
    newcomer.get_by_label("Your name").fill("Nadia Newcomer")
    newcomer.get_by_label("Email").fill("nadia@example.org")
    newcomer.get_by_label("Choose a password").fill(PASSWORD)
    newcomer.get_by_label("Repeat the password").fill(PASSWORD)
    newcomer.get_by_role("button", name="Create my account").click()

    expect(newcomer).to_have_url(site.url + "/")
    expect(newcomer.get_by_role("heading", level=1)).to_have_text("Hello, Nadia")
    expect(newcomer.get_by_role("status")).to_have_text("Welcome to phonebank, Nadia Newcomer!")
    expect(newcomer.get_by_role("heading", name="Your campaigns")).to_be_visible()
    expect_connected(newcomer)

    # The link allowed one sign-up: a third person gets the "can't be used" page.
    late = new_context().new_page()
    response = late.goto(link)
    assert response is not None and response.status == 410
    expect(late.get_by_role("heading", name="This invite can't be used")).to_be_visible()
    expect(late.locator(".error-text")).to_have_text(
        "This invite link has already been used as many times as it allows."
    )
    screenshot(late, "invite-used")

    staff.reload()
    used_row = staff.locator("#invites-table tbody tr", has_text="Saturday canvass")
    expect(used_row).to_have_class(re.compile(r"\binactive\b"))
    expect(used_row.locator("td").nth(3)).to_have_text("1 / 1")
    expect(used_row.get_by_label("Invite link")).to_have_count(0)


def test_staff_creates_a_user_and_changes_their_role(site, browser):
    page = browser.new_page()
    sign_in(page, site.url, site.users[Role.STAFF][1])
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Users").click()
    expect(page.get_by_role("heading", name="Users", level=1)).to_be_visible()

    page.get_by_label("Name").fill("Carla Caller")
    page.get_by_label("Email").fill("carla@example.org")
    page.locator("form[action$='/team/users']").get_by_label("Role").select_option(
        label="Volunteer"
    )
    page.get_by_label("Temporary password").fill("a temporary password")
    page.get_by_role("button", name="Create account").click()

    expect(page.get_by_role("status")).to_have_text(
        "Account created for Carla Caller (carla@example.org)."
    )
    row = page.locator("#users-table tbody tr", has_text="carla@example.org")
    expect(row.locator("td").nth(2)).to_have_text("Volunteer")
    expect(row).to_contain_text("never signed in")
    screenshot(page, "users")

    row.get_by_role("link", name="Edit").click()
    expect(page.get_by_role("heading", name="Carla Caller", level=1)).to_be_visible()
    page.get_by_label("Role").select_option(label="Call-centre lead")
    page.get_by_role("button", name="Save").click()

    expect(page.get_by_role("status")).to_have_text("Saved Carla Caller.")
    expect(page.get_by_label("Role")).to_have_value("lead")
    screenshot(page, "user")
    page.get_by_role("link", name="← All users").click()
    row = page.locator("#users-table tbody tr", has_text="carla@example.org")
    expect(row.locator("td").nth(2)).to_have_text("Call-centre lead")


def test_deactivating_a_volunteer_disconnects_their_open_page(site, browser, new_context):
    volunteer_id, volunteer_email = site.users[Role.VOLUNTEER]
    volunteer = new_context().new_page()
    sign_in(volunteer, site.url, volunteer_email)
    expect(volunteer.get_by_role("heading", name="Your campaigns")).to_be_visible()
    expect_connected(volunteer)
    # Remember why the socket closed; sessionStorage survives the page's own redirect.
    volunteer.evaluate(
        "window.phonebank.socket.on('disconnect', "
        "(reason) => sessionStorage.setItem('disconnect-reason', reason))"
    )

    staff = browser.new_page()
    sign_in(staff, site.url, site.users[Role.STAFF][1])
    expect(staff.get_by_role("heading", name="Staff overview")).to_be_visible()
    staff.goto(f"{site.url}/team/users/{volunteer_id}")
    status = staff.locator(".facts dd").nth(1)
    expect(status).to_have_text("active")
    staff.get_by_role("button", name="Deactivate account").click()
    expect(staff.get_by_role("status")).to_contain_text("is deactivated and signed out")
    expect(status).to_have_text("deactivated")

    # The server closed the volunteer's socket, and their page went to the sign-in page.
    expect(volunteer).to_have_url(LOGIN_URL)
    reason = volunteer.evaluate("sessionStorage.getItem('disconnect-reason')")
    assert reason == "io server disconnect"
    volunteer.goto(site.url + "/")
    expect(volunteer).to_have_url(LOGIN_URL)
    expect(volunteer.get_by_role("heading", name="Sign in")).to_be_visible()

    # And they cannot sign back in.
    sign_in(volunteer, site.url, volunteer_email)
    expect(volunteer.locator(".field.has-error .error")).to_have_text(
        "This account has been deactivated. Ask a staff member."
    )


def test_volunteer_gets_the_403_page_for_team_pages(site, browser):
    page = browser.new_page()
    sign_in(page, site.url, site.users[Role.VOLUNTEER][1])
    expect(page.get_by_role("heading", name="Your campaigns")).to_be_visible()
    expect(page.get_by_role("link", name="Users")).to_have_count(0)  # not offered in the menu

    response = page.goto(site.url + "/team/users")
    assert response is not None and response.status == 403
    expect(page.locator(".error-page .code")).to_have_text("403")
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    expect(page.locator(".error-page")).to_contain_text(
        "Your account does not have access to this page."
    )
    screenshot(page, "error-403")
    page.get_by_role("link", name="Go to your home page").click()
    expect(page.get_by_role("heading", name="Your campaigns")).to_be_visible()


def test_phone_screen_login_and_volunteer_home_fit(site, phone_browser):
    page = phone_browser.new_page()
    page.goto(site.url + "/login")
    button = page.get_by_role("button", name="Sign in")
    expect(button).to_be_visible()
    expect(button).to_be_in_viewport()
    no_horizontal_overflow(page, 390)
    screenshot(page, "phone-login")

    sign_in(page, site.url, site.users[Role.VOLUNTEER][1])
    expect(page.get_by_role("heading", name="Your campaigns")).to_be_visible()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    expect_connected(page)
    no_horizontal_overflow(page, 390)
    screenshot(page, "phone-home-volunteer")
