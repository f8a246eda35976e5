"""Forged Host and X-Forwarded-Host headers steer nothing: requests for unknown hosts are
refused (pages, webhooks and the Socket.IO handshake alike), and every link, redirect and
webhook URL comes from PHONEBANK_PUBLIC_URL."""

import re

import pytest
from twilio.request_validator import RequestValidator

from phonebank.config import ConfigError, load_config
from phonebank.hosts import allowed_origins, host_name, trusted_hosts
from phonebank.models import Role
from tests import factories
from tests.conftest import make_app, sign_in

PUBLIC = "https://calls.example.org"
ALIAS = "alias.example.org"
EVIL = "evil.example"
TOKEN = "t" * 32


@pytest.fixture
def public_app(database_url):
    """The app at a public address with one accepted alias, as a deployment would be."""
    app = make_app(
        database_url,
        WTF_CSRF_ENABLED=False,
        PUBLIC_URL=PUBLIC,
        ALLOWED_HOSTS=[ALIAS],
        TWILIO_AUTH_TOKEN=TOKEN,
    )
    with app.app_context():
        yield app
        from phonebank.extensions import db

        db.session.remove()
        db.engine.dispose()


def test_host_names_are_parsed_strictly():
    assert host_name("Calls.Example.org:443") == "calls.example.org"
    assert host_name("[::1]:5000") == "::1"
    for bad in ("", None, "a b", "x:99999", "evil.example/x", "[::1]x", "a@b", "a:b:c"):
        assert host_name(bad) is None


def test_trusted_hosts_and_origins_come_from_settings_only():
    production = {"ENV_NAME": "production", "PUBLIC_URL": PUBLIC, "ALLOWED_HOSTS": [ALIAS]}
    assert trusted_hosts(production) == {"calls.example.org", ALIAS}
    assert allowed_origins({**production, "ALLOWED_ORIGINS": []}) == [PUBLIC]
    development = {"ENV_NAME": "development", "PUBLIC_URL": "http://127.0.0.1:5000"}
    assert "localhost" in trusted_hosts(development)
    assert "http://localhost:5000" in allowed_origins(development)


def test_production_needs_a_public_url():
    base = {
        "ENV_NAME": "production",
        "SECRET_KEY": "x" * 40,
        "SQLALCHEMY_DATABASE_URI": "sqlite://",
    }
    with pytest.raises(ConfigError, match="PHONEBANK_PUBLIC_URL"):
        load_config({**base, "PUBLIC_URL": None})
    for bad in ("calls.example.org", "ftp://calls.example.org", "https://calls.example.org/app"):
        with pytest.raises(ConfigError, match="PHONEBANK_PUBLIC_URL"):
            load_config({**base, "PUBLIC_URL": bad})
    assert load_config({**base, "PUBLIC_URL": "https://Calls.example.org/"})["PUBLIC_URL"] == PUBLIC


@pytest.mark.parametrize("path", ["/login", "/healthz", "/twilio/conference?session=1"])
def test_requests_for_unknown_hosts_are_refused(public_app, path):
    client = public_app.test_client()
    response = client.get(path, headers={"Host": EVIL})
    assert response.status_code == 400
    assert EVIL not in response.text


def test_the_socketio_handshake_for_an_unknown_host_is_refused(public_app):
    client = public_app.test_client()
    handshake = "/socket.io/?EIO=4&transport=polling"
    assert client.get(handshake, headers={"Host": EVIL}).status_code == 400
    assert client.get(handshake, headers={"Host": "calls.example.org"}).status_code == 200
    # A browser on another origin is refused even with phonebank's own host.
    refused = client.get(
        handshake, headers={"Host": "calls.example.org", "Origin": "http://x.test"}
    )
    assert refused.status_code == 400
    # An origin that merely repeats a forged host is no better.
    forged = client.get(handshake, headers={"Host": ALIAS, "Origin": f"https://{ALIAS}"})
    assert forged.status_code == 400
    assert client.get(handshake, headers={"Host": ALIAS, "Origin": PUBLIC}).status_code == 200


def test_forwarded_host_is_checked_behind_a_proxy_and_ignored_without_one(database_url):
    proxied = make_app(database_url, PUBLIC_URL=PUBLIC, BEHIND_PROXY=1)
    direct = make_app(database_url, PUBLIC_URL=PUBLIC, ALLOWED_HOSTS=["localhost"])
    try:
        headers = {"X-Forwarded-Host": EVIL, "X-Forwarded-Proto": "https"}
        assert proxied.test_client().get("/login", headers=headers).status_code == 400
        good = {"X-Forwarded-Host": "calls.example.org", "X-Forwarded-Proto": "https"}
        assert proxied.test_client().get("/login", headers=good).status_code == 200
        page = direct.test_client().get("/login", headers=headers)
        assert page.status_code == 200 and EVIL not in page.text
    finally:
        from phonebank.extensions import db

        for app in (proxied, direct):
            with app.app_context():
                db.engine.dispose()


def test_links_and_redirects_never_name_the_request_host(public_app, users, db):
    """Through an accepted alias, invite links and redirects still name the public address."""
    client = public_app.test_client()
    headers = {"Host": ALIAS}
    response = client.post(
        "/login",
        data={"email": users[Role.STAFF].email, "password": factories.PASSWORD},
        headers=headers,
    )
    assert response.status_code == 302
    assert ALIAS not in response.headers["Location"]
    created = client.post(
        "/team/invites",
        data={"role": "volunteer", "campaign_id": "0", "expires_in_days": "7", "max_uses": "3"},
        headers=headers,
    )
    assert created.status_code in (200, 302)
    page = client.get("/team/invites", headers=headers)
    links = re.findall(r'value="([^"]*/join/[^"]+)"', page.text)
    assert links and all(link.startswith(PUBLIC + "/join/") for link in links)
    assert ALIAS not in page.text


def test_a_forged_host_post_changes_nothing(public_app, users, db):
    from sqlalchemy import func, select

    from phonebank.models import LoginSession

    client = public_app.test_client()
    before = db.session.scalar(select(func.count()).select_from(LoginSession))
    response = client.post(
        "/login",
        data={"email": users[Role.STAFF].email, "password": factories.PASSWORD},
        headers={"Host": EVIL},
    )
    assert response.status_code == 400
    assert db.session.scalar(select(func.count()).select_from(LoginSession)) == before


def test_webhook_signatures_are_checked_against_the_public_url(public_app):
    """Twilio signs the URL phonebank gave it; a signature for the request's own host (an
    alias, or a forged one) does not count."""
    client = public_app.test_client()
    params = {"StatusCallbackEvent": "participant-join", "CallSid": "CA" + "1" * 32}
    path = "/twilio/conference?session=999"

    def post(signed_url, host):
        signature = RequestValidator(TOKEN).compute_signature(signed_url, params)
        return client.post(
            path, data=params, headers={"Host": host, "X-Twilio-Signature": signature}
        )

    assert post(PUBLIC + path, ALIAS).status_code == 204
    assert post(f"https://{ALIAS}{path}", ALIAS).status_code == 403
    assert post(f"http://{ALIAS}{path}", ALIAS).status_code == 403


def test_users_sign_in_at_the_public_address(client, users):
    """The ordinary test client (host localhost, the testing public URL) is unaffected."""
    assert sign_in(client, users[Role.VOLUNTEER].email).status_code == 302
