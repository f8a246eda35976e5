"""Shared fixtures: databases (SQLite and PostgreSQL), the app, a live gunicorn+gevent server,
real Socket.IO clients, Redis and a Chromium browser.

Under ``CI=true`` a missing PostgreSQL, Redis or Chromium fails the run instead of skipping.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, text

from tests import factories

REPO_ROOT = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() == "true"
PG_ADMIN_URL = os.environ.get(
    "PHONEBANK_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("PHONEBANK_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
CHROMIUM = os.environ.get("PHONEBANK_TEST_CHROMIUM", "/usr/bin/chromium")
RUN_ID = uuid.uuid4().hex[:8]


def unavailable(what: str, why: str):
    """Skip when a service is missing on a developer machine; fail under CI."""
    message = f"{what} is not available: {why}"
    if IN_CI:
        pytest.fail(message + " (CI=true: required)", pytrace=False)
    pytest.skip(message)


# --- databases -----------------------------------------------------------------------------


def migrate(url: str) -> None:
    """Build the schema the way production does: by running the Alembic migrations."""
    from flask_migrate import upgrade

    from phonebank import create_app

    app = create_app({"ENV_NAME": "testing", "SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        upgrade()
        from phonebank.extensions import db

        db.engine.dispose()


@pytest.fixture(scope="session")
def postgres_database():
    """A fresh PostgreSQL database for this run, migrated; dropped afterwards."""
    try:
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("select 1"))
    except Exception as exc:  # noqa: BLE001 - any failure means "not available"
        unavailable("PostgreSQL", str(exc).splitlines()[0])
    name = f"phonebank_test_{RUN_ID}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        migrate(url)
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory):
    """A migrated SQLite file; each test gets its own copy."""
    path = tmp_path_factory.mktemp("sqlite") / "template.db"
    migrate(f"sqlite:///{path}")
    return path


def truncate_postgres(url: str, attempts: int = 5) -> None:
    """Empty every table. A live server still finishing the last test's work (a socket's
    disconnect handler, say) can deadlock with TRUNCATE: PostgreSQL then aborts one side, and
    this simply tries again."""
    from sqlalchemy.exc import OperationalError

    engine = create_engine(url)
    try:
        for attempt in range(attempts):
            try:
                with engine.begin() as conn:
                    tables = conn.execute(
                        text(
                            "select tablename from pg_tables where schemaname = 'public' "
                            "and tablename <> 'alembic_version'"
                        )
                    ).scalars()
                    conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
                return
            except OperationalError as exc:
                if "deadlock" not in str(exc) or attempt == attempts - 1:
                    raise
                time.sleep(0.2)
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """The database matrix: every test using this runs on SQLite and on PostgreSQL."""
    yield from _database(request, tmp_path, request.param)


@pytest.fixture
def postgres_url(request, tmp_path):
    """PostgreSQL only (for behaviour that SQLite cannot show, and live-server tests)."""
    yield from _database(request, tmp_path, "postgresql")


def _database(request, tmp_path, backend: str):
    if backend == "sqlite":
        path = tmp_path / "phonebank.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
    else:
        url = request.getfixturevalue("postgres_database")
        truncate_postgres(url)
        yield url


def make_app(url: str, **overrides):
    from flask import g

    from phonebank import create_app

    app = create_app({"ENV_NAME": "testing", "SQLALCHEMY_DATABASE_URI": url, **overrides})

    @app.teardown_request
    def forget_user(exc):
        # Tests keep one app context open across requests (so they can use db.session);
        # Flask-Login caches the user on g, which would leak between test clients.
        g.pop("_login_user", None)

    return app


@pytest.fixture
def app(database_url):
    """The app on the database matrix, CSRF off for brevity (``csrf_client`` turns it on)."""
    app = make_app(database_url, WTF_CSRF_ENABLED=False)
    with app.app_context():
        yield app
        from phonebank.extensions import db

        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def db(app):
    from phonebank.extensions import db

    return db


@pytest.fixture
def client(app):
    return app.test_client()


def sign_in(client, email: str, password: str = factories.PASSWORD):
    """Sign a Flask test client in through the login form (CSRF off)."""
    return client.post("/login", data={"email": email, "password": password})


@pytest.fixture
def csrf_client(database_url):
    """A test client with CSRF protection on, as in production."""
    app = make_app(database_url, WTF_CSRF_ENABLED=True)
    with app.app_context():
        yield app.test_client()
        from phonebank.extensions import db

        db.session.remove()
        db.engine.dispose()


# --- Redis ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def redis_url():
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except Exception as exc:  # noqa: BLE001
        unavailable("Redis", str(exc))
    return REDIS_URL


# --- the live server -----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """A real ``gunicorn -k gevent -w 1`` process serving phonebank on a free port."""

    def __init__(self, database_url: str, log_dir: Path, redis_url: str | None = None, **env):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.database_url = database_url
        self.log_path = log_dir / f"gunicorn-{self.port}.log"
        self.env = {
            **os.environ,
            "PHONEBANK_ENV": "testing",
            "PHONEBANK_DATABASE_URL": database_url,
            "PHONEBANK_PUBLIC_URL": self.url,
            "PHONEBANK_REDIS_URL": redis_url or "",
            "PHONEBANK_SOCKETIO_CHANNEL": f"phonebank-test-{RUN_ID}",
            "PHONEBANK_DB_POOL_SIZE": "5",
            "GEVENT_MONITOR_THREAD_ENABLE": "true",
            "GEVENT_MAX_BLOCKING_TIME": "0.5",
            **env,
        }
        self.process: subprocess.Popen | None = None
        # Log lines a test provokes on purpose (regular expressions), not counted as problems.
        self.expected_log = []

    def start(self) -> LiveServer:
        self.log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-k",
                "gevent",
                "-w",
                "1",
                "-b",
                f"127.0.0.1:{self.port}",
                "--graceful-timeout",
                "2",
                "phonebank.wsgi:app",
            ],
            cwd=REPO_ROOT,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.stop()
                raise RuntimeError(f"gunicorn exited early:\n{self.log_path.read_text()}")
            try:
                if requests.get(self.url + "/healthz", timeout=5).ok:
                    return self
            except requests.RequestException:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"gunicorn did not start:\n{self.log_path.read_text()}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()

    def log_text(self) -> str:
        return self.log_path.read_text()


@pytest.fixture
def live_server(postgres_url, tmp_path):
    server = LiveServer(postgres_url, tmp_path).start()
    yield server
    server.stop()
    check_server_log(server)


@pytest.fixture
def calling_stack(postgres_url, tmp_path):
    """The Twilio emulator and a live server calling through it (sweeper every second)."""
    from tests.live_calling import CallingStack

    stack = CallingStack(
        postgres_url,
        tmp_path,
        PHONEBANK_SWEEP_INTERVAL_SECONDS="1",
        PHONEBANK_RECONCILE_TALKING_AFTER_SECONDS="3",
    ).start()
    yield stack
    stack.stop()


def check_server_log(server: LiveServer) -> None:
    """A blocked gevent hub or an unhandled error in the server fails the test."""
    log = server.log_text()
    problems = [
        line
        for line in log.splitlines()
        if re.search(r"Traceback|ERROR|appears to be blocked|Worker failed", line)
        and not any(re.search(pattern, line) for pattern in server.expected_log)
    ]
    assert not problems, "server log shows problems:\n" + log


# --- people and HTTP sessions --------------------------------------------------------------


@pytest.fixture
def users(app, db):
    """One account per role, password ``factories.PASSWORD``."""
    made = factories.one_user_per_role()
    db.session.commit()
    return made


def login_session(base_url: str, email: str, password: str = factories.PASSWORD):
    """A ``requests.Session`` signed in through the real login form."""
    session = requests.Session()
    page = session.get(base_url + "/login", timeout=10)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text).group(1)
    response = session.post(
        base_url + "/login",
        data={"csrf_token": token, "email": email, "password": password},
        timeout=10,
        allow_redirects=False,
    )
    assert response.status_code == 302, response.text
    return session


def seed_live_users(database_url: str) -> dict:
    """Create one user per role directly in the live server's database."""
    app = make_app(database_url)
    with app.app_context():
        from phonebank.extensions import db

        made = factories.one_user_per_role()
        db.session.commit()
        result = {role: (u.id, u.email) for role, u in made.items()}
        db.session.remove()
        db.engine.dispose()
    return result


@pytest.fixture
def socket_client_factory():
    """Real python-socketio clients; every one is disconnected at the end of the test."""
    import socketio

    clients = []

    def connect(base_url: str, http_session: requests.Session | None = None, **kwargs):
        """Connect now; a refused handshake raises, with the server's reason in
        ``client.connect_errors``."""
        client = socketio.Client(http_session=http_session, reconnection=False)
        client.connect_errors = []
        client.on("connect_error", client.connect_errors.append)
        clients.append(client)
        if http_session is not None:
            # Flask-Login's strong session protection ties the session to the User-Agent.
            kwargs.setdefault("headers", {}).setdefault(
                "User-Agent", http_session.headers["User-Agent"]
            )
        client.connect(base_url, transports=["websocket"], wait_timeout=10, **kwargs)
        return client

    yield connect
    for client in clients:
        if client.connected:
            client.disconnect()


# --- the browser ---------------------------------------------------------------------------

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
]


@pytest.fixture(scope="session")
def chromium():
    if not Path(CHROMIUM).exists():
        unavailable("Chromium", f"{CHROMIUM} not found (scripts/test installs Debian's chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def browser(chromium, tmp_path):
    """A fresh browser context (a laptop-sized window); pages close with it."""
    context = chromium.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(10_000)
    yield context
    context.close()


@pytest.fixture
def phone_browser(chromium):
    """A 390-px-wide phone screen."""
    context = chromium.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    context.set_default_timeout(10_000)
    yield context
    context.close()


# --- the run summary -----------------------------------------------------------------------

_counts: Counter = Counter()
COMPONENTS = {
    "postgres": "PostgreSQL",
    "redis": "Redis",
    "browser": "Chromium",
    "live": "a live gunicorn gevent server",
}


def pytest_runtest_logreport(report):
    if report.when != "call" or not report.passed:
        return
    for marker, label in COMPONENTS.items():
        if marker in report.keywords:
            _counts[label] += 1


def pytest_collection_modifyitems(items):
    """Mark tests by the real components they use, for the summary and for -m selection."""
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        if names & {"live_server", "live_pair", "calling_stack"}:
            item.add_marker(pytest.mark.live)
        if names & {"redis_url"}:
            item.add_marker(pytest.mark.redis)
        if names & {"browser", "phone_browser", "chromium"}:
            item.add_marker(pytest.mark.browser)
        if names & {"postgres_url", "postgres_database"} or "[postgresql" in item.nodeid:
            item.add_marker(pytest.mark.postgres)


def pytest_terminal_summary(terminalreporter):
    if _counts:
        parts = ", ".join(f"{n} on {what}" for what, n in sorted(_counts.items()))
        terminalreporter.write_line(f"real components: {parts} (passed)")
