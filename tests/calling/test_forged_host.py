"""A volunteer who opens their socket with a forged Host or X-Forwarded-Host header cannot
steer where Twilio sends their calls' callbacks (which carry the voters' full numbers): the
handshake for an unknown host is refused, and through an accepted alias every URL given to
Twilio is still the configured public address."""

from __future__ import annotations

import time

import pytest
import requests
import socketio
from sqlalchemy import inspect

from tests.live_calling import CallingStack, seed_campaign

ALIAS = "alias.test"
EVIL = "evil.example"
HUMAN_STAYS = {"answer": "human", "ring_seconds": 1, "talk_seconds": None}


@pytest.fixture
def alias_stack(postgres_url, tmp_path):
    stack = CallingStack(postgres_url, tmp_path, PHONEBANK_ALLOWED_HOSTS=ALIAS).start()
    stack.server.expected_log.append(r"request for an unknown host refused")
    yield stack
    stack.stop()


def open_socket(stack, volunteer, host: str) -> socketio.Client:
    """A Socket.IO connection over long-polling whose every request names ``host``. (The
    sign-in cookie is sent by hand: requests matches cookies against a Host header it is
    given, as a browser would against the address it typed.)"""
    client = socketio.Client(reconnection=False)
    client.connect(
        stack.server.url,
        transports=["polling"],
        headers={
            "Cookie": "; ".join(f"{c.name}={c.value}" for c in volunteer.http.cookies),
            "User-Agent": volunteer.http.headers["User-Agent"],
            "Host": f"{host}:{stack.server.port}",
            "X-Forwarded-Host": EVIL,
            "X-Forwarded-Proto": "https",
        },
        wait_timeout=10,
    )
    return client


def wait_for_hook(stack, call_status: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not any(
        hook["params"].get("CallStatus") == call_status for hook in stack.control.webhooks()
    ):
        assert time.monotonic() < deadline, f"no {call_status} callback"
        time.sleep(0.1)


def test_a_forged_host_cannot_open_a_socket_or_a_page(alias_stack):
    stack = alias_stack
    data = seed_campaign(stack.app(), people=1)
    volunteer = stack.volunteer(data["volunteers"][0])
    with pytest.raises(socketio.exceptions.ConnectionError):
        open_socket(stack, volunteer, EVIL)
    for path in ("/login", "/calling/", "/socket.io/?EIO=4&transport=polling"):
        response = volunteer.http.get(stack.server.url + path, headers={"Host": EVIL}, timeout=10)
        assert response.status_code == 400, path
        assert EVIL not in response.text


def test_callback_urls_come_from_the_public_url_whatever_host_the_page_used(alias_stack):
    stack = alias_stack
    data = seed_campaign(stack.app(), people=2)
    stack.control.set_scenarios({n: HUMAN_STAYS for n in data["numbers"]})
    volunteer = stack.volunteer(data["volunteers"][0])
    volunteer.close()  # its own (honest) socket; this volunteer talks through the alias only
    client = open_socket(stack, volunteer, ALIAS)
    try:
        joined = client.call("session.join", {"campaign_id": data["campaign_id"]}, timeout=20)
        assert joined["ok"], joined
        session_id = joined["state"]["session"]["id"]
        audio = client.call("audio.connect", {"mode": "browser"}, timeout=20)
        assert audio["ok"], audio
        stack.control.client_connect(audio["audio"]["token"], {"session_id": str(session_id)})
        # A second join (a resume of the same session) is what once overwrote the base URL.
        assert client.call("session.join", {"campaign_id": data["campaign_id"]}, timeout=20)["ok"]
        assert client.call("volunteer.ready", {"ready": True}, timeout=20)["ok"]
        dialed = None
        for _ in range(50):
            dialed = client.call("call.dial", {}, timeout=20)
            if dialed["ok"] and dialed["state"]["call"]:
                break
            client.sleep(0.2)  # audio not up yet, or the voter not yet claimed
        assert dialed["ok"] and dialed["state"]["call"], dialed
        wait_for_hook(stack, "in-progress")  # answered: the voter joined the conference
        assert client.call("call.hangup", {}, timeout=20)["ok"]
        wait_for_hook(stack, "completed")
    finally:
        client.disconnect()

    public = stack.server.url
    (create,) = stack.control.requests("CreateCall")
    params = create["params"]
    for key in ("Url", "StatusCallback", "AsyncAmdStatusCallback"):
        assert params[key].startswith(public + "/twilio/"), (key, params[key])
    webhooks = stack.control.webhooks()
    assert webhooks, "the emulator sent no callbacks"
    for hook in webhooks:
        assert hook["url"].startswith(public + "/"), hook
        assert ALIAS not in hook["url"] and EVIL not in hook["url"]

    app = stack.app()
    with app.app_context():
        from phonebank.extensions import db

        columns = {c["name"] for c in inspect(db.engine).get_columns("calling_sessions")}
        db.engine.dispose()
    assert "base_url" not in columns  # nothing request-derived is stored for later calls


def test_an_unknown_host_gets_400_before_any_code_runs(alias_stack):
    response = requests.get(alias_stack.server.url + "/healthz", headers={"Host": EVIL}, timeout=10)
    assert response.status_code == 400
