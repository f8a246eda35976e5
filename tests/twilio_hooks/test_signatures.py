"""Webhook signatures, including behind a TLS-terminating proxy."""

import pytest
from twilio.request_validator import RequestValidator

from tests.conftest import make_app

TOKEN = "a" * 32
PARAMS = {"StatusCallbackEvent": "participant-join", "CallSid": "CA" + "1" * 32}


@pytest.fixture
def hook_app(database_url):
    """Apps with the auth token set; their database connections are closed afterwards."""
    made = []

    def build(**config):
        app = make_app(database_url, TWILIO_AUTH_TOKEN=TOKEN, **config)
        made.append(app)
        return app

    yield build
    from phonebank.extensions import db

    for app in made:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def sign(url: str, params: dict, token: str = TOKEN) -> str:
    return RequestValidator(token).compute_signature(url, params)


def test_signed_webhook_is_accepted(hook_app):
    client = hook_app().test_client()
    url = "http://localhost/twilio/conference?session=999"
    response = client.post(url, data=PARAMS, headers={"X-Twilio-Signature": sign(url, PARAMS)})
    assert response.status_code == 204


@pytest.mark.parametrize(
    "signature",
    ["", "forged", None],
    ids=["empty", "forged", "signed-with-another-token"],
)
def test_bad_signatures_get_403(hook_app, signature):
    client = hook_app().test_client()
    url = "http://localhost/twilio/conference?session=999"
    if signature is None:
        signature = sign(url, PARAMS, token="b" * 32)
    response = client.post(url, data=PARAMS, headers={"X-Twilio-Signature": signature})
    assert response.status_code == 403


def test_tampered_parameters_get_403(hook_app):
    client = hook_app().test_client()
    url = "http://localhost/twilio/conference?session=999"
    signature = sign(url, PARAMS)
    tampered = {**PARAMS, "CallSid": "CA" + "2" * 32}
    response = client.post(url, data=tampered, headers={"X-Twilio-Signature": signature})
    assert response.status_code == 403


def test_behind_a_tls_proxy_the_public_url_is_what_counts(hook_app):
    """Twilio signs https://calls.example.org/... (the URL phonebank gave it); the app sees
    http://localhost/... through the proxy. The signature is checked against the public URL,
    with or without PHONEBANK_BEHIND_PROXY; one made for any other address is refused."""
    public = "https://calls.example.org/twilio/conference?session=999"
    headers = {
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "calls.example.org",
        "X-Forwarded-For": "203.0.113.9",
    }
    settings = {"PUBLIC_URL": "https://calls.example.org", "ALLOWED_HOSTS": ["localhost"]}
    for app in (hook_app(BEHIND_PROXY=1, **settings), hook_app(**settings)):
        client = app.test_client()
        good = {**headers, "X-Twilio-Signature": sign(public, PARAMS)}
        assert (
            client.post("/twilio/conference?session=999", data=PARAMS, headers=good).status_code
            == 204
        )
        local = "http://localhost/twilio/conference?session=999"
        bad = {**headers, "X-Twilio-Signature": sign(local, PARAMS)}
        assert (
            client.post("/twilio/conference?session=999", data=PARAMS, headers=bad).status_code
            == 403
        )


def test_webhooks_need_no_csrf_token_but_only_accept_post(hook_app):
    client = hook_app(WTF_CSRF_ENABLED=True).test_client()
    url = "http://localhost/twilio/conference?session=999"
    assert (
        client.post(url, data=PARAMS, headers={"X-Twilio-Signature": sign(url, PARAMS)}).status_code
        == 204
    )
    assert client.get(url).status_code == 405
