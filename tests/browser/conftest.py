"""Helpers for the Chromium tests: a seeded live server, extra browser contexts, sign-in and
screenshots (saved to ``test-artifacts/screenshots/``, which git ignores).

One gunicorn server serves the whole module (starting and stopping one costs about two seconds);
each test still gets an emptied database, freshly seeded accounts and its own server-log check.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from phonebank.models import Role
from tests.conftest import (
    REPO_ROOT,
    LiveServer,
    check_server_log,
    seed_live_users,
    truncate_postgres,
)
from tests.factories import PASSWORD

SCREENSHOTS = REPO_ROOT / "test-artifacts" / "screenshots"
LOGIN_URL = re.compile(r"/login(\?.*)?$")


@dataclass
class Site:
    """The live server and one seeded account per role: ``users[role] == (id, email)``."""

    server: LiveServer
    users: dict[Role, tuple[int, str]]

    @property
    def url(self) -> str:
        return self.server.url


@pytest.fixture(scope="module")
def browser_server(postgres_database, tmp_path_factory):
    """A real gunicorn + gevent server on PostgreSQL, shared by the tests of one module."""
    server = LiveServer(postgres_database, tmp_path_factory.mktemp("browser-server")).start()
    yield server
    server.stop()
    check_server_log(server)


class _LogSince:
    """The part of a server's log written after a point, for per-test log checks."""

    def __init__(self, server: LiveServer):
        self.server = server
        self.start = len(server.log_text())
        self.expected_log = server.expected_log

    def log_text(self) -> str:
        return self.server.log_text()[self.start :]


@pytest.fixture
def site(browser_server) -> Site:
    """An emptied database with one account per role, served by the shared live server."""
    truncate_postgres(browser_server.database_url)
    since = _LogSince(browser_server)
    yield Site(browser_server, seed_live_users(browser_server.database_url))
    check_server_log(since)


@pytest.fixture
def new_context(chromium):
    """More fresh laptop-sized contexts (another person on another computer)."""
    contexts: list[BrowserContext] = []

    def make() -> BrowserContext:
        context = chromium.new_context(viewport={"width": 1280, "height": 800})
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()


def sign_in(page: Page, base_url: str, email: str, password: str = PASSWORD) -> None:
    """Sign in through the login form, as a person would."""
    page.goto(base_url + "/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()


def expect_connected(page: Page) -> None:
    """The header dot turns green once the page's Socket.IO connection is up."""
    expect(page.locator("#conn-status")).to_have_attribute("data-state", "connected")


def screenshot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
