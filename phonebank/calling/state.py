"""The volunteer page's full state, sent on join, on reconnect and after every change.

The page renders from this alone ("snapshot, then stream"): a reconnecting page never depends
on events it missed. Numbers are masked unless the campaign dials by hand.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from phonebank.campaigns.services import render_script, script_fields
from phonebank.extensions import db
from phonebank.models import (
    Activity,
    Call,
    CallingSession,
    CallStatus,
    Campaign,
    Outcome,
    Phone,
)
from phonebank.supporters import services as supporters

MACHINE = {"machine_start", "machine_end_beep", "machine_end_silence", "machine_end_other", "fax"}


def mask_number(number: str) -> str:
    """``+12125550134`` → ``•••• ••• 0134``: enough to tell two phones apart, no more."""
    return "•••• ••• " + number[-4:]


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def call_state(call: Call) -> str:
    if call.outcome_id is not None:
        return "recorded"
    if call.status in (CallStatus.CREATED, CallStatus.QUEUED, CallStatus.INITIATED):
        return "dialing"
    if call.status == CallStatus.RINGING:
        return "ringing"
    if call.status == CallStatus.IN_PROGRESS:
        return "machine" if call.answered_by in MACHINE else "talking"
    return "ended"


def session_state(session: CallingSession, call: Call | None) -> str:
    """One word for what the volunteer is doing; the page and the dashboard use it."""
    if session.ended_at is not None:
        return "ended"
    if call is not None:
        return {"recorded": "waiting", "ended": "wrapup"}.get(call_state(call), call_state(call))
    if session.current_target_id is not None:
        return "preview"
    if not session.ready:
        return "paused"
    return "waiting"


def session_snapshot(session: CallingSession) -> dict[str, Any]:
    campaign: Campaign = session.campaign
    call = session.current_call
    target = session.current_target if not session.card else None
    state = session_state(session, call)
    snapshot: dict[str, Any] = {
        "version": session.version,
        "session": {
            "id": session.id,
            "campaign": {
                "id": campaign.id,
                "name": campaign.name,
                "dialing_mode": campaign.dialing_mode.value,
                "status": campaign.status.value,
            },
            "state": state,
            "state_since": _iso(session.state_since),
            "ready": session.ready,
            "hand_raised": session.hand_raised_at is not None,
            "audio": {
                "mode": session.audio_mode.value if session.audio_mode else None,
                "up": session.audio_up,
            },
            "notice": session.notice or {},
            "ended": session.ended_at is not None,
            "totals": {
                "calls": session.calls_made,
                "contacts": session.contacts_made,
                "talk_seconds": session.talk_seconds,
                "since": _iso(session.started_at),
            },
        },
        "voter": None,
        "call": None,
        "draft": session.draft or {},
    }
    if session.current_target_id is not None:
        snapshot["voter"] = session.card or voter_card(session, target, call)
    if call is not None:
        snapshot["call"] = {
            "id": call.id,
            "state": call_state(call),
            "status": call.status.value,
            "answered_by": call.answered_by,
            "dialed_at": _iso(call.dialed_at),
            "answered_at": _iso(call.answered_at),
            "ended_at": _iso(call.ended_at),
            "end_reason": call.end_reason,
            "duration_seconds": call.duration_seconds,
            "manual": call.manual,
        }
    return snapshot


def voter_card(session: CallingSession, target, call: Call | None) -> dict[str, Any]:
    """What the volunteer sees about the person: never the full number (unless manual)."""
    from phonebank.calling.queue import choose_phone

    person = supporters.get_person(target.person_id)
    campaign = session.campaign
    phone = db.session.get(Phone, call.phone_id) if call else choose_phone(target, campaign)
    address = next((a for a in person.addresses if a.is_primary), None)
    card: dict[str, Any] = {
        "target_id": target.id,
        "name": person.full_name,
        "first_name": person.first_name,
        "city": address.city if address else "",
        "region": address.region if address else "",
        "phone": {
            "masked": mask_number(phone.number) if phone else None,
            "type": phone.type.value if phone else None,
        },
        "attempts": target.attempts,
        "tags": [t.name for t in person.tags],
        "script_html": render_script(
            campaign.script, script_fields(person, session.user, campaign)
        ),
        "history": contact_history(person.id),
    }
    return card  # manual mode adds the full number when the volunteer dials (prepare_call)


def contact_history(person_id: int, limit: int = 5) -> list[dict[str, Any]]:
    rows = db.session.execute(
        select(Activity.occurred_at, Activity.payload, Campaign.name)
        .outerjoin(Campaign, Campaign.id == Activity.campaign_id)
        .where(Activity.person_id == person_id, Activity.kind.in_(("call", "call_correction")))
        .order_by(Activity.occurred_at.desc(), Activity.id.desc())
        .limit(limit)
    ).all()
    return [
        {
            "at": _iso(at),
            "campaign": name,
            "outcome": payload.get("outcome_label"),
            "notes": payload.get("notes") or "",
        }
        for at, payload, name in rows
    ]


def campaign_form(campaign: Campaign) -> dict[str, Any]:
    """Questions and outcomes for the page's form; sent once at join."""
    return {
        "questions": [
            {
                "id": q.id,
                "kind": q.kind.value,
                "prompt": q.prompt,
                "choices": q.choices,
                "is_main": q.is_main,
                "show_if": (
                    {"question_id": q.show_if_question_id, "value": q.show_if_value}
                    if q.show_if_question_id
                    else None
                ),
            }
            for q in campaign.questions
        ],
        "outcomes": [
            {
                "code": o.code,
                "label": o.label,
                "bucket": o.bucket.value,
                "shortcut": o.shortcut,
                "is_callback": o.is_callback,
            }
            for o in db.session.scalars(
                select(Outcome)
                .where(Outcome.campaign_id == campaign.id, Outcome.active.is_(True))
                .order_by(Outcome.position)
            )
        ],
    }
