"""Running the emulator as a subprocess, and calling its control API, from tests and scripts.

The emulator process uses gevent and monkey-patches itself; the process that starts it need not
(and in tests must not). Nothing here imports gevent.

    with EmulatorProcess(ACCOUNT_SID, AUTH_TOKEN, speed=20, seed=1) as emulator:
        client = build_client(ACCOUNT_SID, AUTH_TOKEN, emulator.url)
        emulator.control.set_scenarios({"+12125550101": {"answer": "human"}})
"""

from __future__ import annotations

import json
import os
import re
import selectors
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import IO, Any

PACKAGE_ROOT = Path(__file__).resolve().parents[3]  # the folder holding phonebank/
BOOTSTRAP = (
    "from gevent import monkey; monkey.patch_all(); "
    "from phonebank.telephony.emulator.cli import main; raise SystemExit(main())"
)
FINAL_STATUSES = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})


def bootstrap_command(args: list[str], python: str = sys.executable) -> list[str]:
    """The command running the emulator with gevent patched before anything else is imported."""
    return [python, "-c", BOOTSTRAP, *args]


def bootstrap_env(env: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ if env is None else env)
    paths = [str(PACKAGE_ROOT), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    return env


class EmulatorError(Exception):
    """The control API answered with an error."""

    def __init__(self, status: int, body: Any):
        super().__init__(f"HTTP {status}: {body}")
        self.status, self.body = status, body


class EmulatorControl:
    """The ``/_emulator/`` control API of a running emulator (standard library only)."""

    def __init__(self, url: str, timeout: float = 10.0):
        self.url = url.rstrip("/")
        self.timeout = timeout

    def request(self, method: str, path: str, body: Any = None, **query: Any) -> Any:
        query = {k: v for k, v in query.items() if v is not None}
        url = f"{self.url}/_emulator/{path.lstrip('/')}"
        if query:
            url += "?" + urllib.parse.urlencode(query)
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(url, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as response:
                payload = response.read()
        except urllib.error.HTTPError as error:
            with error:
                payload = error.read()
                try:
                    parsed = json.loads(payload)
                except ValueError:
                    parsed = payload.decode("utf-8", "replace")
            raise EmulatorError(error.code, parsed) from None
        return json.loads(payload) if payload else None

    # configuration
    def health(self) -> dict:
        return self.request("GET", "health")

    def configure(self, **values: Any) -> dict:
        """``speed``, ``outcome_mix`` ({"human": .2, ...}) and/or ``timings``."""
        return self.request("POST", "config", values)

    def set_scenarios(self, scenarios: dict[str, dict | None]) -> dict:
        """Per-number callee behaviour, e.g. ``{"+12125550101": {"answer": "machine"}}``;
        ``"*"`` applies to every number not listed; ``None`` removes a number's scenario."""
        return self.request("POST", "scenarios", scenarios)

    def clear_scenarios(self) -> dict:
        return self.request("DELETE", "scenarios")

    def set_faults(self, **faults: Any) -> dict:
        """``duplicate``, ``reorder``, ``drop``, ``drop_final`` (0..1), ``apply_to``, ``seed``."""
        return self.request("POST", "faults", faults)

    def clear_faults(self) -> dict:
        return self.request("DELETE", "faults")

    def set_application(self, application_sid: str, voice_url: str, **config: str) -> dict:
        return self.request(
            "POST", "applications", {application_sid: {"voice_url": voice_url, **config}}
        )

    def reset(self) -> None:
        self.request("POST", "reset")

    # observation
    def log(self, since: int = 0, **match: Any) -> list[dict]:
        """Log entries (``kind`` request|webhook|verb|conference|amd|error; ``type``,
        ``call_sid``, ``operation``; ``limit``)."""
        return self.request("GET", "log", since=since, **match)["entries"]

    def requests(self, operation: str | None = None, **match: Any) -> list[dict]:
        return self.log(kind="request", operation=operation, **match)

    def webhooks(self, type: str | None = None, **match: Any) -> list[dict]:
        return self.log(kind="webhook", type=type, **match)

    def state(self, active: bool = False) -> dict:
        return self.request("GET", "state", active="1" if active else None)

    def stats(self) -> dict:
        return self.request("GET", "stats")

    def call(self, call_sid: str) -> dict:
        return self.request("GET", f"calls/{call_sid}")

    def hangup(self, call_sid: str) -> dict:
        """The callee hangs up (or declines a ringing call)."""
        return self.request("POST", f"calls/{call_sid}/hangup", {})

    def wait_for_call(
        self, call_sid: str, statuses=FINAL_STATUSES, timeout: float = 10.0, poll: float = 0.02
    ) -> dict:
        """Poll until the call's status is one of ``statuses``."""
        statuses = {statuses} if isinstance(statuses, str) else set(statuses)
        deadline = time.monotonic() + timeout
        while True:
            call = self.call(call_sid)
            if call["status"] in statuses:
                return call
            if time.monotonic() > deadline:
                raise TimeoutError(f"call {call_sid} is {call['status']}, not in {statuses}")
            time.sleep(poll)

    # browser legs
    def client_connect(self, token: str, params: dict[str, str] | None = None) -> dict:
        return self.request("POST", "client/connect", {"token": token, "params": params or {}})

    def client_disconnect(self, call_sid: str) -> dict:
        return self.request("POST", "client/disconnect", {"call_sid": call_sid})

    def client_status(self, call_sid: str) -> dict:
        return self.request("GET", "client/status", call_sid=call_sid)


class EmulatorProcess:
    """The emulator in a child process on a free port; ``start()`` waits until it listens."""

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
        api_secret: str | None = None,
        twiml_app_voice_url: str | None = None,
        speed: float = 1.0,
        seed: int | None = None,
        log_path: str | os.PathLike | None = None,
        log_level: str = "WARNING",
        extra_args: list[str] | tuple[str, ...] = (),
        env: dict[str, str] | None = None,
        start_timeout: float = 20.0,
    ):
        self.args = [
            "--host",
            host,
            "--port",
            str(port),
            "--account-sid",
            account_sid,
            "--auth-token",
            auth_token,
            "--speed",
            str(speed),
            "--log-level",
            log_level,
        ]
        if api_key:
            self.args += ["--api-key", api_key, "--api-secret", api_secret or ""]
        if twiml_app_voice_url:
            self.args += ["--twiml-app-voice-url", twiml_app_voice_url]
        if seed is not None:
            self.args += ["--seed", str(seed)]
        self.args += list(extra_args)
        self.log_path = Path(log_path) if log_path else None
        self.env = env
        self.start_timeout = start_timeout
        self.process: subprocess.Popen | None = None
        self.url: str | None = None
        self.control: EmulatorControl | None = None
        self._log_file: IO | None = None

    def start(self) -> EmulatorProcess:
        if self.log_path:
            self._log_file = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            bootstrap_command(self.args),
            stdout=subprocess.PIPE,
            stderr=self._log_file,
            stdin=subprocess.DEVNULL,
            env=bootstrap_env(self.env),
        )
        line = self._first_line()
        match = re.search(r"listening on (\S+)", line)
        if not match:
            self.stop()
            raise RuntimeError(f"the emulator did not start: {line!r}{self._log_tail()}")
        self.url = match.group(1)
        self.control = EmulatorControl(self.url)
        return self

    def _first_line(self) -> str:
        assert self.process and self.process.stdout
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            if not selector.select(self.start_timeout):
                return "(no output in time)"
        return self.process.stdout.readline().decode("utf-8", "replace")

    def _log_tail(self) -> str:
        if self.log_path and self.log_path.exists():
            return "\n" + self.log_path.read_text(errors="replace")[-4000:]
        return ""

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            if process.stdout:
                process.stdout.close()
        if self._log_file:
            self._log_file.close()
            self._log_file = None

    def __enter__(self) -> EmulatorProcess:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()
