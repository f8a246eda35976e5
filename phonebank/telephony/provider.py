"""The telephony provider interface and its Twilio implementation.

The calling services talk to ``get_provider()`` only. ``TwilioProvider`` drives the real twilio
SDK, against Twilio itself or, when ``PHONEBANK_TWILIO_EMULATOR_URL`` is set, against the
built-in emulator (docs/twilio-emulator.md). Webhook URLs are passed in by the caller.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

# The SDK imports these on first use; a web process does so now instead, so its first call
# does not stall every other request on the gevent hub while hundreds of modules load.
import twilio.rest.api.v2010.account.call  # noqa: F401
import twilio.rest.api.v2010.account.conference.participant  # noqa: F401
from flask import Flask, current_app
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.jwt.access_token import AccessToken
from twilio.jwt.access_token.grants import VoiceGrant
from twilio.twiml.voice_response import Dial, VoiceResponse

from phonebank.telephony.twilio_client import build_client

log = logging.getLogger(__name__)


class TelephonyError(Exception):
    """The provider refused or could not be reached; the message is safe to show staff."""


class NotConfigured(TelephonyError):
    pass


@dataclass
class ProviderCall:
    sid: str
    status: str
    duration: int | None
    answered_by: str | None
    created_at: datetime | None = None


class ProviderUnreachable(TelephonyError):
    """No answer from the provider (a timeout, a refused connection): whether it acted on the
    request is unknown."""


class UnknownCall(TelephonyError):
    """The provider has no such call (404): it was never placed, or is long gone."""


class TelephonyProvider(Protocol):
    def dial(
        self,
        *,
        to: str,
        from_: str,
        answer_url: str,
        status_url: str,
        amd_url: str | None,
        timeout: int,
        fallback_url: str | None = None,
    ) -> str: ...

    def redirect(self, sid: str, twiml: str) -> None: ...

    def hang_up(self, sid: str) -> bool: ...

    def fetch(self, sid: str) -> ProviderCall: ...

    def recent_calls_to(self, number: str, from_: str, since: datetime) -> list[ProviderCall]: ...

    def set_monitor_mode(
        self, conference: str, call_sid: str, mode: str, coach_sid: str
    ) -> None: ...

    def access_token(self, identity: str, ttl: int) -> str: ...


class TwilioProvider:
    """Twilio (or the emulator) through the twilio SDK; the client is built on first use."""

    def __init__(self, config: dict):
        self.account_sid = config.get("TWILIO_ACCOUNT_SID")
        self.auth_token = config.get("TWILIO_AUTH_TOKEN")
        self.api_key = config.get("TWILIO_API_KEY")
        self.api_secret = config.get("TWILIO_API_SECRET")
        self.twiml_app_sid = config.get("TWILIO_TWIML_APP_SID")
        self.emulator_url = config.get("TWILIO_EMULATOR_URL")
        self.timeout = float(config.get("TWILIO_TIMEOUT_SECONDS") or 10)
        self._client = None

    @property
    def emulated(self) -> bool:
        return bool(self.emulator_url)

    @property
    def client(self):
        if self._client is None:
            if not (self.account_sid and self.auth_token):
                raise NotConfigured(
                    "Calling is not set up: TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are missing."
                )
            self._client = build_client(
                self.account_sid, self.auth_token, self.emulator_url, timeout=self.timeout
            )
        return self._client

    def _call(self, what: str, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except TwilioRestException as exc:
            log.warning("twilio refused to %s: %s %s", what, exc.code, exc.msg)
            raise TelephonyError(f"Twilio refused to {what}: {exc.msg}") from exc
        except (TwilioException, OSError) as exc:
            log.warning("twilio unreachable (%s): %s", what, exc)
            raise ProviderUnreachable(f"Could not reach Twilio to {what}.") from exc

    def dial(self, *, to, from_, answer_url, status_url, amd_url, timeout, fallback_url=None):
        options = {}
        if fallback_url:
            options.update(fallback_url=fallback_url, fallback_method="POST")
        if amd_url:
            options.update(
                machine_detection="DetectMessageEnd",
                async_amd="true",
                async_amd_status_callback=amd_url,
                async_amd_status_callback_method="POST",
            )
        call = self._call(
            "place the call",
            self.client.calls.create,
            to=to,
            from_=from_,
            url=answer_url,
            method="POST",
            status_callback=status_url,
            status_callback_method="POST",
            # "initiated" adds nothing the page shows; leaving it out saves a request per call.
            status_callback_event=["ringing", "answered", "completed"],
            timeout=timeout,
            **options,
        )
        return call.sid

    def expect_volunteer_answer(self, number: str) -> None:
        """In the emulator, a volunteer's own phone answers and stays on the line (as the
        volunteer would); with real Twilio there is nothing to arrange."""
        if self.emulated:
            from phonebank.telephony.emulator.process import EmulatorControl

            scenario = {"answer": "human", "ring_seconds": 3, "talk_seconds": None}
            EmulatorControl(self.emulator_url).set_scenarios({number: scenario})

    def redirect(self, sid: str, twiml: str) -> None:
        self._call("change the call", self.client.calls(sid).update, twiml=twiml)

    def hang_up(self, sid: str) -> bool:
        """End a call; False when it was over already (Twilio's 21220, or unknown)."""
        try:
            self.client.calls(sid).update(status="completed")
        except TwilioRestException as exc:
            if exc.status == 404 or exc.code in (21220,):  # already over
                return False
            raise TelephonyError(f"Twilio refused to hang up: {exc.msg}") from exc
        except (TwilioException, OSError) as exc:
            raise ProviderUnreachable("Could not reach Twilio to hang up.") from exc
        return True

    def fetch(self, sid: str) -> ProviderCall:
        try:
            call = self.client.calls(sid).fetch()
        except TwilioRestException as exc:
            if exc.status == 404:
                raise UnknownCall(f"Twilio has no call {sid}.") from exc
            raise TelephonyError(f"Twilio refused to look up the call: {exc.msg}") from exc
        except (TwilioException, OSError) as exc:
            raise ProviderUnreachable("Could not reach Twilio to look up the call.") from exc
        return _provider_call(call)

    def recent_calls_to(self, number: str, from_: str, since: datetime) -> list[ProviderCall]:
        """Calls placed to ``number`` from ``from_`` since then (newest first): how a call
        whose placing was cut short (a timeout, a killed process) is found again."""
        found = self._call(
            "list calls",
            self.client.calls.list,
            to=number,
            from_=from_,
            start_time_after=(since - timedelta(minutes=1)).date(),  # Twilio filters by day
            limit=20,
        )
        calls = [_provider_call(c) for c in found]
        # Twilio's times are to the second: allow for that, and for clocks a little apart.
        earliest = since - timedelta(seconds=5)
        return [c for c in calls if c.created_at is None or c.created_at >= earliest]

    def set_monitor_mode(self, conference: str, call_sid: str, mode: str, coach_sid: str) -> None:
        """Switch a lead's leg in a conference between listen, whisper and barge, in place."""
        found = self._call(
            "find the conference",
            self.client.conferences.list,
            friendly_name=conference,
            status="in-progress",
            limit=1,
        )
        if not found:
            raise TelephonyError("The volunteer's call has ended.")
        options = monitor_options(mode)
        self._call(
            "switch the lead's audio",
            self.client.conferences(found[0].sid).participants(call_sid).update,
            muted=options["muted"],
            coaching=options["coaching"],
            **({"call_sid_to_coach": coach_sid} if options["coaching"] else {}),
        )

    def access_token(self, identity: str, ttl: int) -> str:
        if not (self.api_key and self.api_secret and self.twiml_app_sid):
            raise NotConfigured(
                "Browser calling is not set up: TWILIO_API_KEY, TWILIO_API_SECRET and "
                "TWILIO_TWIML_APP_SID are needed."
            )
        token = AccessToken(
            self.account_sid, self.api_key, self.api_secret, identity=identity, ttl=ttl
        )
        token.add_grant(
            VoiceGrant(outgoing_application_sid=self.twiml_app_sid, incoming_allow=False)
        )
        return token.to_jwt()


def _provider_call(call) -> ProviderCall:
    duration = int(call.duration) if call.duration not in (None, "") else None
    status = getattr(call.status, "value", call.status)  # the SDK may give its own enum
    return ProviderCall(call.sid, str(status), duration, call.answered_by, call.date_created)


def get_provider(app: Flask | None = None) -> TwilioProvider:
    app = app or current_app._get_current_object()
    provider = app.extensions.get("phonebank.telephony")
    if provider is None:
        provider = app.extensions["phonebank.telephony"] = TwilioProvider(app.config)
    return provider


# --- TwiML ---------------------------------------------------------------------------------


def conference_twiml(name: str, status_url: str | None = None) -> str:
    """Join a volunteer's conference. Any leg starts it and no leg's leaving ends it, so a
    volunteer whose page drops can rejoin the same call; ``status_url`` (the volunteer's leg)
    asks for join and leave events."""
    response = VoiceResponse()
    dial = Dial()
    options = {
        "start_conference_on_enter": True,
        "end_conference_on_exit": False,
        "beep": False,
        "wait_url": "",
    }
    if status_url:
        options.update(status_callback=status_url, status_callback_event="join leave")
    dial.conference(name, **options)
    response.append(dial)
    return str(response)


def monitor_options(mode: str) -> dict:
    """Listen: muted coach. Whisper: coach (only the volunteer hears). Barge: a plain speaker."""
    if mode not in ("listen", "whisper", "barge"):
        raise ValueError(f"unknown monitor mode {mode!r}")
    return {"muted": mode == "listen", "coaching": mode != "barge"}


def monitor_twiml(name: str, mode: str, coach_sid: str) -> str:
    """A lead's browser leg joins a volunteer's conference without starting or ending it."""
    options = monitor_options(mode)
    response = VoiceResponse()
    dial = Dial()
    extra = {"coach": coach_sid} if options["coaching"] else {}
    dial.conference(
        name,
        start_conference_on_enter=False,
        end_conference_on_exit=False,
        beep=False,
        muted=options["muted"],
        wait_url="",
        **extra,
    )
    response.append(dial)
    return str(response)


def voicemail_twiml(text: str, audio_url: str, done_url: str) -> str:
    """The campaign's message, then a request to ``done_url``: only a message played to its
    end counts as left (the callee hanging up part way through, or a failed redirect, does
    not), since a left message ends a campaign's attempts."""
    response = VoiceResponse()
    if audio_url:
        response.play(audio_url)
    elif text:
        response.say(text)
    response.redirect(done_url, method="POST")
    return str(response)


def hangup_twiml(message: str | None = None) -> str:
    response = VoiceResponse()
    if message:
        response.say(message)
    response.hangup()
    return str(response)
