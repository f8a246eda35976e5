"""The emulator's records (calls, conferences, participants) and their Twilio JSON shapes.

Pure data: no gevent, no I/O. The engine changes these records; the REST layer renders them with
``call_json`` / ``conference_json`` / ``participant_json`` in the shapes of Twilio's
``api.v2010.account.call``, ``...conference`` and ``...conference.participant`` schemas.
"""

from __future__ import annotations

import math
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

API_VERSION = "2010-04-01"
E164 = re.compile(r"^\+[1-9]\d{6,14}$")
CLIENT = re.compile(r"^client:[A-Za-z0-9_.@\-]{1,256}$")
SIP = re.compile(r"^sip:\S+@\S+$")

TERMINAL_CALL_STATUSES = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})


class TwilioError(Exception):
    """An error answered in Twilio's JSON error shape with an HTTP status."""

    def __init__(self, status: int, code: int, message: str, **extra: Any):
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra

    def body(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "more_info": f"https://www.twilio.com/docs/errors/{self.code}",
            "status": self.status,
            **self.extra,
        }


def new_sid(prefix: str) -> str:
    """A Twilio-style SID: two letters and 32 lower-case hex digits."""
    return prefix + uuid.uuid4().hex


def now_utc() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def rfc2822(moment: datetime | None) -> str | None:
    """Twilio's date format: ``Tue, 31 Aug 2010 20:36:28 +0000``."""
    return None if moment is None else format_datetime(moment)


def formatted_number(number: str) -> str:
    """Twilio's ``to_formatted``: ``(415) 867-5309`` for NANP numbers, else the number."""
    if re.fullmatch(r"\+1\d{10}", number or ""):
        digits = number[2:]
        return f"({digits[:3]}) {digits[3:6]}-{digits[6:]}"
    return number


def is_endpoint(value: str) -> bool:
    """A phone number (E.164), a Voice SDK client or a SIP address, as Twilio accepts for To."""
    return bool(E164.match(value) or CLIENT.match(value) or SIP.match(value))


def as_bool(value: str | None, default: bool | None = None) -> bool | None:
    """Twilio's boolean parameters: ``true``/``false`` in any case; absent gives ``default``."""
    if value is None or value == "":
        return default
    lowered = value.strip().lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise ValueError(value)


@dataclass
class Call:
    """One call leg, as Twilio's Call resource and the state its play-out needs."""

    sid: str
    account_sid: str
    to: str
    from_: str
    direction: str  # outbound-api | inbound | outbound-dial
    status: str = "queued"
    parent_call_sid: str | None = None
    date_created: datetime = field(default_factory=now_utc)
    date_updated: datetime = field(default_factory=now_utc)
    start_time: datetime | None = None
    end_time: datetime | None = None
    duration: int | None = None
    answered_by: str | None = None
    # Instructions
    url: str | None = None
    method: str = "POST"
    twiml: str | None = None
    fallback_url: str | None = None
    fallback_method: str = "POST"
    application_sid: str | None = None
    # Callbacks
    status_callback: str | None = None
    status_callback_method: str = "POST"
    status_callback_events: frozenset[str] = frozenset({"completed"})
    # Dialing and answering-machine detection
    timeout: int = 60
    time_limit: int = 14400
    machine_detection: str | None = None
    machine_detection_timeout: int = 30
    async_amd: bool = False
    amd_callback: str | None = None
    amd_callback_method: str = "POST"
    machine_detection_duration_ms: int | None = None
    # Play-out bookkeeping
    callback_sequence: int = 0
    answered_monotonic: float | None = None
    sip_response_code: int | None = None
    ended_by: str | None = None  # api | callee | caller | twiml | conference | system
    conference_sid: str | None = None
    client_identity: str | None = None
    request_params: dict[str, str] = field(default_factory=dict)  # extra webhook params
    plan: Any = None  # scenarios.CalleePlan
    participant_options: Any = None  # set for calls created by the Participants API
    api_label: str | None = None

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_CALL_STATUSES

    def touch(self) -> None:
        self.date_updated = now_utc()

    def simulated_seconds_since_answer(self, speed: float) -> int:
        if self.answered_monotonic is None:
            return 0
        return max(0, round((time.monotonic() - self.answered_monotonic) * speed))


def call_uri(account_sid: str, sid: str) -> str:
    return f"/{API_VERSION}/Accounts/{account_sid}/Calls/{sid}.json"


def call_json(call: Call) -> dict[str, Any]:
    """The Call resource as Twilio returns it."""
    base = f"/{API_VERSION}/Accounts/{call.account_sid}/Calls/{call.sid}"
    subresources = (
        "notifications",
        "recordings",
        "payments",
        "events",
        "siprec",
        "streams",
        "transcriptions",
    )
    uris = {name: f"{base}/{name.capitalize()}.json" for name in subresources}
    uris["user_defined_message_subscriptions"] = f"{base}/UserDefinedMessageSubscriptions.json"
    uris["user_defined_messages"] = f"{base}/UserDefinedMessages.json"
    return {
        "account_sid": call.account_sid,
        "answered_by": call.answered_by,
        "api_version": API_VERSION,
        "caller_name": None,
        "date_created": rfc2822(call.date_created),
        "date_updated": rfc2822(call.date_updated),
        "direction": call.direction,
        "duration": None if call.duration is None else str(call.duration),
        "end_time": rfc2822(call.end_time),
        "forwarded_from": None,
        "from": call.from_,
        "from_formatted": formatted_number(call.from_),
        "group_sid": None,
        "parent_call_sid": call.parent_call_sid,
        "phone_number_sid": None,
        "price": None,
        "price_unit": "USD",
        "queue_time": "0",
        "sid": call.sid,
        "start_time": rfc2822(call.start_time),
        "status": call.status,
        "subresource_uris": uris,
        "to": call.to,
        "to_formatted": formatted_number(call.to),
        "trunk_sid": None,
        "uri": call_uri(call.account_sid, call.sid),
    }


@dataclass
class ConferenceCallbacks:
    """Where a conference posts its status callback events, and which ones."""

    url: str
    method: str = "POST"
    events: frozenset[str] = frozenset({"start", "end"})


@dataclass
class Participant:
    """One call's membership of a conference."""

    call_sid: str
    conference_sid: str
    account_sid: str
    label: str | None = None
    muted: bool = False
    hold: bool = False
    coaching: bool = False
    call_sid_to_coach: str | None = None
    start_conference_on_enter: bool = True
    end_conference_on_exit: bool = False
    beep: str = "true"
    status: str = "queued"  # queued | connecting | ringing | connected | complete | failed
    date_created: datetime = field(default_factory=now_utc)
    date_updated: datetime = field(default_factory=now_utc)

    def touch(self) -> None:
        self.date_updated = now_utc()


@dataclass
class Conference:
    sid: str
    account_sid: str
    friendly_name: str
    status: str = "init"  # init | in-progress | completed
    region: str = "us1"
    date_created: datetime = field(default_factory=now_utc)
    date_updated: datetime = field(default_factory=now_utc)
    reason_conference_ended: str | None = None
    call_sid_ending_conference: str | None = None
    participants: dict[str, Participant] = field(default_factory=dict)  # call_sid -> present
    callbacks: ConferenceCallbacks | None = None
    callback_sequence: int = 0

    def touch(self) -> None:
        self.date_updated = now_utc()


def conference_json(conference: Conference) -> dict[str, Any]:
    base = f"/{API_VERSION}/Accounts/{conference.account_sid}/Conferences/{conference.sid}"
    return {
        "account_sid": conference.account_sid,
        "api_version": API_VERSION,
        "call_sid_ending_conference": conference.call_sid_ending_conference,
        "date_created": rfc2822(conference.date_created),
        "date_updated": rfc2822(conference.date_updated),
        "friendly_name": conference.friendly_name,
        "reason_conference_ended": conference.reason_conference_ended,
        "region": conference.region,
        "sid": conference.sid,
        "status": conference.status,
        "subresource_uris": {
            "participants": f"{base}/Participants.json",
            "recordings": f"{base}/Recordings.json",
        },
        "uri": f"{base}.json",
    }


def participant_json(participant: Participant) -> dict[str, Any]:
    return {
        "account_sid": participant.account_sid,
        "call_sid": participant.call_sid,
        "call_sid_to_coach": participant.call_sid_to_coach,
        "coaching": participant.coaching,
        "conference_sid": participant.conference_sid,
        "date_created": rfc2822(participant.date_created),
        "date_updated": rfc2822(participant.date_updated),
        "end_conference_on_exit": participant.end_conference_on_exit,
        "hold": participant.hold,
        "label": participant.label,
        "muted": participant.muted,
        "queue_time": "0",
        "start_conference_on_enter": participant.start_conference_on_enter,
        "status": participant.status,
        "uri": (
            f"/{API_VERSION}/Accounts/{participant.account_sid}/Conferences/"
            f"{participant.conference_sid}/Participants/{participant.call_sid}.json"
        ),
    }


def billable_minutes(seconds: int) -> int:
    """Twilio's ``Duration`` callback parameter: whole minutes, rounded up."""
    return math.ceil(seconds / 60) if seconds > 0 else 0
