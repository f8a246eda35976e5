"""Twilio's fallback TwiML: when a call's own TwiML cannot be had, the person on the line hears
a polite goodbye, never "an application error has occurred"."""

from __future__ import annotations

import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

from phonebank.config import REPO_ROOT
from phonebank.telephony.provider import hangup_twiml
from phonebank.twilio_hooks.routes import FALLBACK_MESSAGES
from tests.conftest import free_port
from tests.twilio_hooks.test_signatures import hook_app, sign  # noqa: F401  (fixture)

FALLBACK_XML = REPO_ROOT / "static" / "twiml" / "fallback.xml"
STALL_SECONDS = 60


@pytest.mark.parametrize("leg", ["voter", "volunteer"])
def test_the_fallback_says_goodbye_politely(hook_app, leg):  # noqa: F811
    client = hook_app().test_client()
    url = f"http://localhost/twilio/voice/fallback?leg={leg}"
    params = {"CallSid": "CA" + "2" * 32, "ErrorCode": "11200", "ErrorUrl": "http://x/voice"}
    answer = client.post(url, data=params, headers={"X-Twilio-Signature": sign(url, params)})
    assert answer.status_code == 200
    body = answer.get_data(as_text=True)
    assert FALLBACK_MESSAGES[leg] in body and "<Hangup" in body
    unsigned = client.post(url, data=params)
    assert unsigned.status_code == 403


def test_the_static_fallback_to_host_elsewhere_says_the_same():
    assert FALLBACK_XML.read_text().strip() == hangup_twiml(FALLBACK_MESSAGES["voter"])


@pytest.mark.timeout(300)
def test_a_voter_answering_during_an_outage_hears_the_hosted_fallback(postgres_url, tmp_path):
    from tests.live_calling import CallingStack, seed_campaign

    # The fallback file served from elsewhere, as from a CDN.
    port = free_port()
    handler = partial(SimpleHTTPRequestHandler, directory=str(FALLBACK_XML.parent))
    handler.log_message = lambda *args: None
    elsewhere = ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=elsewhere.serve_forever, daemon=True).start()

    class StaticPost(SimpleHTTPRequestHandler):  # Twilio POSTs to a fallback URL
        def do_POST(self):  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            return self.do_GET()

        def log_message(self, *args):
            pass

    elsewhere.RequestHandlerClass = partial(StaticPost, directory=str(FALLBACK_XML.parent))
    stack = CallingStack(
        postgres_url,
        tmp_path,
        speed=2.0,  # the voter rings for 7.5 s: time enough to take phonebank down
        PHONEBANK_TWIML_FALLBACK_URL=f"http://127.0.0.1:{port}/fallback.xml",
    ).start()
    try:
        data = seed_campaign(stack.app(), people=1, dialing_mode="preview")
        number = data["numbers"][0]
        # The voter lets it ring a while (15 s, within the 20 s ring timeout), then answers.
        stack.control.set_scenarios(
            {number: {"answer": "human", "ring_seconds": 15, "talk_seconds": 30}}
        )
        volunteer = stack.volunteer(data["volunteers"][0])
        volunteer.join(data["campaign_id"])
        volunteer.connect_audio()
        volunteer.emit("volunteer.ready", {"ready": True})
        volunteer.wait_for(lambda s: s["voter"] is not None, what="the voter")
        volunteer.emit("call.dial")
        volunteer.wait_for(lambda s: s["call"] and s["call"]["state"] == "ringing", what="ringing")
        volunteer.close()
        stack.server.stop()  # phonebank goes down while it rings
        said, since, last = [], time.monotonic(), None
        while not said:
            entries = stack.control.log()
            said = [e for e in entries if e.get("verb") == "Say"]
            if len(entries) != last:
                last, since = len(entries), time.monotonic()
            assert time.monotonic() - since < STALL_SECONDS, "; ".join(
                str(x)
                for x in [
                    (e.get("kind"), e.get("type"), e.get("verb"), e.get("status"), e.get("url"))
                    for e in entries
                ]
            )
            time.sleep(0.2)
        assert said[0]["detail"] == FALLBACK_MESSAGES["voter"]
        assert not [e for e in stack.control.log() if e.get("kind") == "error"]
    finally:
        elsewhere.shutdown()
        elsewhere.server_close()
        stack.stop()
