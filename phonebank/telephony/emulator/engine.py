"""The emulator's core: the account's calls, conferences and participants, and each call's play-out.

One greenlet (the *runner*) plays each call: dialing, ringing, the callee's answer, then the TwiML.
Anything else that changes a call — the REST API hanging it up or redirecting it, the callee
hanging up, a conference ending — changes the records at once, synchronously, and then tells the
runner through its interrupt queue; the runner only ever blocks in ``_wait`` and in webhook
requests, and re-checks the call after each. So a REST response always shows the new state, and no
exception is ever thrown into a greenlet from outside.

Times: every duration in a plan or in TwiML is in *simulated* seconds; the runner sleeps
``seconds / speed`` of wall-clock time (speed 20 plays a 33 s call in 1.65 s). Durations reported to
the app (``duration``, ``CallDuration``, ``MachineDetectionDuration``) are simulated seconds too;
timestamps (``date_created``, ``start_time``, ``Timestamp``) are the real clock.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import gevent
import gevent.pool
import gevent.queue

from . import twiml
from .models import (
    API_VERSION,
    CLIENT,
    E164,
    Call,
    Conference,
    ConferenceCallbacks,
    Participant,
    TwilioError,
    as_bool,
    billable_minutes,
    call_json,
    conference_json,
    is_endpoint,
    new_sid,
    now_utc,
    participant_json,
    rfc2822,
)
from .params import (
    CALL_STATUS_CALLBACK_EVENTS,
    CONFERENCE_STATUS_CALLBACK_EVENTS,
    HTTP_METHODS,
    MACHINE_DETECTION_VALUES,
)
from .scenarios import DEFAULT_MIX, AmdOutcome, Planner, Timings, validate_mix, validate_scenario
from .tokens import verify_access_token
from .webhooks import CallbackChannel, EventLog, Faults, WebhookSender

logger = logging.getLogger("phonebank.telephony.emulator")

CONFERENCE_SID = re.compile(r"^CF[0-9a-fA-F]{32}$")
DEFAULT_SIP = {"completed": 200, "busy": 486, "no-answer": 487, "canceled": 487, "failed": 500}
APPLICATION_ERROR_SECONDS = 4.0  # "An application error has occurred. Goodbye."
DIALING_SECONDS = 0.2


class _Interrupt(Exception):
    """Raised (synchronously, inside a runner) to leave what the call was doing."""


class CallEnded(_Interrupt):
    """The call is over; its records are already final."""


class Redirected(_Interrupt):
    def __init__(self, source: Source):
        super().__init__()
        self.source = source


class LeftConference(_Interrupt):
    """The call is no longer in its conference (kicked, or the conference ended)."""


@dataclass
class Source:
    """Where a call's next TwiML comes from."""

    url: str | None = None
    method: str = "POST"
    twiml: str | None = None
    verbs: list | None = None
    extra: dict[str, str] = field(default_factory=dict)
    primary: bool = False  # the call's own Url: FallbackUrl applies


@dataclass
class CallRuntime:
    """What a live call needs besides its record: its runner, timers and callback channel."""

    rng: random.Random
    channel: CallbackChannel | None = None
    interrupts: gevent.queue.Queue = field(default_factory=gevent.queue.Queue)
    runner: Any = None
    timers: list = field(default_factory=list)
    executing: bool = False
    in_dial: bool = False
    pending_conference_sid: str | None = None

    def post(self, item: tuple) -> None:
        self.interrupts.put(item)


def _valid_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


class Emulator:
    """One Twilio account's voice API, played out in this process."""

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        *,
        api_keys: dict[str, str] | None = None,
        twiml_app_voice_url: str | None = None,
        speed: float = 1.0,
        seed: int | None = None,
        log_limit: int = 200_000,
        max_finished_calls: int = 100_000,
        webhook_timeout: float = 15.0,
    ):
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.api_keys = dict(api_keys or {})
        self.twiml_app_voice_url = twiml_app_voice_url
        self.speed = float(speed)
        self.seed = seed
        self.max_finished_calls = max_finished_calls
        self.log = EventLog(log_limit)
        self.sender = WebhookSender(auth_token, self.log, timeout=webhook_timeout)
        self.planner = Planner(seed=seed)
        self.faults = Faults(rng=random.Random(None if seed is None else f"{seed}|faults"))
        self.applications: dict[str, dict[str, str]] = {}
        self.group = gevent.pool.Group()
        self._new_state()

    # --- state --------------------------------------------------------------------------------

    def _new_state(self) -> None:
        self.calls: dict[str, Call] = {}
        self.runtime: dict[str, CallRuntime] = {}
        self.conferences: dict[str, Conference] = {}
        self.active_conferences: dict[str, str] = {}  # friendly name -> sid
        self.conference_channels: dict[str, CallbackChannel] = {}
        self._finished_calls: deque[str] = deque()
        self._finished_conferences: deque[str] = deque()

    def reset(self) -> None:
        """Forget every call, conference, scenario, fault and log entry (no callbacks sent)."""
        self.group.kill(block=True, timeout=5)
        self._new_state()
        self.log.clear()
        self.planner.scenarios.clear()
        self.planner.reset_counts()
        self.planner.mix = dict(DEFAULT_MIX)
        self.planner.timings = Timings()
        self.faults.clear()
        if self.seed is not None:
            self.faults.rng.seed(f"{self.seed}|faults")
        self.applications.clear()

    def shutdown(self) -> None:
        self.group.kill(block=True, timeout=5)
        self.sender.close()

    def _spawn(self, function, *args):
        return self.group.spawn(function, *args)

    def _spawn_later(self, seconds: float, function, *args):
        greenlet = gevent.spawn_later(seconds, function, *args)
        self.group.add(greenlet)
        return greenlet

    def _prune(self) -> None:
        while len(self._finished_calls) > self.max_finished_calls:
            sid = self._finished_calls.popleft()
            self.calls.pop(sid, None)
            self.runtime.pop(sid, None)
        while len(self._finished_conferences) > self.max_finished_calls:
            sid = self._finished_conferences.popleft()
            self.conferences.pop(sid, None)
            self.conference_channels.pop(sid, None)

    def real_seconds(self, simulated: float) -> float:
        return simulated / self.speed

    # --- parameters ---------------------------------------------------------------------------

    @staticmethod
    def _invalid(name: str, detail: str = "") -> TwilioError:
        return TwilioError(
            400, 20001, f"Invalid parameter: {name}" + (f" ({detail})" if detail else "")
        )

    def _url_param(self, params, name: str, code: int = 21205) -> str | None:
        value = (params.get(name) or "").strip()
        if not value:
            return None
        if not _valid_url(value):
            raise TwilioError(400, code, f"{name} is not a valid URL: {value}")
        return value

    def _method_param(self, params, name: str, default: str = "POST") -> str:
        value = (params.get(name) or default).strip().upper()
        if value not in HTTP_METHODS:
            raise self._invalid(name, "must be GET or POST")
        return value

    def _bool_param(self, params, name: str, default: bool | None = None) -> bool | None:
        try:
            return as_bool(params.get(name), default)
        except ValueError:
            raise self._invalid(name, "must be true or false") from None

    def _int_param(self, params, name: str, default: int, low: int, high: int) -> int:
        value = params.get(name)
        if value in (None, ""):
            return default
        try:
            number = int(value)
        except ValueError:
            raise self._invalid(name, "must be an integer") from None
        return max(low, min(high, number))

    @staticmethod
    def _events(params, name: str, allowed: tuple[str, ...], default: frozenset[str]):
        values = [
            word for value in params.getlist(name) for word in value.replace(",", " ").split()
        ]
        unknown = [value for value in values if value not in allowed]
        if unknown:
            raise TwilioError(400, 20001, f"Invalid parameter: {name} ({', '.join(unknown)})")
        return frozenset(values) if values else default

    def _endpoints(self, params) -> tuple[str, str]:
        to = (params.get("To") or "").strip()
        from_ = (params.get("From") or "").strip()
        if not to:
            raise TwilioError(400, 21201, "No 'To' number is specified")
        if not from_:
            raise TwilioError(400, 21213, "No 'From' number is specified")
        if not is_endpoint(to):
            raise TwilioError(400, 21211, f"Invalid 'To' Phone Number: {to}")
        if not (E164.match(from_) or CLIENT.match(from_)):
            raise TwilioError(400, 21212, f"Invalid 'From' Phone Number: {from_}")
        return to, from_

    def _new_call(self, to: str, from_: str, direction: str, **fields: Any) -> Call:
        call = Call(new_sid("CA"), self.account_sid, to, from_, direction, **fields)
        self.calls[call.sid] = call
        rng = random.Random(None if self.seed is None else f"{self.seed}|{call.sid}")
        self.runtime[call.sid] = CallRuntime(rng=rng)
        return call

    def _get_call(self, sid: str, uri: str) -> Call:
        call = self.calls.get(sid)
        if call is None:
            raise TwilioError(404, 20404, f"The requested resource {uri} was not found")
        return call

    # --- REST: calls ----------------------------------------------------------------------------

    def create_call(self, params) -> Call:
        to, from_ = self._endpoints(params)
        url = self._url_param(params, "Url")
        twiml_text = params.get("Twiml") or None
        application_sid = params.get("ApplicationSid") or None
        if not (url or twiml_text or application_sid):
            raise TwilioError(
                400, 21205, "Url parameter is required. Provide a Url, Twiml or ApplicationSid."
            )
        if twiml_text:
            self._check_twiml(twiml_text)
        method = self._method_param(params, "Method")
        if application_sid and not (url or twiml_text):
            application = self.application(application_sid)
            if not application.get("voice_url"):
                raise TwilioError(400, 21205, f"Application {application_sid} has no VoiceUrl")
            url, method = application["voice_url"], application.get("voice_method", "POST")
        status_callback = self._url_param(params, "StatusCallback", 21609)
        events = self._events(
            params, "StatusCallbackEvent", CALL_STATUS_CALLBACK_EVENTS, frozenset({"completed"})
        )
        machine_detection = params.get("MachineDetection") or None
        if machine_detection and machine_detection not in MACHINE_DETECTION_VALUES:
            raise self._invalid("MachineDetection", "must be Enable or DetectMessageEnd")
        call = self._new_call(
            to,
            from_,
            "outbound-api",
            url=url,
            method=method,
            twiml=twiml_text,
            application_sid=application_sid,
            fallback_url=self._url_param(params, "FallbackUrl"),
            fallback_method=self._method_param(params, "FallbackMethod"),
            status_callback=status_callback,
            status_callback_method=self._method_param(params, "StatusCallbackMethod"),
            status_callback_events=events,
            timeout=self._int_param(params, "Timeout", 60, 1, 600),
            time_limit=self._int_param(params, "TimeLimit", 14400, 1, 86400),
            machine_detection=machine_detection,
            machine_detection_timeout=self._int_param(params, "MachineDetectionTimeout", 30, 3, 59),
            async_amd=bool(self._bool_param(params, "AsyncAmd", False)),
            amd_callback=self._url_param(params, "AsyncAmdStatusCallback", 21609),
            amd_callback_method=self._method_param(params, "AsyncAmdStatusCallbackMethod"),
        )
        call.plan = self.planner.plan(to)
        self._start(call, self._run_outbound)
        return call

    @staticmethod
    def _check_twiml(text: str) -> None:
        try:
            twiml.parse(text)
        except twiml.TwimlError as error:
            raise TwilioError(400, 12100, f"Twiml is not valid TwiML: {error}") from None

    def fetch_call(self, sid: str, uri: str) -> Call:
        return self._get_call(sid, uri)

    def update_call(self, sid: str, params, uri: str) -> Call:
        call = self._get_call(sid, uri)
        status = params.get("Status") or None
        url = self._url_param(params, "Url")
        twiml_text = params.get("Twiml") or None
        method = self._method_param(params, "Method")
        if status and status not in ("completed", "canceled"):
            raise self._invalid("Status", "must be completed or canceled")
        if twiml_text:
            self._check_twiml(twiml_text)
        if (status or url or twiml_text) and call.is_terminal:
            raise TwilioError(400, 21220, "Call is not in-progress. Cannot redirect.")
        if "StatusCallback" in params:
            call.status_callback = self._url_param(params, "StatusCallback", 21609)
        if "StatusCallbackMethod" in params:
            call.status_callback_method = self._method_param(params, "StatusCallbackMethod")
        if "FallbackUrl" in params:
            call.fallback_url = self._url_param(params, "FallbackUrl")
            call.fallback_method = self._method_param(params, "FallbackMethod")
        if "TimeLimit" in params:
            call.time_limit = self._int_param(params, "TimeLimit", 14400, 1, 86400)
        if status:
            if call.status in ("queued", "ringing"):
                self.end_call(call, "canceled", "api")
            elif status == "completed":
                self.end_call(call, "completed", "api")
            # canceled does not affect a call in progress (as on Twilio)
        elif url or twiml_text:
            rt = self.runtime[call.sid]
            if rt.executing:
                rt.post(("redirect", Source(url=url, method=method, twiml=twiml_text)))
            else:  # not answered yet: these instructions run when it is
                call.url, call.method, call.twiml = url, method, twiml_text
        call.touch()
        return call

    def delete_call(self, sid: str, uri: str) -> None:
        call = self._get_call(sid, uri)
        if not call.is_terminal:
            raise TwilioError(400, 20009, "Cannot delete this resource before it is complete")
        del self.calls[sid]
        self.runtime.pop(sid, None)

    def list_calls(self, params) -> list[Call]:
        to, from_ = params.get("To"), params.get("From")
        status, parent = params.get("Status"), params.get("ParentCallSid")
        after = _start_time_filter(params.get("StartTime>"))
        return [
            call
            for call in reversed(self.calls.values())
            if (not to or call.to == to)
            and (not from_ or call.from_ == from_)
            and (not status or call.status == status)
            and (not parent or call.parent_call_sid == parent)
            # Twilio lists a call that has not started yet under its creation time.
            and (after is None or (call.start_time or call.date_created) >= after)
        ]

    # --- REST: conferences and participants -----------------------------------------------------

    def _get_conference(self, sid: str, uri: str) -> Conference:
        conference = self.conferences.get(sid)
        if conference is None:
            raise TwilioError(404, 20404, f"The requested resource {uri} was not found")
        return conference

    def fetch_conference(self, sid: str, uri: str) -> Conference:
        return self._get_conference(sid, uri)

    def update_conference(self, sid: str, params, uri: str) -> Conference:
        conference = self._get_conference(sid, uri)
        status = params.get("Status") or None
        if status and status != "completed":
            raise self._invalid("Status", "must be completed")
        if status and conference.status != "completed":
            self._end_conference(conference, "conference-ended-via-api", None)
        return conference

    def list_conferences(self, params) -> list[Conference]:
        name, status = params.get("FriendlyName"), params.get("Status")
        return [
            conference
            for conference in reversed(self.conferences.values())
            if (not name or conference.friendly_name == name)
            and (not status or conference.status == status)
        ]

    def _find_participant(self, conference: Conference, key: str, uri: str) -> Participant:
        participant = conference.participants.get(key)
        if participant is None:  # Twilio accepts the participant's label in place of its CallSid
            participant = next(
                (p for p in conference.participants.values() if p.label == key), None
            )
        if participant is None:
            raise TwilioError(404, 20404, f"The requested resource {uri} was not found")
        return participant

    def fetch_participant(self, conference_sid: str, key: str, uri: str) -> Participant:
        conference = self._get_conference(conference_sid, uri)
        return self._find_participant(conference, key, uri)

    def list_participants(self, conference_sid: str, params, uri: str) -> list[Participant]:
        conference = self._get_conference(conference_sid, uri)
        filters = {name: self._bool_param(params, name) for name in ("Muted", "Hold", "Coaching")}
        return [
            participant
            for participant in conference.participants.values()
            if (filters["Muted"] is None or participant.muted == filters["Muted"])
            and (filters["Hold"] is None or participant.hold == filters["Hold"])
            and (filters["Coaching"] is None or participant.coaching == filters["Coaching"])
        ]

    def _check_coach(self, conference: Conference, coach: str | None, own_sid: str | None) -> None:
        if not coach:
            raise TwilioError(400, 20001, "Invalid parameter: CallSidToCoach is required to coach")
        target = conference.participants.get(coach)
        if target is None or target.status != "connected" or coach == own_sid:
            raise TwilioError(
                400,
                20001,
                f"Invalid parameter: CallSidToCoach {coach} is not a participant of the conference",
            )

    def create_participant(self, conference_key: str, params, uri: str) -> Participant:
        to, from_ = self._endpoints(params)
        if CONFERENCE_SID.match(conference_key):
            existing = self._get_conference(conference_key, uri)
            if existing.status == "completed":
                raise TwilioError(400, 20001, f"Conference {conference_key} has completed")
        else:  # a friendly name: created below, once the request is known to be valid
            existing = self._resolve_conference(conference_key, create=False)
        coaching = bool(self._bool_param(params, "Coaching", False))
        coach = params.get("CallSidToCoach") or None
        if coaching:
            if existing is None:
                raise TwilioError(400, 20001, "Invalid parameter: nobody to coach yet")
            self._check_coach(existing, coach, None)
        events = self._events(
            params, "StatusCallbackEvent", CALL_STATUS_CALLBACK_EVENTS, frozenset({"completed"})
        )
        conference_events = self._events(
            params, "ConferenceStatusCallbackEvent", CONFERENCE_STATUS_CALLBACK_EVENTS, frozenset()
        )
        conference_callback = self._url_param(params, "ConferenceStatusCallback", 21609)
        machine_detection = params.get("MachineDetection") or None
        if machine_detection and machine_detection not in MACHINE_DETECTION_VALUES:
            raise self._invalid("MachineDetection", "must be Enable or DetectMessageEnd")
        label = params.get("Label") or None
        if existing and label and any(p.label == label for p in existing.participants.values()):
            raise TwilioError(400, 20001, f"Invalid parameter: Label {label} is already in use")
        call_fields = dict(
            status_callback=self._url_param(params, "StatusCallback", 21609),
            status_callback_method=self._method_param(params, "StatusCallbackMethod"),
            status_callback_events=events,
            timeout=self._int_param(params, "Timeout", 60, 5, 600),
            time_limit=self._int_param(params, "TimeLimit", 14400, 1, 86400),
            machine_detection=machine_detection,
            machine_detection_timeout=self._int_param(params, "MachineDetectionTimeout", 30, 3, 59),
            async_amd=bool(machine_detection),
            amd_callback=self._url_param(params, "AmdStatusCallback", 21609),
            amd_callback_method=self._method_param(params, "AmdStatusCallbackMethod"),
        )
        options = twiml.ConferenceOptions(
            name="",
            muted=bool(self._bool_param(params, "Muted", False)),
            beep=params.get("Beep") or "true",
            start_conference_on_enter=bool(
                self._bool_param(params, "StartConferenceOnEnter", True)
            ),
            end_conference_on_exit=bool(self._bool_param(params, "EndConferenceOnExit", False)),
            coach=coach if coaching else None,
            participant_label=label,
        )
        conference_method = self._method_param(params, "ConferenceStatusCallbackMethod")
        conference = existing or self._resolve_conference(conference_key, create=True)
        options.name = conference.sid
        if conference.callbacks is None and conference_callback:
            conference.callbacks = ConferenceCallbacks(
                conference_callback,
                conference_method,
                conference_events or frozenset({"start", "end"}),
            )
        call = self._new_call(to, from_, "outbound-api", **call_fields)
        call.api_label = label
        call.participant_options = options
        participant = Participant(
            call_sid=call.sid,
            conference_sid=conference.sid,
            account_sid=self.account_sid,
            label=label,
            muted=call.participant_options.muted,
            coaching=coaching,
            call_sid_to_coach=coach if coaching else None,
            start_conference_on_enter=call.participant_options.start_conference_on_enter,
            end_conference_on_exit=call.participant_options.end_conference_on_exit,
            beep=call.participant_options.beep,
            status="queued",
        )
        conference.participants[call.sid] = participant
        self.runtime[call.sid].pending_conference_sid = conference.sid
        call.plan = self.planner.plan(to)
        self._start(call, self._run_outbound)
        return participant

    def update_participant(self, conference_sid: str, key: str, params, uri: str) -> Participant:
        conference = self._get_conference(conference_sid, uri)
        participant = self._find_participant(conference, key, uri)
        muted = self._bool_param(params, "Muted")
        hold = self._bool_param(params, "Hold")
        coaching = self._bool_param(params, "Coaching")
        coach = params.get("CallSidToCoach") or None
        end_on_exit = self._bool_param(params, "EndConferenceOnExit")
        if coaching or (coaching is None and coach):
            self._check_coach(
                conference, coach or participant.call_sid_to_coach, participant.call_sid
            )
        modified = False
        if coaching is not None and coaching != participant.coaching:
            participant.coaching, modified = coaching, True
        if participant.coaching and coach and coach != participant.call_sid_to_coach:
            participant.call_sid_to_coach, modified = coach, True
        if not participant.coaching and participant.call_sid_to_coach:
            participant.call_sid_to_coach, modified = None, True
        if end_on_exit is not None:
            participant.end_conference_on_exit = end_on_exit
        participant.touch()
        connected = participant.status == "connected"
        if muted is not None and muted != participant.muted:
            participant.muted = muted
            if connected:
                event = "participant-mute" if muted else "participant-unmute"
                self._conference_event(conference, "mute", event, participant)
        if hold is not None and hold != participant.hold:
            participant.hold = hold
            if connected:
                event = "participant-hold" if hold else "participant-unhold"
                self._conference_event(conference, "hold", event, participant)
        if modified and connected:
            self._conference_event(conference, "modify", "participant-modify", participant)
        return participant

    def delete_participant(self, conference_sid: str, key: str, uri: str) -> None:
        conference = self._get_conference(conference_sid, uri)
        participant = self._find_participant(conference, key, uri)
        call = self.calls.get(participant.call_sid)
        if participant.status == "connected" and call is not None:
            self._leave_conference(call, "kicked")
        elif call is not None:
            self.end_call(call, "canceled", "api")
        else:
            conference.participants.pop(participant.call_sid, None)

    # --- browser (Voice SDK) legs -----------------------------------------------------------

    def application(self, application_sid: str | None) -> dict[str, str]:
        configured = self.applications.get(application_sid or "")
        if configured:
            return configured
        return {"voice_url": self.twiml_app_voice_url or "", "voice_method": "POST"}

    def client_connect(self, token: str, custom: dict[str, str]) -> Call:
        """A Device.connect(): an inbound leg from ``client:<identity>`` running the TwiML App."""
        client = verify_access_token(token, self.account_sid, self.api_keys)
        application = self.application(client.outgoing_application_sid)
        if not application.get("voice_url"):
            raise TwilioError(
                400, 21205, f"Application {client.outgoing_application_sid} has no VoiceUrl"
            )
        request_params = {str(k): str(v) for k, v in client.outgoing_params.items()}
        request_params.update({str(k): str(v) for k, v in custom.items()})
        request_params["ApplicationSid"] = client.outgoing_application_sid
        call = self._new_call(
            request_params.get("To", ""),
            f"client:{client.identity}",
            "inbound",
            status="ringing",
            url=application["voice_url"],
            method=application.get("voice_method", "POST"),
            application_sid=client.outgoing_application_sid,
            client_identity=client.identity,
            status_callback=application.get("status_callback") or None,
            status_callback_method=application.get("status_callback_method", "POST"),
            request_params=request_params,
        )
        call.plan = None
        self._start(call, self._run_inbound)
        return call

    def client_disconnect(self, call_sid: str) -> Call:
        call = self._get_call(call_sid, f"client call {call_sid}")
        if not call.is_terminal:
            self.end_call(call, "completed" if call.answered_monotonic else "canceled", "caller")
        return call

    def client_status(self, call_sid: str) -> dict[str, Any]:
        call = self._get_call(call_sid, f"client call {call_sid}")
        conference = self.conferences.get(call.conference_sid or "")
        participant = conference.participants.get(call.sid) if conference else None
        return {
            "call_sid": call.sid,
            "status": call.status,
            "direction": call.direction,
            "from": call.from_,
            "to": call.to,
            "duration": call.duration,
            "conference": conference_json(conference) if conference else None,
            "participant": participant_json(participant) if participant else None,
        }

    # --- control --------------------------------------------------------------------------------

    def set_scenarios(self, scenarios: dict[str, Any]) -> dict[str, Any]:
        cleaned = {}
        for number, scenario in scenarios.items():
            cleaned[number] = None if scenario is None else validate_scenario(number, scenario)
        for number, scenario in cleaned.items():
            if scenario is None:
                self.planner.scenarios.pop(number, None)
            else:
                self.planner.scenarios[number] = scenario
        return dict(self.planner.scenarios)

    def configure(self, values: dict[str, Any]) -> dict[str, Any]:
        if "speed" in values:
            speed = float(values["speed"])
            if speed <= 0:
                raise ValueError("speed must be positive")
            self.speed = speed
        if "outcome_mix" in values:
            self.planner.mix = validate_mix(values["outcome_mix"])
        if "timings" in values:
            self.planner.timings.update(values["timings"])
        return self.config()

    def config(self) -> dict[str, Any]:
        return {
            "account_sid": self.account_sid,
            "api_keys": sorted(self.api_keys),
            "twiml_app_voice_url": self.twiml_app_voice_url,
            "speed": self.speed,
            "seed": self.seed,
            "outcome_mix": dict(self.planner.mix),
            "timings": self.planner.timings.as_dict(),
        }

    def set_applications(self, applications: dict[str, Any]) -> dict[str, Any]:
        for sid, config in applications.items():
            if config is None:
                self.applications.pop(sid, None)
                continue
            url = config.get("voice_url")
            if url and not _valid_url(url):
                raise ValueError(f"voice_url for {sid} is not a URL")
            self.applications[sid] = {
                "voice_url": url or "",
                "voice_method": (config.get("voice_method") or "POST").upper(),
                "status_callback": config.get("status_callback") or "",
                "status_callback_method": (config.get("status_callback_method") or "POST").upper(),
            }
        return dict(self.applications)

    def callee_hangs_up(self, call_sid: str) -> Call:
        """The called person hangs up now (or declines while it rings)."""
        call = self._get_call(call_sid, f"call {call_sid}")
        if not call.is_terminal:
            if call.answered_monotonic is not None:
                self.end_call(call, "completed", "callee")
            else:
                self.end_call(call, "busy", "callee")
        return call

    def call_state(self, call: Call) -> dict[str, Any]:
        rt = self.runtime.get(call.sid)
        return {
            **call_json(call),
            "emulator": {
                "plan": call.plan.as_dict() if call.plan else None,
                "ended_by": call.ended_by,
                "conference_sid": call.conference_sid,
                "pending_conference_sid": rt.pending_conference_sid if rt else None,
                "callback_sequence": call.callback_sequence,
                "sip_response_code": call.sip_response_code,
                "client_identity": call.client_identity,
            },
        }

    def state(self, active_only: bool = False) -> dict[str, Any]:
        calls = [c for c in self.calls.values() if not (active_only and c.is_terminal)]
        conferences = [
            c for c in self.conferences.values() if not (active_only and c.status == "completed")
        ]
        return {
            "calls": [self.call_state(call) for call in calls],
            "conferences": [
                {
                    **conference_json(conference),
                    "participants": [participant_json(p) for p in conference.participants.values()],
                }
                for conference in conferences
            ],
        }

    def stats(self) -> dict[str, Any]:
        by_status: dict[str, int] = {}
        by_answered: dict[str, int] = {}
        for call in self.calls.values():
            by_status[call.status] = by_status.get(call.status, 0) + 1
            if call.answered_by:
                by_answered[call.answered_by] = by_answered.get(call.answered_by, 0) + 1
        return {
            "calls": len(self.calls),
            "calls_by_status": by_status,
            "calls_by_answered_by": by_answered,
            "conferences_active": sum(
                1 for c in self.conferences.values() if c.status != "completed"
            ),
            "webhooks_sent": self.sender.sent,
            "webhooks_failed": self.sender.failed,
            "greenlets": len(self.group),
        }

    # --- play-out -------------------------------------------------------------------------------

    def _start(self, call: Call, target) -> None:
        self.runtime[call.sid].runner = self._spawn(self._guard, call, target)

    def _guard(self, call: Call, target) -> None:
        if call.is_terminal:  # ended (canceled) before its runner got to run
            return
        try:
            target(call)
        except CallEnded:
            pass
        except _Interrupt:
            logger.warning("call %s: interrupt outside its context", call.sid)
            self.end_call(call, "completed", "system")
        except Exception as error:
            logger.exception("call %s: play-out failed", call.sid)
            self.log.add("error", call_sid=call.sid, code=None, message=repr(error))
            self.end_call(call, "failed", "system")

    def _wait(self, call: Call, rt: CallRuntime, seconds: float | None, in_dial: bool = False):
        """Let ``seconds`` of simulated time pass (None: until interrupted), or raise the
        interrupt that arrives first."""
        deadline = None if seconds is None else time.monotonic() + self.real_seconds(seconds)
        while True:
            if call.is_terminal:
                raise CallEnded()
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return
            try:
                item = rt.interrupts.get(timeout=remaining)
            except gevent.queue.Empty:
                continue
            self._interrupt(call, item, in_dial)

    def _poll(self, call: Call, rt: CallRuntime, in_dial: bool = False) -> None:
        """After blocking on a webhook: apply whatever happened meanwhile."""
        if call.is_terminal:
            raise CallEnded()
        while not rt.interrupts.empty():
            self._interrupt(call, rt.interrupts.get_nowait(), in_dial)

    @staticmethod
    def _interrupt(call: Call, item: tuple, in_dial: bool) -> None:
        kind = item[0]
        if kind == "ended" or call.is_terminal:
            raise CallEnded()
        if kind == "redirect":
            raise Redirected(item[1])
        if kind == "left" and in_dial:
            raise LeftConference()

    def _call_params(self, call: Call, status: str | None = None) -> dict[str, str]:
        params = dict(call.request_params)
        params.update(
            {
                "AccountSid": call.account_sid,
                "ApiVersion": API_VERSION,
                "CallSid": call.sid,
                "CallStatus": status or call.status,
                "Called": call.to,
                "Caller": call.from_,
                "Direction": call.direction,
                "From": call.from_,
                "To": call.to,
            }
        )
        if call.parent_call_sid:
            params["ParentCallSid"] = call.parent_call_sid
        return params

    def _channel(self, call: Call) -> CallbackChannel:
        rt = self.runtime[call.sid]
        if rt.channel is None:
            rt.channel = CallbackChannel(
                self.sender, self.faults, "call", self._spawn, type="status", call_sid=call.sid
            )
        return rt.channel

    def _status_event(self, call: Call, event: str, final: bool = False) -> None:
        if not call.status_callback or event not in call.status_callback_events:
            return
        status = {"initiated": "initiated", "ringing": "ringing", "answered": "in-progress"}.get(
            event, call.status
        )
        params = self._call_params(call, status)
        params.update(
            {
                "CallbackSource": "call-progress-events",
                "Timestamp": rfc2822(now_utc()),
                "SequenceNumber": str(call.callback_sequence),
            }
        )
        call.callback_sequence += 1
        if call.answered_by:
            params["AnsweredBy"] = call.answered_by
        if final:
            seconds = call.duration or 0
            params["CallDuration"] = str(seconds)
            params["Duration"] = str(billable_minutes(seconds))
            params["SipResponseCode"] = str(call.sip_response_code)
        self._channel(call).post(call.status_callback, call.status_callback_method, params, final)

    def end_call(self, call: Call, status: str, ended_by: str, sip: int | None = None) -> bool:
        """Make ``call`` final now (idempotent): leave its conference, send the final status
        callback, stop its runner and timers."""
        if call.is_terminal:
            return False
        rt = self.runtime.get(call.sid)
        now = now_utc()
        if call.answered_monotonic is not None and status == "completed":
            call.duration = call.simulated_seconds_since_answer(self.speed)
        call.status = status
        call.end_time = now
        call.date_updated = now
        call.ended_by = ended_by
        call.sip_response_code = sip or DEFAULT_SIP.get(status, 200)
        if call.conference_sid:
            self._leave_conference(call, "hangup")
        if rt is not None:
            if rt.pending_conference_sid:
                self._drop_pending_participant(call, rt)
            current = gevent.getcurrent()
            for timer in rt.timers:
                if timer is not current:
                    timer.kill(block=False)
            rt.timers.clear()
            rt.post(("ended",))
        self._status_event(call, "completed", final=True)
        if rt is not None and rt.channel is not None:
            rt.channel.close()
        self._finished_calls.append(call.sid)
        self._prune()
        return True

    def _run_outbound(self, call: Call) -> None:
        """Dial, ring, and — by the callee's plan — answer (then run TwiML) or fail."""
        rt = self.runtime[call.sid]
        plan = call.plan
        call.start_time = now_utc()
        call.touch()
        self._status_event(call, "initiated")
        self._wait(call, rt, DIALING_SECONDS)
        if plan.answer == "failed":
            self._wait(call, rt, plan.ring_seconds)
            self.end_call(call, "failed", "system", plan.sip_response_code or 404)
            return
        call.status = "ringing"
        call.touch()
        self._set_participant_status(call, rt, "ringing")
        self._status_event(call, "ringing")
        if plan.answer == "busy":
            self._wait(call, rt, plan.ring_seconds)
            self.end_call(call, "busy", "callee", plan.sip_response_code or 486)
            return
        if plan.answer == "no-answer" or plan.ring_seconds >= call.timeout:
            self._wait(call, rt, float(call.timeout))
            self.end_call(call, "no-answer", "system", plan.sip_response_code or 487)
            return
        self._wait(call, rt, plan.ring_seconds)
        self._answer(call, rt)
        if call.machine_detection:
            outcome = self.planner.amd(
                plan, call.machine_detection, call.machine_detection_timeout, rt.rng
            )
            if call.async_amd:
                rt.timers.append(
                    self._spawn_later(
                        self.real_seconds(outcome.seconds), self._amd_done, call, outcome
                    )
                )
            else:
                self._wait(call, rt, outcome.seconds)
                self._set_amd(call, outcome)
        if call.participant_options is not None:
            source = Source(verbs=[twiml.DialConference(conference=call.participant_options)])
        elif call.twiml:
            source = Source(twiml=call.twiml)
        else:
            source = Source(url=call.url, method=call.method, primary=True)
        self._execute(call, rt, source)

    def _run_inbound(self, call: Call) -> None:
        """A browser leg: fetch the TwiML App's voice URL while ringing, then run it."""
        rt = self.runtime[call.sid]
        call.start_time = now_utc()
        call.touch()
        self._status_event(call, "initiated")
        self._execute(call, rt, Source(url=call.url, method=call.method, primary=True))

    def _set_participant_status(self, call: Call, rt: CallRuntime, status: str) -> None:
        conference = self.conferences.get(rt.pending_conference_sid or "")
        participant = conference.participants.get(call.sid) if conference else None
        if participant is not None:
            participant.status = status
            participant.touch()

    def _answer(self, call: Call, rt: CallRuntime) -> None:
        call.status = "in-progress"
        call.answered_monotonic = time.monotonic()
        call.touch()
        self._status_event(call, "answered")
        plan = call.plan
        if plan is not None and plan.talk_seconds is not None:
            rt.timers.append(
                self._spawn_later(
                    self.real_seconds(plan.talk_seconds), self._callee_timer, call.sid
                )
            )

    def _callee_timer(self, call_sid: str) -> None:
        call = self.calls.get(call_sid)
        if call is not None and not call.is_terminal:
            self.end_call(call, "completed", "callee")

    def _set_amd(self, call: Call, outcome: AmdOutcome) -> None:
        call.answered_by = outcome.answered_by
        call.machine_detection_duration_ms = int(outcome.seconds * 1000)
        call.touch()

    def _amd_done(self, call: Call, outcome: AmdOutcome) -> None:
        if call.is_terminal:
            return
        self._set_amd(call, outcome)
        self.log.add(
            "amd", call_sid=call.sid, answered_by=outcome.answered_by, seconds=outcome.seconds
        )
        if not call.amd_callback:
            return
        params = {
            "AccountSid": call.account_sid,
            "AnsweredBy": outcome.answered_by,
            "CallSid": call.sid,
            "MachineDetectionDuration": str(call.machine_detection_duration_ms),
        }
        channel = CallbackChannel(
            self.sender, self.faults, "amd", self._spawn, type="amd", call_sid=call.sid
        )
        channel.post(call.amd_callback, call.amd_callback_method, params, final=True)
        channel.close()

    def _execute(self, call: Call, rt: CallRuntime, source: Source | None) -> None:
        rt.executing = True
        while source is not None:
            try:
                source = self._run_document(call, rt, source)
            except Redirected as redirect:
                source = redirect.source
        if call.direction == "inbound" and call.status == "ringing":
            self._answer(call, rt)
        self.end_call(call, "completed", "twiml")

    def _run_document(self, call: Call, rt: CallRuntime, source: Source) -> Source | None:
        verbs, base_url = self._load(call, rt, source)
        for verb in verbs:
            if (
                call.direction == "inbound"
                and call.status == "ringing"
                and not isinstance(verb, twiml.Reject)
            ):
                self._answer(call, rt)
            following = self._perform(call, rt, verb, base_url)
            if following is not None:
                return following
        return None

    def _load(self, call: Call, rt: CallRuntime, source: Source) -> tuple[list, str | None]:
        if source.verbs is not None:
            return source.verbs, call.url
        if source.twiml is not None:
            try:
                return twiml.parse(source.twiml), call.url
            except twiml.TwimlError as error:
                self._application_error(call, rt, 12100, str(error))
        params = self._call_params(call)
        if call.answered_by and not call.async_amd:
            params["AnsweredBy"] = call.answered_by
            params["MachineDetectionDuration"] = str(call.machine_detection_duration_ms or 0)
        params.update(source.extra)
        attempts = [(source.url, source.method, params, "twiml")]
        if source.primary and call.fallback_url:
            attempts.append((call.fallback_url, call.fallback_method, None, "twiml-fallback"))
        code, message = 11200, ""
        for url, method, request_params, hook in attempts:
            if request_params is None:
                request_params = {**params, "ErrorCode": str(code), "ErrorUrl": source.url}
            delivery = self.sender.deliver(
                url, request_params, method, hook=hook, call_sid=call.sid, follow_redirects=True
            )
            self._poll(call, rt)
            if delivery.ok:
                try:
                    return twiml.parse(delivery.body), url
                except twiml.TwimlError as error:
                    code, message = 12100, f"{url}: {error}"
            else:
                code = 11200
                message = f"{url}: {delivery.error or f'HTTP {delivery.status}'}"
        self._application_error(call, rt, code, message)
        raise AssertionError("unreachable")

    def _application_error(self, call: Call, rt: CallRuntime, code: int, message: str):
        """Twilio's answer to TwiML it cannot get or read: an apology, then hang up."""
        logger.warning("call %s: application error %s: %s", call.sid, code, message)
        self.log.add("error", call_sid=call.sid, code=code, message=message)
        if call.status == "ringing" and call.direction == "inbound":
            self._answer(call, rt)
        if call.status == "in-progress":
            self._wait(call, rt, APPLICATION_ERROR_SECONDS)
        self.end_call(call, "completed", "system")
        raise CallEnded()

    def _perform(self, call: Call, rt: CallRuntime, verb, base_url: str | None) -> Source | None:
        name = type(verb).__name__
        if isinstance(verb, twiml.Say | twiml.Play | twiml.Pause):
            detail = getattr(verb, "text", None) or getattr(verb, "url", None)
            self.log.add("verb", call_sid=call.sid, verb=name, detail=detail, seconds=verb.seconds)
            self._wait(call, rt, verb.seconds)
            return None
        if isinstance(verb, twiml.DialConference):
            name, detail = "Dial", verb.conference.name
        else:
            detail = getattr(verb, "url", None) or getattr(verb, "tag", None)
        self.log.add("verb", call_sid=call.sid, verb=name, detail=detail, seconds=0)
        if isinstance(verb, twiml.Hangup):
            self.end_call(call, "completed", "twiml")
            raise CallEnded()
        if isinstance(verb, twiml.Reject):
            if call.status == "ringing":
                status = "busy" if verb.reason == "busy" else "no-answer"
                self.end_call(call, status, "twiml", 486 if status == "busy" else 603)
            else:
                self.end_call(call, "completed", "twiml")
            raise CallEnded()
        if isinstance(verb, twiml.Redirect):
            return Source(url=urljoin(base_url or "", verb.url), method=verb.method)
        if isinstance(verb, twiml.Gather):
            for child in verb.children:
                self._perform(call, rt, child, base_url)
            self._wait(call, rt, verb.timeout)
            if verb.action and verb.action_on_empty_result:
                return Source(
                    url=urljoin(base_url or "", verb.action),
                    method=verb.method,
                    extra={"Digits": ""},
                )
            return None
        if isinstance(verb, twiml.DialConference):
            return self._dial_conference(call, rt, verb, base_url)
        logger.warning("call %s: unsupported TwiML <%s> skipped", call.sid, verb.tag)
        self.log.add("error", call_sid=call.sid, code=12200, message=f"unsupported <{verb.tag}>")
        return None

    # --- conferences ----------------------------------------------------------------------------

    def _resolve_conference(self, key: str, create: bool) -> Conference | None:
        if key in self.conferences:
            return self.conferences[key]
        sid = self.active_conferences.get(key)
        if sid:
            return self.conferences[sid]
        if not create or CONFERENCE_SID.match(key):
            return None
        conference = Conference(new_sid("CF"), self.account_sid, key)
        self.conferences[conference.sid] = conference
        self.active_conferences[key] = conference.sid
        return conference

    def _dial_conference(
        self, call: Call, rt: CallRuntime, verb: twiml.DialConference, base_url: str | None
    ) -> Source | None:
        joined_at = time.monotonic()
        conference = self._join_conference(call, rt, verb.conference)
        if conference is not None:
            try:
                self._wait(call, rt, verb.time_limit, in_dial=True)
                self._leave_conference(call, "time-limit")
            except LeftConference:
                pass
            except Redirected:
                self._leave_conference(call, "redirected")
                raise
            finally:
                rt.in_dial = False
        if verb.action:
            seconds = round((time.monotonic() - joined_at) * self.speed)
            return Source(
                url=urljoin(base_url or "", verb.action),
                method=verb.method,
                extra={
                    "DialCallStatus": "completed" if conference else "failed",
                    "DialCallDuration": str(seconds),
                },
            )
        return None

    def _join_conference(
        self, call: Call, rt: CallRuntime, options: twiml.ConferenceOptions
    ) -> Conference | None:
        conference = self._resolve_conference(options.name, create=True)
        if conference is None or conference.status == "completed":
            self.log.add(
                "error", call_sid=call.sid, code=None, message=f"conference {options.name} is over"
            )
            rt.pending_conference_sid = None
            return None
        connected = sum(1 for p in conference.participants.values() if p.status == "connected")
        if connected >= options.max_participants:
            self.log.add("error", call_sid=call.sid, code=None, message="conference is full")
            return None
        if conference.callbacks is None and options.status_callback:
            conference.callbacks = ConferenceCallbacks(
                options.status_callback,
                options.status_callback_method,
                options.status_callback_events or frozenset({"start", "end"}),
            )
        participant = conference.participants.get(call.sid)
        if participant is None:
            participant = Participant(
                call_sid=call.sid,
                conference_sid=conference.sid,
                account_sid=self.account_sid,
                label=options.participant_label,
                muted=options.muted,
                coaching=bool(options.coach),
                call_sid_to_coach=options.coach,
                start_conference_on_enter=options.start_conference_on_enter,
                end_conference_on_exit=options.end_conference_on_exit,
                beep=options.beep,
            )
        participant.status = "connected"
        participant.touch()
        conference.participants[call.sid] = participant
        conference.touch()
        call.conference_sid = conference.sid
        rt.pending_conference_sid = None
        rt.in_dial = True
        self._conference_event(conference, "join", "participant-join", participant)
        if conference.status == "init" and participant.start_conference_on_enter:
            conference.status = "in-progress"
            self._conference_event(conference, "start", "conference-start")
        return conference

    def _leave_conference(self, call: Call, reason: str) -> None:
        """``call`` leaves its conference (hangup, kicked, redirected, time-limit)."""
        conference = self.conferences.get(call.conference_sid or "")
        call.conference_sid = None
        rt = self.runtime.get(call.sid)
        if rt is not None:
            if rt.in_dial and reason == "kicked" and not call.is_terminal:
                rt.post(("left",))
            rt.in_dial = False
        if conference is None:
            return
        participant = conference.participants.pop(call.sid, None)
        if participant is None:
            return
        participant.status = "complete"
        participant.touch()
        conference.touch()
        self._conference_event(conference, "leave", "participant-leave", participant)
        if conference.status == "completed":
            return
        how = "kicked" if reason == "kicked" else "left"
        if participant.end_conference_on_exit:
            self._end_conference(
                conference, f"participant-with-end-conference-on-exit-{how}", call.sid
            )
        elif not any(p.status == "connected" for p in conference.participants.values()):
            self._end_conference(conference, f"last-participant-{how}", call.sid)

    def _drop_pending_participant(self, call: Call, rt: CallRuntime) -> None:
        conference = self.conferences.get(rt.pending_conference_sid or "")
        rt.pending_conference_sid = None
        if conference is None:
            return
        participant = conference.participants.pop(call.sid, None)
        if participant is not None:
            participant.status = (
                "failed" if call.status in ("busy", "failed", "no-answer") else ("complete")
            )
            participant.touch()
        if conference.status != "completed" and not conference.participants:
            self._end_conference(conference, "last-participant-left", call.sid)

    def _end_conference(self, conference: Conference, reason: str, ending_call_sid: str | None):
        if conference.status == "completed":
            return
        conference.status = "completed"
        conference.reason_conference_ended = reason
        conference.call_sid_ending_conference = ending_call_sid
        conference.touch()
        if self.active_conferences.get(conference.friendly_name) == conference.sid:
            del self.active_conferences[conference.friendly_name]
        for call_sid, participant in list(conference.participants.items()):
            conference.participants.pop(call_sid, None)
            call = self.calls.get(call_sid)
            rt = self.runtime.get(call_sid)
            if participant.status == "connected":
                participant.status = "complete"
                participant.touch()
                self._conference_event(conference, "leave", "participant-leave", participant)
                if call is not None:
                    call.conference_sid = None
                if rt is not None and rt.in_dial:
                    rt.in_dial = False
                    rt.post(("left",))
            elif call is not None:
                if rt is not None:
                    rt.pending_conference_sid = None
                self.end_call(call, "canceled", "conference")
        self._conference_event(
            conference,
            "end",
            "conference-end",
            ReasonConferenceEnded=reason,
            CallSidEndingConference=ending_call_sid or "",
        )
        channel = self.conference_channels.get(conference.sid)
        if channel is not None:
            channel.close()
        self._finished_conferences.append(conference.sid)

    def _conference_event(
        self,
        conference: Conference,
        kind: str,
        event: str,
        participant: Participant | None = None,
        **extra: str,
    ) -> None:
        self.log.add(
            "conference",
            conference_sid=conference.sid,
            event=event,
            call_sid=participant.call_sid if participant else None,
        )
        callbacks = conference.callbacks
        if callbacks is None or kind not in callbacks.events:
            return
        params = {
            "AccountSid": conference.account_sid,
            "ConferenceSid": conference.sid,
            "FriendlyName": conference.friendly_name,
            "StatusCallbackEvent": event,
            "SequenceNumber": str(conference.callback_sequence),
            "Timestamp": rfc2822(now_utc()),
        }
        conference.callback_sequence += 1
        if participant is not None:
            params.update(
                {
                    "CallSid": participant.call_sid,
                    "Muted": str(participant.muted).lower(),
                    "Hold": str(participant.hold).lower(),
                    "Coaching": str(participant.coaching).lower(),
                    "EndConferenceOnExit": str(participant.end_conference_on_exit).lower(),
                    "StartConferenceOnEnter": str(participant.start_conference_on_enter).lower(),
                }
            )
            if participant.label:
                params["ParticipantLabel"] = participant.label
            if participant.call_sid_to_coach:
                params["CallSidToCoach"] = participant.call_sid_to_coach
        params.update(extra)
        channel = self.conference_channels.get(conference.sid)
        if channel is None:
            channel = self.conference_channels[conference.sid] = CallbackChannel(
                self.sender,
                self.faults,
                "conference",
                self._spawn,
                type="conference",
                conference_sid=conference.sid,
            )
        channel.post(callbacks.url, callbacks.method, params, final=event == "conference-end")


def _start_time_filter(value: str | None) -> datetime | None:
    """``StartTime>`` as the SDK sends it: an ISO 8601 date or time (UTC when unzoned)."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise TwilioError(400, 20001, "Invalid StartTime> filter") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
