"""A browser leg phonebank did not expect cannot take over a volunteer's audio: a correctly
signed voice request with an unknown CallSid is turned away while no connect is pending, and
even during one it replaces the working leg only once Twilio says it joined the conference."""

from __future__ import annotations

import time

from tests.calling.test_live import ready_volunteer
from tests.live_calling import post_signed, seed_campaign

STRANGER = "CA" + "f" * 32


def session_row(stack, volunteer):
    app = stack.app()
    with app.app_context():
        from phonebank.extensions import db
        from phonebank.models import CallingSession

        row = db.session.get(CallingSession, volunteer.state["session"]["id"])
        values = (row.audio_call_sid, row.audio_up, row.audio_pending_sid)
        db.session.remove()
        db.engine.dispose()
    return values


def voice_client(stack, volunteer, call_sid: str):
    """Twilio asking the TwiML App's voice URL about a browser leg of this volunteer."""
    params = {
        "CallSid": call_sid,
        "From": f"client:volunteer-{volunteer_user_id(stack, volunteer)}",
        "session_id": str(volunteer.state["session"]["id"]),
    }
    return post_signed(stack, "/twilio/voice/client", params)


def volunteer_user_id(stack, volunteer) -> int:
    app = stack.app()
    with app.app_context():
        from phonebank.extensions import db
        from phonebank.models import CallingSession

        user_id = db.session.get(CallingSession, volunteer.state["session"]["id"]).user_id
        db.session.remove()
        db.engine.dispose()
    return user_id


def test_an_unexpected_leg_is_turned_away_and_the_real_one_stays(calling_stack):
    stack = calling_stack
    data = seed_campaign(stack.app(), people=1)
    volunteer = ready_volunteer(stack, data)
    real_sid, up, _ = session_row(stack, volunteer)
    assert up and real_sid == volunteer.audio_sid

    refused = voice_client(stack, volunteer, STRANGER)
    assert "<Hangup" in refused.text and "<Conference" not in refused.text
    assert session_row(stack, volunteer) == (real_sid, True, None)
    assert stack.control.client_status(real_sid)["status"] == "in-progress"


def test_a_leg_during_a_connect_replaces_the_old_one_only_once_it_has_joined(calling_stack):
    stack = calling_stack
    data = seed_campaign(stack.app(), people=1)
    volunteer = ready_volunteer(stack, data)
    real_sid, _, _ = session_row(stack, volunteer)
    volunteer.emit("audio.connect", {"mode": "browser"})  # the page asks for a new token
    accepted = voice_client(stack, volunteer, STRANGER)
    assert "<Conference" in accepted.text  # let in, but not yet the session's leg
    assert session_row(stack, volunteer) == (real_sid, True, STRANGER)
    # It never joins (a forged request has no real leg behind it): nothing changes.
    time.sleep(1)
    assert session_row(stack, volunteer)[:2] == (real_sid, True)
    assert stack.control.client_status(real_sid)["status"] == "in-progress"
    # A second unexpected leg after that is turned away again: one connect, one leg.
    assert "<Hangup" in voice_client(stack, volunteer, "CA" + "e" * 32).text
    # A real reconnect (a new page) does replace it, once joined.
    volunteer.connect_audio()
    new_sid, up, pending = session_row(stack, volunteer)
    assert up and new_sid == volunteer.audio_sid != real_sid and pending is None
