"""The built-in Twilio emulator, driven through the real twilio SDK as the app drives Twilio.

The emulator runs as a subprocess at ``SPEED`` times real time; webhooks land on a local server
that verifies every ``X-Twilio-Signature``. Durations in scenarios are simulated seconds.
"""

from __future__ import annotations

import copy
import json
import os
import signal
import socket
import subprocess
import sys
import time
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest
import requests
from jsonschema import Draft202012Validator
from twilio.base.exceptions import TwilioRestException
from twilio.jwt.access_token import AccessToken
from twilio.jwt.access_token.grants import VoiceGrant
from twilio.rest import Client

from phonebank.telephony.emulator import EmulatorError
from phonebank.telephony.emulator import twiml as twiml_module
from phonebank.telephony.emulator.params import EMULATED_PARAMS, TWILIO_PARAMS
from phonebank.telephony.emulator.scenarios import DEFAULT_MIX, Planner
from phonebank.telephony.twilio_client import RedirectingHttpClient, build_client

from .conftest import ACCOUNT_SID, API_KEY, API_SECRET, APP_SID, AUTH_TOKEN, SPEED, wait_until

# Twilio's OpenAPI description of the calls phonebank uses (see reference/README.md).
SPEC_PATH = Path(
    os.environ.get(
        "PHONEBANK_TWILIO_OPENAPI",
        Path(__file__).resolve().parent / "reference" / "twilio_api_v2010_voice.json",
    )
)


def twilio_spec() -> dict:
    assert SPEC_PATH.exists(), f"Twilio's OpenAPI file is missing: {SPEC_PATH}"
    return json.loads(SPEC_PATH.read_text())


CALLER_ID = "+12125550100"
VOTER = "+12125550101"
VOLUNTEER = "+12125550102"
LEAD = "+12125550103"
ALL_EVENTS = ["initiated", "ringing", "answered", "completed"]
HOLD = "<Response><Pause length='600'/></Response>"


def api(emulator, path: str) -> str:
    return f"{emulator.url}/2010-04-01/Accounts/{ACCOUNT_SID}/{path}"


def sequence(hooks) -> list[int]:
    return [int(hook.params["SequenceNumber"]) for hook in hooks]


def statuses(hooks) -> list[str]:
    return [hook.params["CallStatus"] for hook in hooks]


def start_human_call(twilio, emulator, receiver, to: str, twiml_path: str, **kwargs):
    call = twilio.calls.create(to=to, from_=CALLER_ID, url=f"{receiver.url}{twiml_path}", **kwargs)
    emulator.control.wait_for_call(call.sid, "in-progress")
    wait_until(lambda: emulator.control.log(kind="verb", call_sid=call.sid))  # TwiML running
    return call


def volunteer_conference(twilio, emulator, receiver, name: str = "vol-42"):
    """A volunteer (endConferenceOnExit) and a voter in conference ``name``; returns sids."""
    emulator.control.set_scenarios(
        {
            VOLUNTEER: {"answer": "human", "ring_seconds": 1, "talk_seconds": None},
            VOTER: {"answer": "human", "ring_seconds": 1, "talk_seconds": 600},
            LEAD: {"answer": "human", "ring_seconds": 1, "talk_seconds": None},
        }
    )
    receiver.twiml["/volunteer"] = (
        "<Response><Dial><Conference startConferenceOnEnter='true' endConferenceOnExit='true' "
        f"participantLabel='volunteer' statusCallback='{receiver.url}/conference' "
        f"statusCallbackEvent='start end join leave mute hold modify'>{name}</Conference>"
        "</Dial></Response>"
    )
    receiver.twiml["/voter"] = (
        "<Response><Dial><Conference startConferenceOnEnter='false' participantLabel='voter'>"
        f"{name}</Conference></Dial><Say>Goodbye</Say></Response>"
    )
    volunteer = twilio.calls.create(to=VOLUNTEER, from_=CALLER_ID, url=f"{receiver.url}/volunteer")
    conference = wait_until(
        lambda: next(iter(twilio.conferences.list(friendly_name=name, status="in-progress")), None)
    )
    voter = twilio.calls.create(to=VOTER, from_=CALLER_ID, url=f"{receiver.url}/voter")
    wait_until(lambda: len(twilio.conferences(conference.sid).participants.list()) == 2)
    return volunteer.sid, voter.sid, conference.sid


# --- authentication and validation -----------------------------------------------------------


def test_wrong_credentials_are_refused_with_twilios_401(emulator, twilio):
    wrong = build_client(ACCOUNT_SID, "not-the-token", emulator.url)
    try:
        with pytest.raises(TwilioRestException) as refused:
            wrong.calls.create(to=VOTER, from_=CALLER_ID, url="https://app.example/answer")
    finally:
        wrong.http_client.session.close()
    assert (refused.value.status, refused.value.code) == (401, 20003)

    anonymous = requests.get(api(emulator, "Calls.json"), timeout=5)
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"].startswith("Basic")
    body = anonymous.json()
    assert body["code"] == 20003 and body["status"] == 401
    assert body["more_info"] == "https://www.twilio.com/docs/errors/20003"
    assert body["message"] == "Authenticate"

    other_account = "AC" + "0" * 32
    foreign = requests.get(
        f"{emulator.url}/2010-04-01/Accounts/{other_account}/Calls.json",
        auth=(ACCOUNT_SID, AUTH_TOKEN),
        timeout=5,
    )
    assert foreign.status_code == 401

    with_api_key = Client(
        API_KEY, API_SECRET, ACCOUNT_SID, http_client=RedirectingHttpClient(emulator.url)
    )
    try:
        assert with_api_key.calls.list() == []
    finally:
        with_api_key.http_client.session.close()
    users = [entry["auth_user"] for entry in emulator.control.requests()]
    assert users == [ACCOUNT_SID, None, ACCOUNT_SID, API_KEY]
    assert [entry["status"] for entry in emulator.control.requests()] == [401, 401, 401, 200]


def test_missing_and_invalid_parameters_get_twilios_400s(emulator, twilio):
    answer = "https://app.example/answer"
    cases = [
        (dict(to="", from_=CALLER_ID, url=answer), 21201),
        (dict(to=VOTER, from_="", url=answer), 21213),
        (dict(to=VOTER, from_=CALLER_ID), 21205),
        (dict(to="555-0101", from_=CALLER_ID, url=answer), 21211),
        (dict(to=VOTER, from_="campaign", url=answer), 21212),
        (dict(to=VOTER, from_=CALLER_ID, url="not a url"), 21205),
        (dict(to=VOTER, from_=CALLER_ID, url=answer, status_callback_event=["hungup"]), 20001),
        (dict(to=VOTER, from_=CALLER_ID, url=answer, machine_detection="Maybe"), 20001),
        (dict(to=VOTER, from_=CALLER_ID, url=answer, method="PUT"), 20001),
        (dict(to=VOTER, from_=CALLER_ID, twiml="<Response><Say>unclosed</Response>"), 12100),
    ]
    for kwargs, code in cases:
        with pytest.raises(TwilioRestException) as refused:
            twilio.calls.create(**kwargs)
        assert (refused.value.status, refused.value.code) == (400, code), kwargs

    with pytest.raises(TwilioRestException) as missing:
        twilio.calls("CA" + "f" * 32).fetch()
    assert (missing.value.status, missing.value.code) == (404, 20404)
    with pytest.raises(TwilioRestException) as missing:
        twilio.conferences("CF" + "f" * 32).participants.create(from_=CALLER_ID, to=VOTER)
    assert missing.value.status == 404
    with pytest.raises(TwilioRestException) as invalid:
        twilio.conferences("vol-1").participants.create(from_=CALLER_ID, to=VOTER, muted="loud")
    assert (invalid.value.status, invalid.value.code) == (400, 20001)
    assert twilio.conferences.list() == []  # a refused request creates no conference

    raw = requests.post(
        api(emulator, "Calls.json"), data={"From": CALLER_ID}, auth=(ACCOUNT_SID, AUTH_TOKEN)
    )
    assert raw.status_code == 400
    assert raw.json() == {
        "code": 21201,
        "message": "No 'To' number is specified",
        "more_info": "https://www.twilio.com/docs/errors/21201",
        "status": 400,
    }
    assert emulator.control.state()["calls"] == []


# --- call play-out --------------------------------------------------------------------------


def test_human_call_sends_signed_status_callbacks_in_order(emulator, twilio, receiver):
    emulator.control.set_scenarios(
        {VOTER: {"answer": "human", "ring_seconds": 2, "talk_seconds": 8}}
    )
    receiver.twiml["/answer"] = (
        "<Response><Say>Hello from the campaign</Say><Pause length='30'/></Response>"
    )
    call = twilio.calls.create(
        to=VOTER,
        from_=CALLER_ID,
        url=f"{receiver.url}/answer",
        status_callback=f"{receiver.url}/status",
        status_callback_event=ALL_EVENTS,
        status_callback_method="POST",
    )
    assert (call.status, call.direction, call.to, call._from) == (
        "queued",
        "outbound-api",
        VOTER,
        CALLER_ID,
    )
    assert call.sid.startswith("CA") and len(call.sid) == 34

    hooks = receiver.wait_for("/status", 4)
    assert statuses(hooks) == ["initiated", "ringing", "in-progress", "completed"]
    assert sequence(hooks) == [0, 1, 2, 3]
    for hook in hooks:
        assert hook.signature_valid and hook.method == "POST"
        assert hook.params["CallSid"] == call.sid
        assert hook.params["AccountSid"] == ACCOUNT_SID
        assert (hook.params["From"], hook.params["To"]) == (CALLER_ID, VOTER)
        assert hook.params["Direction"] == "outbound-api"
        assert hook.params["ApiVersion"] == "2010-04-01"
        assert hook.params["CallbackSource"] == "call-progress-events"
        assert parsedate_to_datetime(hook.params["Timestamp"]).tzinfo is not None
    final = hooks[-1].params
    assert 8 <= int(final["CallDuration"]) <= 10
    assert final["Duration"] == "1" and final["SipResponseCode"] == "200"
    assert "CallDuration" not in hooks[2].params

    (answer,) = receiver.received("/answer")
    assert answer.signature_valid and answer.method == "POST"
    assert {
        key: answer.params[key]
        for key in ("CallSid", "AccountSid", "From", "To", "CallStatus", "Direction", "ApiVersion")
    } == {
        "CallSid": call.sid,
        "AccountSid": ACCOUNT_SID,
        "From": CALLER_ID,
        "To": VOTER,
        "CallStatus": "in-progress",
        "Direction": "outbound-api",
        "ApiVersion": "2010-04-01",
    }
    fetched = twilio.calls(call.sid).fetch()
    assert fetched.status == "completed" and fetched.duration == final["CallDuration"]
    assert fetched.start_time and fetched.end_time
    assert emulator.control.call(call.sid)["emulator"]["ended_by"] == "callee"
    verbs = [entry["verb"] for entry in emulator.control.log(kind="verb", call_sid=call.sid)]
    assert verbs == ["Say", "Pause"]
    (create,) = emulator.control.requests("CreateCall")
    assert create["params"] == {
        "To": VOTER,
        "From": CALLER_ID,
        "Url": f"{receiver.url}/answer",
        "StatusCallback": f"{receiver.url}/status",
        "StatusCallbackEvent": ALL_EVENTS,
        "StatusCallbackMethod": "POST",
    }
    assert create["unknown_params"] == [] and create["status"] == 201


def test_machine_async_amd_then_voicemail_by_redirect(emulator, twilio, receiver):
    emulator.control.set_scenarios(
        {
            VOTER: {"answer": "machine", "ring_seconds": 1, "greeting_seconds": 4},
            VOLUNTEER: {"answer": "human", "ring_seconds": 1, "talk_seconds": 60},
        }
    )
    receiver.twiml["/answer"] = HOLD
    amd = dict(
        async_amd="true",
        async_amd_status_callback=f"{receiver.url}/amd",
        async_amd_status_callback_method="POST",
    )
    machine = twilio.calls.create(
        to=VOTER,
        from_=CALLER_ID,
        url=f"{receiver.url}/answer",
        machine_detection="DetectMessageEnd",
        status_callback=f"{receiver.url}/status",
        **amd,
    )
    person = twilio.calls.create(
        to=VOLUNTEER,
        from_=CALLER_ID,
        url=f"{receiver.url}/answer",
        machine_detection="Enable",
        **amd,
    )
    results = {hook.params["CallSid"]: hook for hook in receiver.wait_for("/amd", 2, timeout=5)}
    machine_result = results[machine.sid]
    assert machine_result.signature_valid
    assert machine_result.params["AnsweredBy"] == "machine_end_beep"
    assert machine_result.params["AccountSid"] == ACCOUNT_SID
    assert int(machine_result.params["MachineDetectionDuration"]) >= 4000
    assert results[person.sid].params["AnsweredBy"] == "human"
    # Async AMD: the call's TwiML was fetched at answer, before the result and without it.
    answers = {hook.params["CallSid"]: hook for hook in receiver.received("/answer")}
    assert answers[machine.sid].at < machine_result.at
    assert "AnsweredBy" not in answers[machine.sid].params

    voicemail = (
        "<Response><Say>Hi, this is Sam, a volunteer with the campaign. "
        "Please vote on Thursday.</Say><Hangup/></Response>"
    )
    twilio.calls(machine.sid).update(twiml=voicemail)
    final = emulator.control.wait_for_call(machine.sid)
    assert final["status"] == "completed" and final["answered_by"] == "machine_end_beep"
    assert final["emulator"]["ended_by"] == "twiml"
    verbs = emulator.control.log(kind="verb", call_sid=machine.sid)
    assert [entry["verb"] for entry in verbs] == ["Pause", "Say", "Hangup"]
    assert "Please vote" in verbs[1]["detail"]
    (completed,) = receiver.wait_for("/status", 1)
    assert completed.params["CallStatus"] == "completed"
    assert completed.params["AnsweredBy"] == "machine_end_beep"
    twilio.calls(person.sid).update(status="completed")


def test_busy_no_answer_and_failed_calls(emulator, twilio, receiver):
    numbers = {"+12125550111": "busy", "+12125550112": "no-answer", "+12125550113": "failed"}
    emulator.control.set_scenarios(
        {number: {"answer": answer, "ring_seconds": 1} for number, answer in numbers.items()}
    )
    started = time.monotonic()
    sids = {}
    for number, answer in numbers.items():
        call = twilio.calls.create(
            to=number,
            from_=CALLER_ID,
            url=f"{receiver.url}/answer",
            status_callback=f"{receiver.url}/status",
            status_callback_event=ALL_EVENTS,
            timeout=10,
        )
        sids[answer] = call.sid
    for sid in sids.values():
        emulator.control.wait_for_call(sid)
    assert time.monotonic() - started >= 10 / SPEED  # no-answer rang for Timeout=10 s

    def callbacks(answer):
        return receiver.wait_for(
            "/status", where=lambda hook: hook.params["CallSid"] == sids[answer], count=1
        )

    receiver.wait_for("/status", 8)
    assert statuses(callbacks("busy")) == ["initiated", "ringing", "busy"]
    assert statuses(callbacks("no-answer")) == ["initiated", "ringing", "no-answer"]
    assert statuses(callbacks("failed")) == ["initiated", "failed"]
    codes = {answer: callbacks(answer)[-1].params["SipResponseCode"] for answer in sids}
    assert codes == {"busy": "486", "no-answer": "487", "failed": "404"}
    for answer, sid in sids.items():
        assert callbacks(answer)[-1].params["CallDuration"] == "0"
        fetched = twilio.calls(sid).fetch()
        assert fetched.status == answer and fetched.duration is None
    assert receiver.received("/answer") == []


def test_app_hangs_up_a_live_call_and_cancels_a_ringing_one(emulator, twilio, receiver):
    emulator.control.set_scenarios(
        {
            VOTER: {"answer": "human", "ring_seconds": 1, "talk_seconds": 600},
            LEAD: {"answer": "human", "ring_seconds": 200},
        }
    )
    receiver.twiml["/answer"] = HOLD
    call = start_human_call(
        twilio, emulator, receiver, VOTER, "/answer", status_callback=f"{receiver.url}/status"
    )
    untouched = twilio.calls(call.sid).update(status="canceled")  # no effect once answered
    assert untouched.status == "in-progress"
    ended = twilio.calls(call.sid).update(status="completed")
    assert ended.status == "completed"
    (final,) = receiver.wait_for("/status", 1)
    assert final.params["CallStatus"] == "completed"
    assert emulator.control.call(call.sid)["emulator"]["ended_by"] == "api"
    with pytest.raises(TwilioRestException) as over:
        twilio.calls(call.sid).update(status="completed")
    assert (over.value.status, over.value.code) == (400, 21220)

    ringing = twilio.calls.create(
        to=LEAD, from_=CALLER_ID, url=f"{receiver.url}/answer", timeout=300
    )
    emulator.control.wait_for_call(ringing.sid, "ringing")
    assert twilio.calls(ringing.sid).update(status="canceled").status == "canceled"


def test_redirecting_a_live_call_fetches_the_new_url(emulator, twilio, receiver):
    emulator.control.set_scenarios({VOTER: {"answer": "human", "ring_seconds": 1}})
    receiver.twiml["/answer"] = HOLD
    receiver.twiml["/goodbye"] = "<Response><Say>Thanks, goodbye</Say><Hangup/></Response>"
    call = start_human_call(twilio, emulator, receiver, VOTER, "/answer")
    twilio.calls(call.sid).update(url=f"{receiver.url}/goodbye", method="POST")
    (goodbye,) = receiver.wait_for("/goodbye")
    assert goodbye.signature_valid and goodbye.params["CallStatus"] == "in-progress"
    assert emulator.control.wait_for_call(call.sid)["status"] == "completed"
    verbs = emulator.control.log(kind="verb", call_sid=call.sid)
    assert [entry["verb"] for entry in verbs] == ["Pause", "Say", "Hangup"]


def test_unreachable_twiml_uses_fallback_then_application_error(emulator, twilio, receiver):
    emulator.control.set_scenarios({"*": {"answer": "human", "ring_seconds": 1}})
    receiver.statuses["/broken"] = 500
    receiver.twiml["/broken"] = "<oops/>"
    receiver.twiml["/fallback"] = "<Response><Say>Sorry</Say></Response>"
    with_fallback = twilio.calls.create(
        to=VOTER,
        from_=CALLER_ID,
        url=f"{receiver.url}/broken",
        fallback_url=f"{receiver.url}/fallback",
    )
    (fallback,) = receiver.wait_for("/fallback")
    assert fallback.params["ErrorCode"] == "11200"
    assert fallback.params["ErrorUrl"] == f"{receiver.url}/broken"
    assert emulator.control.wait_for_call(with_fallback.sid)["status"] == "completed"

    without = twilio.calls.create(to=VOLUNTEER, from_=CALLER_ID, url=f"{receiver.url}/broken")
    assert emulator.control.wait_for_call(without.sid)["emulator"]["ended_by"] == "system"
    errors = emulator.control.log(kind="error", call_sid=without.sid)
    assert [entry["code"] for entry in errors] == [11200]


# --- conferences and coaching ---------------------------------------------------------------


def test_conference_from_twiml_lists_participants_and_ends_on_exit(emulator, twilio, receiver):
    volunteer, voter, conference_sid = volunteer_conference(twilio, emulator, receiver)
    conference = twilio.conferences(conference_sid).fetch()
    assert conference.status == "in-progress" and conference.friendly_name == "vol-42"
    assert conference.sid.startswith("CF") and conference.reason_conference_ended is None
    participants = {p.label: p for p in twilio.conferences(conference_sid).participants.list()}
    assert {label: p.call_sid for label, p in participants.items()} == {
        "volunteer": volunteer,
        "voter": voter,
    }
    assert participants["volunteer"].end_conference_on_exit is True
    assert participants["voter"].start_conference_on_enter is False
    assert all(p.status == "connected" for p in participants.values())
    by_label = twilio.conferences(conference_sid).participants("voter").fetch()
    assert by_label.call_sid == voter

    twilio.calls(volunteer).update(status="completed")
    ended = twilio.conferences(conference_sid).fetch()
    assert ended.status == "completed"
    assert ended.reason_conference_ended == "participant-with-end-conference-on-exit-left"
    assert ended.call_sid_ending_conference == volunteer
    assert twilio.conferences(conference_sid).participants.list() == []
    # The voter's TwiML goes on after <Dial> (Say Goodbye) and then runs out.
    assert emulator.control.wait_for_call(voter)["emulator"]["ended_by"] == "twiml"
    assert [v["verb"] for v in emulator.control.log(kind="verb", call_sid=voter)] == ["Dial", "Say"]

    events = receiver.wait_for("/conference", 6)
    assert [(e.params["StatusCallbackEvent"], e.params.get("CallSid")) for e in events] == [
        ("participant-join", volunteer),
        ("conference-start", None),
        ("participant-join", voter),
        ("participant-leave", volunteer),
        ("participant-leave", voter),
        ("conference-end", None),
    ]
    assert sequence(events) == list(range(6))
    assert all(e.signature_valid and e.params["ConferenceSid"] == conference_sid for e in events)
    assert all(e.params["FriendlyName"] == "vol-42" for e in events)
    assert events[-1].params["ReasonConferenceEnded"] == (
        "participant-with-end-conference-on-exit-left"
    )
    assert twilio.conferences.list(friendly_name="vol-42", status="completed")[0].sid == (
        conference_sid
    )


def test_lead_listens_whispers_and_barges_without_dropping(emulator, twilio, receiver):
    volunteer, voter, conference_sid = volunteer_conference(twilio, emulator, receiver)
    participants = twilio.conferences(conference_sid).participants
    lead = participants.create(
        from_=CALLER_ID,
        to=LEAD,
        label="lead",
        muted=True,
        coaching=True,
        call_sid_to_coach=volunteer,
        beep="false",
    )
    assert (lead.status, lead.muted, lead.coaching, lead.call_sid_to_coach) == (
        "queued",
        True,
        True,
        volunteer,
    )
    assert lead.conference_sid == conference_sid
    wait_until(lambda: participants(lead.call_sid).fetch().status == "connected")

    whisper = participants(lead.call_sid).update(muted=False, coaching=True)
    assert (whisper.muted, whisper.coaching, whisper.call_sid_to_coach) == (False, True, volunteer)
    barge = participants("lead").update(coaching=False, muted=False)
    assert (barge.muted, barge.coaching, barge.call_sid_to_coach) == (False, False, None)
    back = participants(lead.call_sid).update(
        muted=True, coaching=True, call_sid_to_coach=volunteer
    )
    assert (back.muted, back.coaching, back.call_sid_to_coach) == (True, True, volunteer)

    assert emulator.control.call(lead.call_sid)["status"] == "in-progress"  # never dropped
    assert len(participants.list()) == 3
    assert [p.call_sid for p in participants.list(coaching=True)] == [lead.call_sid]

    (create,) = emulator.control.requests("CreateParticipant")
    assert create["params"] == {
        "From": CALLER_ID,
        "To": LEAD,
        "Label": "lead",
        "Muted": "true",
        "Beep": "false",
        "Coaching": "true",
        "CallSidToCoach": volunteer,
    }
    assert create["path"].endswith(f"/Conferences/{conference_sid}/Participants.json")
    updates = emulator.control.requests("UpdateParticipant")
    assert [entry["params"] for entry in updates] == [
        {"Muted": "false", "Coaching": "true"},
        {"Muted": "false", "Coaching": "false"},
        {"Muted": "true", "Coaching": "true", "CallSidToCoach": volunteer},
    ]
    assert updates[1]["path"].endswith("/Participants/lead.json")

    with pytest.raises(TwilioRestException) as refused:
        participants(voter).update(coaching=True, call_sid_to_coach="CA" + "e" * 32)
    assert refused.value.status == 400

    participants(lead.call_sid).delete()  # the lead leaves; the call dialed for it ends
    assert emulator.control.wait_for_call(lead.call_sid)["status"] == "completed"
    assert twilio.conferences(conference_sid).fetch().status == "in-progress"
    assert len(participants.list()) == 2

    events = receiver.wait_for(
        "/conference", 6, where=lambda event: event.params.get("CallSid") == lead.call_sid
    )
    assert [event.params["StatusCallbackEvent"] for event in events] == [
        "participant-join",
        "participant-unmute",
        "participant-modify",
        "participant-mute",
        "participant-modify",
        "participant-leave",
    ]
    assert all(event.signature_valid for event in events)
    assert events[0].params["Coaching"] == "true"
    assert events[0].params["CallSidToCoach"] == volunteer
    assert events[0].params["ParticipantLabel"] == "lead"
    assert events[2].params["Coaching"] == "false" and "CallSidToCoach" not in events[2].params


def test_machine_in_the_conference_is_redirected_out_to_voicemail(emulator, twilio, receiver):
    volunteer, voter, conference_sid = volunteer_conference(twilio, emulator, receiver)
    emulator.control.set_scenarios(
        {"+12125550199": {"answer": "machine", "ring_seconds": 1, "greeting_seconds": 3}}
    )
    receiver.twiml["/voter"] = (
        "<Response><Dial><Conference startConferenceOnEnter='false'>vol-42</Conference>"
        "</Dial></Response>"
    )
    machine = twilio.calls.create(
        to="+12125550199",
        from_=CALLER_ID,
        url=f"{receiver.url}/voter",
        machine_detection="DetectMessageEnd",
        async_amd="true",
        async_amd_status_callback=f"{receiver.url}/amd",
    )
    wait_until(lambda: len(twilio.conferences(conference_sid).participants.list()) == 3)
    (amd,) = receiver.wait_for("/amd")
    assert amd.params["AnsweredBy"] == "machine_end_beep"
    twilio.calls(machine.sid).update(
        twiml="<Response><Say>Please vote on Thursday</Say><Hangup/></Response>"
    )
    wait_until(lambda: len(twilio.conferences(conference_sid).participants.list()) == 2)
    assert emulator.control.wait_for_call(machine.sid)["emulator"]["ended_by"] == "twiml"
    verbs = [v["verb"] for v in emulator.control.log(kind="verb", call_sid=machine.sid)]
    assert verbs == ["Dial", "Say", "Hangup"]
    assert twilio.conferences(conference_sid).fetch().status == "in-progress"
    leave = receiver.wait_for(
        "/conference", where=lambda e: e.params.get("CallSid") == machine.sid, count=2
    )
    assert [e.params["StatusCallbackEvent"] for e in leave] == [
        "participant-join",
        "participant-leave",
    ]


def test_participants_api_dials_into_a_conference_by_friendly_name(emulator, twilio, receiver):
    emulator.control.set_scenarios(
        {
            VOTER: {"answer": "human", "ring_seconds": 1, "talk_seconds": 2},
            LEAD: {"answer": "busy", "ring_seconds": 1},
        }
    )
    participant = twilio.conferences("vol-9").participants.create(
        from_=CALLER_ID,
        to=VOTER,
        label="voter",
        status_callback=f"{receiver.url}/status",
        status_callback_event=["answered", "completed"],
        conference_status_callback=f"{receiver.url}/conference",
        conference_status_callback_event=["start", "end", "join", "leave"],
    )
    conference = twilio.conferences(participant.conference_sid).fetch()
    assert conference.friendly_name == "vol-9" and conference.status == "init"
    final = emulator.control.wait_for_call(participant.call_sid)
    assert final["emulator"]["ended_by"] == "callee"
    assert statuses(receiver.wait_for("/status", 2)) == ["in-progress", "completed"]
    events = receiver.wait_for("/conference", 4)
    assert [e.params["StatusCallbackEvent"] for e in events] == [
        "participant-join",
        "conference-start",
        "participant-leave",
        "conference-end",
    ]
    ended = twilio.conferences(participant.conference_sid).fetch()
    assert ended.reason_conference_ended == "last-participant-left"

    busy = twilio.conferences("vol-10").participants.create(from_=CALLER_ID, to=LEAD)
    assert emulator.control.wait_for_call(busy.call_sid)["status"] == "busy"
    assert twilio.conferences(busy.conference_sid).fetch().status == "completed"


# --- fault injection ------------------------------------------------------------------------


def human_call_with_callbacks(emulator, twilio, receiver):
    emulator.control.set_scenarios(
        {VOTER: {"answer": "human", "ring_seconds": 1, "talk_seconds": 1}}
    )
    receiver.twiml["/answer"] = HOLD
    call = twilio.calls.create(
        to=VOTER,
        from_=CALLER_ID,
        url=f"{receiver.url}/answer",
        status_callback=f"{receiver.url}/status",
        status_callback_event=ALL_EVENTS,
    )
    emulator.control.wait_for_call(call.sid)
    return call


def settled_webhooks(emulator, count: int) -> list[dict]:
    return wait_until(
        lambda: (
            (hooks := emulator.control.webhooks("status"))
            and len(hooks) >= count
            and all(hook["attempts"] or hook["fault"] == "dropped" for hook in hooks)
            and hooks
        )
    )


def test_fault_duplicate_sends_each_callback_twice(emulator, twilio, receiver):
    emulator.control.set_faults(duplicate=1.0)
    human_call_with_callbacks(emulator, twilio, receiver)
    hooks = receiver.wait_for("/status", 8)
    assert sequence(hooks) == [0, 0, 1, 1, 2, 2, 3, 3]
    for first, again in zip(hooks[::2], hooks[1::2], strict=True):
        assert first.params == again.params and again.signature_valid
        assert first.idempotency_token == again.idempotency_token
    faults = [hook["fault"] for hook in settled_webhooks(emulator, 8)]
    assert faults == [None, "duplicate"] * 4


def test_fault_reorder_swaps_neighbouring_callbacks(emulator, twilio, receiver):
    emulator.control.set_faults(reorder=1.0)
    human_call_with_callbacks(emulator, twilio, receiver)
    hooks = receiver.wait_for("/status", 4)
    assert sequence(hooks) == [1, 0, 3, 2]
    assert statuses(hooks) == ["ringing", "initiated", "completed", "in-progress"]
    assert all(hook.signature_valid for hook in hooks)


def test_fault_drop_loses_every_callback(emulator, twilio, receiver):
    emulator.control.set_faults(drop=1.0)
    human_call_with_callbacks(emulator, twilio, receiver)
    logged = settled_webhooks(emulator, 4)
    assert [hook["fault"] for hook in logged] == ["dropped"] * 4
    assert receiver.received("/status") == []


def test_fault_drop_final_makes_the_app_reconcile_by_fetching(emulator, twilio, receiver):
    emulator.control.set_faults(drop_final=1.0)
    call = human_call_with_callbacks(emulator, twilio, receiver)
    logged = settled_webhooks(emulator, 4)
    assert [hook["fault"] for hook in logged] == [None, None, None, "dropped"]
    assert statuses(receiver.received("/status")) == ["initiated", "ringing", "in-progress"]
    assert twilio.calls(call.sid).fetch().status == "completed"  # what reconciliation finds


def test_callbacks_are_retried_when_the_app_is_unreachable(emulator, twilio, receiver):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        dead_port = closed.getsockname()[1]
    emulator.control.set_scenarios({VOTER: {"answer": "busy", "ring_seconds": 1}})
    call = twilio.calls.create(
        to=VOTER,
        from_=CALLER_ID,
        url=f"{receiver.url}/answer",
        status_callback=f"http://127.0.0.1:{dead_port}/status",
    )
    emulator.control.wait_for_call(call.sid)
    (hook,) = wait_until(
        lambda: [h for h in emulator.control.webhooks("status") if h["error"]], timeout=10
    )
    assert hook["attempts"] == 3 and hook["status"] is None


def test_get_status_callbacks_are_signed_over_the_full_url(emulator, twilio, receiver):
    emulator.control.set_scenarios({VOTER: {"answer": "busy", "ring_seconds": 1}})
    twilio.calls.create(
        to=VOTER,
        from_=CALLER_ID,
        url=f"{receiver.url}/answer",
        status_callback=f"{receiver.url}/status?campaign=7",
        status_callback_method="GET",
    )
    (hook,) = receiver.wait_for("/status")
    assert hook.method == "GET" and hook.signature_valid
    assert hook.params["campaign"] == "7" and hook.params["CallStatus"] == "busy"


# --- browser legs ---------------------------------------------------------------------------


def access_token(identity="volunteer-7", secret=API_SECRET, account=ACCOUNT_SID, **kwargs):
    token = AccessToken(account, kwargs.pop("key", API_KEY), secret, identity=identity, **kwargs)
    token.add_grant(VoiceGrant(outgoing_application_sid=APP_SID, incoming_allow=True))
    return token.to_jwt()


def test_client_leg_with_a_valid_token_runs_the_twiml_app(emulator, receiver):
    receiver.twiml["/voice"] = (
        "<Response><Dial><Conference endConferenceOnExit='true'>vol-7</Conference></Dial>"
        "</Response>"
    )
    emulator.control.set_application(
        APP_SID, f"{receiver.url}/voice", status_callback=f"{receiver.url}/status"
    )
    origin = "http://phonebank.example:8000"
    preflight = requests.options(
        f"{emulator.url}/_emulator/client/connect",
        headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
        timeout=5,
    )
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == origin
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    assert "Content-Type" in preflight.headers["Access-Control-Allow-Headers"]

    connected = requests.post(
        f"{emulator.url}/_emulator/client/connect",
        json={"token": access_token(), "params": {"campaign_id": "12"}},
        headers={"Origin": origin},
        timeout=5,
    )
    assert connected.status_code == 201, connected.text
    assert connected.headers["Access-Control-Allow-Origin"] == origin
    call_sid = connected.json()["call_sid"]
    assert connected.json()["identity"] == "volunteer-7"

    (voice,) = receiver.wait_for("/voice")
    assert voice.signature_valid
    assert {key: voice.params[key] for key in ("CallSid", "From", "Caller", "Direction")} == {
        "CallSid": call_sid,
        "From": "client:volunteer-7",
        "Caller": "client:volunteer-7",
        "Direction": "inbound",
    }
    assert voice.params["CallStatus"] == "ringing"
    assert voice.params["ApplicationSid"] == APP_SID
    assert voice.params["campaign_id"] == "12"
    assert voice.params["AccountSid"] == ACCOUNT_SID

    status = wait_until(lambda: (s := emulator.control.client_status(call_sid))["conference"] and s)
    assert status["status"] == "in-progress"
    assert status["conference"]["friendly_name"] == "vol-7"
    assert status["participant"]["end_conference_on_exit"] is True

    assert emulator.control.client_disconnect(call_sid)["status"] == "completed"
    (final,) = receiver.wait_for("/status")
    assert final.params["CallStatus"] == "completed" and final.params["From"] == (
        "client:volunteer-7"
    )
    conference = emulator.control.state()["conferences"][0]
    assert conference["status"] == "completed"


def test_client_connect_refuses_forged_expired_and_foreign_tokens(emulator):
    no_grant = AccessToken(ACCOUNT_SID, API_KEY, API_SECRET, identity="x").to_jwt()
    cases = {
        "forged": (access_token(secret="guessed-secret-guessed-secret-0000"), 20107),
        "expired": (access_token(ttl=-120), 20104),
        "other account": (access_token(account="AC" + "0" * 32), 20103),
        "unknown key": (access_token(key="SK" + "9" * 32), 20103),
        "no voice grant": (no_grant, 20106),
        "garbage": ("not.a.token", 20101),
        "missing": ("", 20101),
    }
    for name, (token, code) in cases.items():
        with pytest.raises(EmulatorError) as refused:
            emulator.control.client_connect(token)
        assert (refused.value.status, refused.value.body["code"]) == (401, code), name
    assert emulator.control.state()["calls"] == []


# --- Twilio's shapes and names --------------------------------------------------------------


def openapi_validator(spec: dict, schema: dict) -> Draft202012Validator:
    """A JSON Schema validator for one OpenAPI 3.0 schema of the spec (``nullable`` made JSON
    Schema; ``reason_conference_ended`` may be null, as Twilio's own in-progress example shows)."""

    def convert(node):
        if isinstance(node, dict):
            node = {key: convert(value) for key, value in node.items()}
            if node.pop("nullable", False) and "type" in node:
                node["type"] = [node["type"], "null"]
            return node
        if isinstance(node, list):
            return [convert(item) for item in node]
        return node

    schemas = convert(copy.deepcopy(spec["components"]["schemas"]))
    conference = schemas["api.v2010.account.conference"]["properties"]
    conference["reason_conference_ended"] = {
        "anyOf": [conference["reason_conference_ended"], {"type": "null"}]
    }
    return Draft202012Validator({**convert(schema), "components": {"schemas": schemas}})


def check_shape(spec: dict, path: str, method: str, status: int, body: dict) -> None:
    """``body`` is valid against the operation's response schema, has exactly the resource's
    fields, and its dates are RFC 2822."""
    operation = spec["paths"][path][method]
    schema = operation["responses"][str(status)]["content"]["application/json"]["schema"]
    errors = list(openapi_validator(spec, schema).iter_errors(body))
    assert not errors, [error.message for error in errors]
    if "$ref" in schema:
        resource, records = schema["$ref"], [body]
    else:
        assert set(body) <= set(schema["properties"]), set(body) - set(schema["properties"])
        key = next(k for k, v in schema["properties"].items() if v.get("type") == "array")
        resource, records = schema["properties"][key]["items"]["$ref"], body[key]
        assert records, f"empty {key} list: nothing checked"
    properties = spec["components"]["schemas"][resource.rsplit("/", 1)[-1]]["properties"]
    for record in records:
        assert set(record) == set(properties), set(record) ^ set(properties)
        for name, value in record.items():
            if properties[name].get("format") == "date-time-rfc-2822" and value is not None:
                assert parsedate_to_datetime(value).tzinfo is not None


def test_responses_match_twilios_openapi_schemas(emulator, receiver):
    spec = twilio_spec()
    for path_item in spec["paths"].values():  # the converted schemas accept Twilio's examples
        for method in ("get", "post"):
            for response in path_item.get(method, {}).get("responses", {}).values():
                content = response.get("content", {}).get("application/json")
                for example in (content or {}).get("examples", {}).values():
                    errors = openapi_validator(spec, content["schema"]).iter_errors(
                        example["value"]
                    )
                    assert not list(errors)

    emulator.control.set_scenarios({"*": {"answer": "human", "ring_seconds": 1}})
    receiver.twiml["/voter"] = (
        "<Response><Dial><Conference startConferenceOnEnter='true'>shapes</Conference></Dial>"
        "</Response>"
    )
    session = requests.Session()
    session.auth = (ACCOUNT_SID, AUTH_TOKEN)
    base = "/2010-04-01/Accounts/{AccountSid}"
    try:

        def check(method, path, status, data=None, **query):
            url = api(emulator, path.format(**query))
            response = session.request(method.upper(), url, data=data, timeout=5)
            assert response.status_code == status, response.text
            check_shape(spec, f"{base}/{path}", method, status, response.json())
            return response.json()

        voter = {"To": VOTER, "From": CALLER_ID, "Url": f"{receiver.url}/voter"}
        call = check("post", "Calls.json", 201, voter)
        emulator.control.wait_for_call(call["sid"], "in-progress")
        check("get", "Calls/{Sid}.json", 200, Sid=call["sid"])
        check("get", "Calls.json", 200)
        conference = wait_until(lambda: emulator.control.state()["conferences"])[0]
        check("get", "Conferences/{Sid}.json", 200, Sid=conference["sid"])
        check("get", "Conferences.json", 200)
        participant_path = "Conferences/{ConferenceSid}/Participants.json"
        lead = check(
            "post",
            participant_path,
            201,
            {"From": CALLER_ID, "To": LEAD, "Muted": "true"},
            ConferenceSid=conference["sid"],
        )
        check("get", participant_path, 200, ConferenceSid=conference["sid"])
        one = "Conferences/{ConferenceSid}/Participants/{CallSid}.json"
        check("get", one, 200, ConferenceSid=conference["sid"], CallSid=call["sid"])
        check(
            "post",
            one,
            200,
            {"Hold": "true"},
            ConferenceSid=conference["sid"],
            CallSid=lead["call_sid"],
        )
        check("post", "Calls/{Sid}.json", 200, {"Status": "completed"}, Sid=call["sid"])
        check("post", "Conferences/{Sid}.json", 200, {"Status": "completed"}, Sid=conference["sid"])
        ended = check("get", "Conferences/{Sid}.json", 200, Sid=conference["sid"])
        assert ended["reason_conference_ended"] == "conference-ended-via-api"
    finally:
        session.close()


def test_accepted_parameter_names_are_twilios(emulator, twilio, receiver):
    spec = twilio_spec()
    for path_item in spec["paths"].values():
        for method in ("get", "post", "delete"):
            operation = path_item.get(method)
            if not operation:
                continue
            body = operation.get("requestBody", {}).get("content", {})
            form = body.get("application/x-www-form-urlencoded", {}).get("schema", {})
            names = set(form.get("properties", {})) | {
                p["name"] for p in operation.get("parameters", []) if p["in"] == "query"
            }
            assert TWILIO_PARAMS[operation["operationId"]] == names, operation["operationId"]
            assert EMULATED_PARAMS[operation["operationId"]] <= names
            for required in form.get("required", []):
                assert required in EMULATED_PARAMS[operation["operationId"]]

    # Unknown names are accepted (as Twilio does) and reported in the request log.
    emulator.control.set_scenarios({VOTER: {"answer": "busy", "ring_seconds": 1}})
    made = requests.post(
        api(emulator, "Calls.json"),
        data={"To": VOTER, "From": CALLER_ID, "Url": f"{receiver.url}/a", "StatusCalback": "x"},
        auth=(ACCOUNT_SID, AUTH_TOKEN),
        timeout=5,
    )
    assert made.status_code == 201
    assert emulator.control.requests("CreateCall")[-1]["unknown_params"] == ["StatusCalback"]


# --- lists, deletion and the control API ------------------------------------------------------


def test_lists_page_and_filter_as_twilio_does(emulator, twilio, receiver):
    numbers = [f"+1212555020{i}" for i in range(5)]
    emulator.control.set_scenarios({n: {"answer": "failed", "ring_seconds": 0} for n in numbers})
    sids = [
        twilio.calls.create(to=n, from_=CALLER_ID, url=f"{receiver.url}/answer").sid
        for n in numbers
    ]
    for sid in sids:
        emulator.control.wait_for_call(sid)
    listed = twilio.calls.list(page_size=2)
    assert [call.sid for call in listed] == list(reversed(sids))  # newest first
    pages = [entry["params"] for entry in emulator.control.requests("ListCall")]
    assert [page.get("Page", "0") for page in pages] == ["0", "1", "2"]
    assert [c.sid for c in twilio.calls.list(to=numbers[2])] == [sids[2]]
    assert len(twilio.calls.list(status="failed")) == 5
    assert twilio.calls.list(status="in-progress") == []
    first_page = twilio.calls.page(page_size=2)
    assert first_page.next_page_url and len(list(first_page)) == 2


def test_deleting_calls_only_when_complete(emulator, twilio, receiver):
    emulator.control.set_scenarios({VOTER: {"answer": "human", "ring_seconds": 1}})
    receiver.twiml["/answer"] = HOLD
    call = start_human_call(twilio, emulator, receiver, VOTER, "/answer")
    with pytest.raises(TwilioRestException) as live:
        twilio.calls(call.sid).delete()
    assert (live.value.status, live.value.code) == (400, 20009)
    twilio.calls(call.sid).update(status="completed")
    assert twilio.calls(call.sid).delete() is True
    with pytest.raises(TwilioRestException) as gone:
        twilio.calls(call.sid).fetch()
    assert gone.value.status == 404


def test_control_api_scenarios_state_hangup_and_reset(emulator, twilio, receiver):
    control = emulator.control
    with pytest.raises(EmulatorError) as bad:
        control.set_scenarios({VOTER: {"answer": "maybe"}})
    assert bad.value.status == 400
    with pytest.raises(EmulatorError):
        control.set_faults(drop=2)
    control.set_scenarios({VOTER: {"answer": "human", "ring_seconds": 1, "talk_seconds": None}})
    receiver.twiml["/answer"] = HOLD
    call = start_human_call(twilio, emulator, receiver, VOTER, "/answer")
    state = control.state(active=True)
    assert [c["sid"] for c in state["calls"]] == [call.sid]
    assert state["calls"][0]["emulator"]["plan"]["answer"] == "human"
    assert control.hangup(call.sid)["status"] == "completed"
    assert control.call(call.sid)["emulator"]["ended_by"] == "callee"
    assert control.state(active=True)["calls"] == []
    assert control.stats()["calls_by_status"] == {"completed": 1}
    control.reset()
    assert control.state() == {"calls": [], "conferences": []}
    assert control.log() == [] and control.request("GET", "scenarios") == {}


def test_command_line_prints_its_address_and_stops_on_sigterm():
    command = [
        sys.executable,
        "-m",
        "phonebank.telephony.emulator",
        "--port",
        "0",
        "--account-sid",
        ACCOUNT_SID,
        "--auth-token",
        AUTH_TOKEN,
        "--speed",
        "5",
        "--log-level",
        "WARNING",
    ]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, cwd=Path(__file__).resolve().parents[2]
    )
    try:
        line = process.stdout.readline().decode()
        assert line.startswith("Twilio emulator listening on http://127.0.0.1:"), line
        url = line.split()[4]
        assert requests.get(f"{url}/_emulator/health", timeout=5).json()["speed"] == 5
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()


# --- pure parts: outcome mix and TwiML --------------------------------------------------------


def test_default_outcome_mix_follows_the_field_figures_and_the_seed():
    numbers = [f"+1415555{i:04d}" for i in range(6000)]
    plans = [Planner(seed=7).plan(n) for n in numbers]
    shares = {answer: sum(p.answer == answer for p in plans) / len(plans) for answer in DEFAULT_MIX}
    for answer, expected in DEFAULT_MIX.items():
        assert abs(shares[answer] - expected) < 0.02, shares
    talks = [p.talk_seconds for p in plans if p.answer == "human"]
    assert 30 < sum(talks) / len(talks) < 36
    assert all(2 <= p.ring_seconds <= 10 for p in plans if p.answer == "human")

    again = Planner(seed=7)
    reversed_order = {n: again.plan(n).answer for n in reversed(numbers)}
    assert [reversed_order[n] for n in numbers] == [p.answer for p in plans]
    assert [Planner(seed=8).plan(n).answer for n in numbers[:50]] != [p.answer for p in plans[:50]]


def test_twiml_is_parsed_into_timed_verbs():
    verbs = twiml_module.parse(
        "<Response><Say loop='2'>one two three four five</Say><Play>https://x/a.mp3</Play>"
        "<Pause length='3'/><Gather timeout='2'><Say>Press 1</Say></Gather>"
        "<Dial action='/after' timeLimit='60'><Conference coach='CA"
        + "1"
        * 32
        + "' muted='true' beep='false' statusCallbackEvent='join leave'>room</Conference>"
        "</Dial><Redirect method='GET'>/next</Redirect><Dial><Number>+15551234567</Number>"
        "</Dial><Hangup/></Response>"
    )
    say, play, pause, gather, dial, redirect, unsupported, hangup = verbs
    assert say.seconds == 2 * (5 / 2.5 + 0.5)
    assert play.seconds == twiml_module.PLAY_SECONDS and pause.seconds == 3
    assert gather.timeout == 2 and isinstance(gather.children[0], twiml_module.Say)
    assert dial.action == "/after" and dial.time_limit == 60
    conference = dial.conference
    assert (conference.name, conference.muted, conference.beep) == ("room", True, "false")
    assert conference.coach == "CA" + "1" * 32
    assert conference.status_callback_events == {"join", "leave"}
    assert (redirect.url, redirect.method) == ("/next", "GET")
    assert unsupported.tag == "Dial/Number" and isinstance(hangup, twiml_module.Hangup)
    for broken in ("<Response><Say>", "<Speak/>", "<Response><Redirect/></Response>"):
        with pytest.raises(twiml_module.TwimlError):
            twiml_module.parse(broken)
