"""Fixtures for the Twilio emulator: the emulator in a subprocess, the real twilio SDK pointed at
it, and a small webhook server standing in for the app (it checks every signature)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import pytest
from twilio.request_validator import RequestValidator
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from phonebank.telephony.emulator import EmulatorProcess
from phonebank.telephony.twilio_client import build_client

ACCOUNT_SID = "AC" + "a1" * 16
AUTH_TOKEN = "emulator-test-auth-token"
API_KEY = "SK" + "b2" * 16
API_SECRET = "emulator-test-api-secret-0123456789"  # 32+ bytes, as Twilio's are
APP_SID = "AP" + "c3" * 16
SPEED = 20.0


@dataclass
class Hook:
    """One webhook the emulator sent to the stand-in app."""

    path: str
    method: str
    url: str
    params: dict[str, str]
    signature_valid: bool
    idempotency_token: str | None
    at: float = field(default_factory=time.monotonic)


class WebhookReceiver:
    """A threaded HTTP server recording webhooks and answering TwiML set by the test."""

    def __init__(self, auth_token: str):
        self.validator = RequestValidator(auth_token)
        self.hooks: list[Hook] = []
        self.twiml: dict[str, str] = {}
        self.statuses: dict[str, int] = {}
        self.lock = threading.Lock()
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> WebhookReceiver:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    def reset(self) -> None:
        with self.lock:
            self.hooks.clear()
            self.twiml.clear()
            self.statuses.clear()

    def app(self, environ, start_response):
        request = Request(environ)
        query = environ.get("QUERY_STRING", "")
        url = f"{self.url}{request.path}" + (f"?{query}" if query else "")
        if request.method == "POST":
            params = request.form.to_dict()
            valid = self.validator.validate(url, params, request.headers.get("X-Twilio-Signature"))
        else:
            params = request.args.to_dict()
            valid = self.validator.validate(url, {}, request.headers.get("X-Twilio-Signature"))
        hook = Hook(
            request.path,
            request.method,
            url,
            params,
            valid,
            request.headers.get("I-Twilio-Idempotency-Token"),
        )
        with self.lock:
            self.hooks.append(hook)
            twiml = self.twiml.get(request.path)
            status = self.statuses.get(request.path, 200)
        if twiml is not None:
            response = Response(twiml, status=status, mimetype="text/xml")
        else:
            response = Response("", status=status, mimetype="text/plain")
        return response(environ, start_response)

    def received(self, path: str) -> list[Hook]:
        with self.lock:
            return [hook for hook in self.hooks if hook.path == path]

    def wait_for(self, path: str, count: int = 1, timeout: float = 5.0, where=None) -> list[Hook]:
        """The webhooks to ``path`` (matching ``where``) once at least ``count`` arrived."""
        deadline = time.monotonic() + timeout
        while True:
            hooks = [hook for hook in self.received(path) if where is None or where(hook)]
            if len(hooks) >= count:
                return hooks
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(hooks)} of {count} webhooks to {path}: {hooks}")
            time.sleep(0.01)


def wait_until(condition, timeout: float = 5.0, interval: float = 0.02) -> Any:
    """Poll ``condition`` until it returns something truthy, and return that."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met in {timeout} s: {condition}")
        time.sleep(interval)


@pytest.fixture(scope="session")
def receiver():
    server = WebhookReceiver(AUTH_TOKEN).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def emulator_process(receiver, tmp_path_factory):
    log_path = tmp_path_factory.mktemp("emulator") / "emulator.log"
    process = EmulatorProcess(
        ACCOUNT_SID,
        AUTH_TOKEN,
        api_key=API_KEY,
        api_secret=API_SECRET,
        twiml_app_voice_url=f"{receiver.url}/voice",
        speed=SPEED,
        seed=1234,
        log_path=log_path,
        log_level="INFO",
    )
    process.start()
    yield process
    process.stop()


@pytest.fixture
def emulator(emulator_process, receiver):
    """The running emulator, reset, with no traceback in its log by the end of the test."""
    emulator_process.control.reset()
    receiver.reset()
    log_path = emulator_process.log_path
    offset = log_path.stat().st_size
    yield emulator_process
    with open(log_path, errors="replace") as log:
        log.seek(offset)
        text = log.read()
    assert "Traceback" not in text, text


@pytest.fixture
def twilio(emulator):
    """The real twilio SDK client, as the app builds it, pointed at the emulator."""
    client = build_client(ACCOUNT_SID, AUTH_TOKEN, emulator.url)
    yield client
    client.http_client.session.close()
