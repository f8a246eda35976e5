"""The Socket.IO vocabulary of the calling page and the dashboards: one payload schema per
event, and the reasons a session's notice can give (docs/protocol.md; a test holds the two
to each other).

A handler parses its payload with ``parse(event, data)`` first: a payload that is not an
object, lacks a required field or has one of the wrong type or value is answered
``{"ok": false, "error": ...}`` and changes nothing.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


class Notice(enum.StrEnum):
    """Why a volunteer is waiting, or what just happened (``session.notice.reason``)."""

    OUTSIDE_HOURS = "outside_hours"
    WAITING_FOR_RETRY = "waiting_for_retry"
    OTHERS_CALLING = "others_calling"
    LIST_FINISHED = "list_finished"
    BUSY = "busy"  # every candidate was taken by others at the same moment; try again
    MACHINE = "machine"
    VOTER_WITHDRAWN = "voter_withdrawn"
    CLAIM_EXPIRED = "claim_expired"  # the person in preview went to someone else
    CALL_LIMIT = "call_limit"
    PROVIDER_ERROR = "provider_error"
    ERROR = "error"
    LEAD_MESSAGE = "lead_message"
    PAUSED_BY_LEAD = "paused_by_lead"
    ENDED_VOLUNTEER = "ended:volunteer"
    ENDED_SWITCHED_CAMPAIGN = "ended:switched_campaign"
    ENDED_ABANDONED = "ended:abandoned"
    ENDED_LEAD = "ended:lead"


class PayloadError(ValueError):
    """A malformed event payload; the message says what is wrong."""


@dataclass(frozen=True)
class Field:
    kind: type | tuple[type, ...]
    required: bool = False
    default: Any = None
    check: Callable[[Any], bool] | None = None
    max_length: int | None = None


def _positive(value: Any) -> bool:
    return value > 0


def _answers(value: Any) -> bool:
    """{question id: answer or list of answers}, all text."""
    return all(
        isinstance(key, str)
        and (
            isinstance(item, str)
            or (isinstance(item, list) and all(isinstance(v, str) for v in item))
        )
        for key, item in value.items()
    )


ID = Field(int, required=True, check=_positive)
TEXT = Field(str, default="", max_length=5000)

SCHEMAS: dict[str, dict[str, Field]] = {
    # the calling page
    "session.join": {"campaign_id": ID},
    "session.resume": {},
    "audio.connect": {
        "mode": Field(str, default="browser", check=lambda v: v in ("browser", "phone"))
    },
    "audio.token": {},
    "volunteer.ready": {"ready": Field(bool, default=True)},
    "volunteer.raise_hand": {"raised": Field(bool, default=True)},
    "call.dial": {},
    "call.hangup": {},
    "outcome.draft": {
        "call_id": ID,
        "outcome": Field(str, default="", max_length=40),
        "answers": Field(dict, default=dict, check=_answers),
        "notes": TEXT,
        "callback_at": Field(str, default=None, max_length=64),
    },
    "outcome.submit": {
        "call_id": ID,
        "submission_id": Field(str, required=True, max_length=64, check=bool),
        "outcome": Field(str, required=True, max_length=40),
        "answers": Field(dict, default=dict, check=_answers),
        "notes": TEXT,
        "callback_at": Field(str, default=None, max_length=64),
    },
    "voter.skip": {"reason": Field(str, required=True, max_length=40)},
    "session.end": {},
    # dashboards and leads
    "dashboard.watch": {"campaign_id": ID},
    "dashboard.unwatch": {"campaign_id": ID},
    "lead.message": {"session_id": ID, "text": Field(str, required=True, max_length=2000)},
    "lead.pause": {"session_id": ID},
    "lead.end_session": {"session_id": ID},
    "monitor.join": {"session_id": ID},
    "monitor.mode": {
        "session_id": ID,
        "mode": Field(str, required=True, check=lambda v: v in ("listen", "whisper", "barge")),
    },
    "monitor.stop": {"session_id": ID},
    # the list page
    "list.watch": {"list_id": ID},
}


def parse(event: str, data: Any) -> dict[str, Any]:
    """The event's payload, checked and with defaults filled in; PayloadError if malformed."""
    schema = SCHEMAS[event]
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise PayloadError("This request is malformed: it must be an object.")
    clean: dict[str, Any] = {}
    for name, field in schema.items():
        value = data.get(name)
        if value is None:
            if field.required:
                raise PayloadError(f"This request is missing {name}.")
            clean[name] = field.default() if callable(field.default) else field.default
            continue
        kinds = field.kind if isinstance(field.kind, tuple) else (field.kind,)
        # (Python counts True as an int: a flag is no id.)
        if not isinstance(value, kinds) or (bool not in kinds and isinstance(value, bool)):
            raise PayloadError(f"This request's {name} is not valid.")
        if field.max_length is not None and len(value) > field.max_length:
            raise PayloadError(f"This request's {name} is too long.")
        if field.check is not None and not field.check(value):
            raise PayloadError(f"This request's {name} is not valid.")
        clean[name] = value
    return clean
