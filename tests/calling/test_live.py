"""The calling loop end to end: real gunicorn gevent server, real python-socketio volunteers,
the real twilio SDK talking to the built-in Twilio emulator, PostgreSQL."""

from __future__ import annotations

import time

from sqlalchemy import func, select

from tests.live_calling import post_signed, seed_campaign

HUMAN_STAYS = {"answer": "human", "ring_seconds": 2, "talk_seconds": None}


def ready_volunteer(stack, data):
    """The campaign's first volunteer: joined, audio connected, ready."""
    volunteer = stack.volunteer(data["volunteers"][0])
    volunteer.join(data["campaign_id"])
    volunteer.connect_audio()
    volunteer.emit("volunteer.ready", {"ready": True})
    return volunteer


def db_query(stack, fn):
    app = stack.app()
    with app.app_context():
        from phonebank.extensions import db

        try:
            return fn(db)
        finally:
            db.session.remove()
            db.engine.dispose()


def calls_of(stack):
    from phonebank.models import Call

    return db_query(stack, lambda db: db.session.scalars(select(Call).order_by(Call.id)).all())


def test_full_loop_records_outcome_and_moves_on(calling_stack):
    stack = calling_stack
    data = seed_campaign(stack.app(), people=3)
    stack.control.set_scenarios({n: HUMAN_STAYS for n in data["numbers"]})
    volunteer = stack.volunteer(data["volunteers"][0])
    joined = volunteer.join(data["campaign_id"])
    assert joined["state"]["session"]["state"] == "paused"
    assert [q["prompt"] for q in joined["form"]["questions"]] == ["Support?"]
    volunteer.connect_audio()

    volunteer.emit("volunteer.ready", {"ready": True})
    card = volunteer.wait_state("preview")["voter"]
    assert card["name"].startswith("Voter")
    assert card["phone"]["masked"].startswith("•••• ••• ")
    assert "number" not in card["phone"]
    assert "this is Volunteer" in card["script_html"]

    volunteer.emit("call.dial")
    talking = volunteer.wait_state("talking")
    assert talking["call"]["status"] == "in-progress"
    volunteer.emit("call.hangup")
    volunteer.wait_state("wrapup")
    qid = str(data["question_id"])
    reply = volunteer.submit("talked", {qid: "Yes"}, notes="Lovely chat")
    assert reply["recorded"]["duplicate"] is False
    nxt = volunteer.wait_state("preview")
    assert nxt["voter"]["target_id"] != card["target_id"]
    assert nxt["session"]["totals"]["calls"] == 1
    assert nxt["session"]["totals"]["contacts"] == 1

    from phonebank.models import Activity, Call, Person

    def check(db):
        call = db.session.scalars(select(Call)).one()
        activity = db.session.scalars(select(Activity).where(Activity.kind == "call")).one()
        person = db.session.get(Person, call.person_id)
        return call, activity, [t.name for t in person.tags]

    call, activity, tags = db_query(stack, check)
    assert call.status.value == "completed" and call.outcome_id is not None
    assert call.provider_sid.startswith("CA")
    assert activity.payload["outcome"] == "talked"
    assert activity.payload["notes"] == "Lovely chat"
    assert activity.payload["answers"][0]["answer"] == "Yes"
    assert tags == ["supporter"]
    # Twilio got what phonebank asked for: async AMD, status callbacks, the caller ID.
    created = stack.control.requests(operation="CreateCall")
    voter_calls = [r for r in created if r["params"].get("To") in data["numbers"]]
    assert voter_calls[0]["params"]["MachineDetection"] == "DetectMessageEnd"
    assert voter_calls[0]["params"]["AsyncAmd"] == "true"
    assert voter_calls[0]["params"]["From"] == "+12025550100"


def test_no_full_number_reaches_the_volunteer(calling_stack):
    stack = calling_stack
    data = seed_campaign(stack.app(), people=2)
    stack.control.set_scenarios({n: HUMAN_STAYS for n in data["numbers"]})
    volunteer = ready_volunteer(stack, data)
    volunteer.wait_state("preview")
    volunteer.emit("call.dial")
    volunteer.wait_state("talking")
    traffic = repr(volunteer.states)
    for number in data["numbers"]:
        assert number not in traffic and number[2:] not in traffic
    page = volunteer.http.get(f"{stack.server.url}/calling/{data['campaign_id']}").text
    assert not any(number[2:] in page for number in data["numbers"])


def test_power_mode_dials_by_itself_and_machines_get_voicemail(calling_stack):
    stack = calling_stack
    data = seed_campaign(stack.app(), people=2, dialing_mode="power")
    first, second = data["numbers"]
    stack.control.set_scenarios(
        {
            first: {"answer": "machine", "ring_seconds": 2, "greeting_seconds": 4},
            second: HUMAN_STAYS,
        }
    )
    volunteer = ready_volunteer(stack, data)
    # The machine is handled without the volunteer; the next voter is dialed at once.
    volunteer.wait_for(
        lambda s: s["session"]["state"] == "talking" and s["voter"]["name"] == "Voter1 Test",
        timeout=30,
    )
    from phonebank.models import Call

    def machine_call(db):
        return db.session.scalars(select(Call).where(Call.voicemail_left.is_(True))).all()

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        machine_call_list = db_query(stack, machine_call)
        if machine_call_list and machine_call_list[0].outcome_id is not None:
            break
        time.sleep(0.3)
    assert len(machine_call_list) == 1
    assert machine_call_list[0].answered_by.startswith("machine")
    said = [
        e
        for e in stack.control.log(kind="verb")
        if e.get("call_sid") == machine_call_list[0].provider_sid
    ]
    assert any("Please vote on Thursday" in str(e) for e in said)


def test_reconnect_mid_call_resumes_same_call_and_draft(calling_stack):
    stack = calling_stack
    data = seed_campaign(stack.app(), people=2)
    stack.control.set_scenarios({n: HUMAN_STAYS for n in data["numbers"]})
    volunteer = ready_volunteer(stack, data)
    volunteer.wait_state("preview")
    volunteer.emit("call.dial")
    talking = volunteer.wait_state("talking")
    call_id = talking["call"]["id"]
    qid = str(data["question_id"])
    volunteer.emit(
        "outcome.draft",
        {"call_id": call_id, "outcome": "talked", "answers": {qid: "No"}, "notes": "half"},
    )
    volunteer.drop_connection()
    time.sleep(1)
    resumed = volunteer.reconnect()["state"]
    assert resumed["call"]["id"] == call_id
    assert resumed["session"]["state"] == "talking"
    assert resumed["draft"]["answers"] == {qid: "No"}
    assert resumed["draft"]["notes"] == "half"
    # Submitting during the call hangs up and records; a resubmission writes nothing twice.
    first = volunteer.submit("talked", {qid: "No"}, submission_id="same-id")
    volunteer.drop_connection()
    volunteer.reconnect()
    again = volunteer.emit(
        "outcome.submit",
        {"call_id": call_id, "submission_id": "same-id", "outcome": "talked", "answers": {}},
    )
    assert first["recorded"] == {"call_id": call_id, "duplicate": False}
    assert again["recorded"] == {"call_id": call_id, "duplicate": True}
    from phonebank.models import Activity

    count = db_query(
        stack,
        lambda db: db.session.scalar(
            select(func.count()).select_from(Activity).where(Activity.kind == "call")
        ),
    )
    assert count == 1


def test_duplicate_and_reordered_callbacks_leave_one_result(calling_stack):
    stack = calling_stack
    data = seed_campaign(stack.app(), people=3, dialing_mode="power")
    stack.control.set_scenarios({"*": {"answer": "busy", "ring_seconds": 1}})
    stack.control.set_faults(duplicate=1.0, reorder=1.0)
    ready_volunteer(stack, data)  # power mode: the server dials all three by itself
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        calls = calls_of(stack)
        if len(calls) == 3 and all(c.outcome_id is not None for c in calls):
            break
        time.sleep(0.3)
    calls = calls_of(stack)
    assert len(calls) == 3
    assert all(c.status.value == "busy" and c.outcome_id is not None for c in calls)
    from phonebank.models import Activity

    count = db_query(
        stack,
        lambda db: db.session.scalar(
            select(func.count()).select_from(Activity).where(Activity.kind == "call")
        ),
    )
    assert count == 3  # one per call, despite every callback arriving twice and out of order
    sent = stack.control.webhooks(type="status")
    assert any(w.get("fault") == "duplicate" for w in sent)


def test_missing_final_callback_is_reconciled_from_the_api(calling_stack):
    stack = calling_stack
    data = seed_campaign(stack.app(), people=1)
    stack.control.set_scenarios({"*": {"answer": "human", "ring_seconds": 1, "talk_seconds": 2}})
    stack.control.set_faults(drop_final=1.0)
    volunteer = ready_volunteer(stack, data)
    volunteer.wait_state("preview")
    volunteer.emit("call.dial")
    volunteer.wait_state("talking")
    # The voter hangs up, the final callback is lost; the sweeper fetches the call.
    state = volunteer.wait_state("wrapup", timeout=30)
    assert state["call"]["status"] == "completed"
    fetched = [r for r in stack.control.requests(operation="FetchCall")]
    assert fetched, "the call was not fetched from the REST API"


def test_forged_and_unsigned_webhooks_are_refused(calling_stack):
    stack = calling_stack
    stack.server.expected_log.append(r"WARNING")
    data = seed_campaign(stack.app(), people=1)
    stack.control.set_scenarios({n: HUMAN_STAYS for n in data["numbers"]})
    volunteer = ready_volunteer(stack, data)
    volunteer.wait_state("preview")
    volunteer.emit("call.dial")
    call = volunteer.wait_state("talking")["call"]
    params = {"CallSid": "CA" + "0" * 32, "CallStatus": "completed", "SequenceNumber": "99"}
    path = f"/twilio/status/voter?call={call['id']}"
    forged = post_signed(stack, path, params, token="not-the-auth-token")
    assert forged.status_code == 403
    import requests

    unsigned = requests.post(stack.server.url + path, data=params, timeout=10)
    assert unsigned.status_code == 403
    amd = post_signed(
        stack, f"/twilio/amd?call={call['id']}", {"AnsweredBy": "machine_start"}, token="forged"
    )
    assert amd.status_code == 403
    time.sleep(0.5)
    assert volunteer.reconnect()["state"]["session"]["state"] == "talking"  # nothing changed
    # A correctly signed replay of old news changes nothing either.
    replay = post_signed(
        stack,
        path,
        {
            "CallSid": volunteer.state["call"] and _sid(stack, call["id"]),
            "CallStatus": "ringing",
            "SequenceNumber": "0",
        },
    )
    assert replay.status_code == 204
    assert volunteer.emit("session.resume")["state"]["call"]["status"] == "in-progress"


def _sid(stack, call_id):
    from phonebank.models import Call

    return db_query(stack, lambda db: db.session.get(Call, call_id).provider_sid)


def test_calling_window_refuses_outside_hours(calling_stack):
    stack = calling_stack
    # A zone where it is now outside 08:00-21:00: pick by the current UTC hour.
    from datetime import UTC, datetime

    from phonebank.campaigns.hours import CampaignWindow, allowed_at

    now = datetime.now(UTC)
    candidates = [
        "Pacific/Kiritimati",
        "Asia/Tokyo",
        "Europe/London",
        "America/New_York",
        "Pacific/Honolulu",
        "Asia/Kolkata",
    ]
    closed = next(z for z in candidates if not allowed_at(now, f"{z}|", CampaignWindow()))
    data = seed_campaign(stack.app(), people=2, zone=closed, state="")
    volunteer = ready_volunteer(stack, data)
    state = volunteer.wait_for(lambda s: s["session"]["notice"].get("reason") == "outside_hours")
    assert state["voter"] is None
    assert state["session"]["notice"]["next_at"]
    assert not stack.control.requests(operation="CreateCall")[1:]  # only the audio leg, if any


def test_do_not_call_set_between_claim_and_dial_is_honoured(calling_stack):
    stack = calling_stack
    data = seed_campaign(stack.app(), people=2)
    stack.control.set_scenarios({n: HUMAN_STAYS for n in data["numbers"]})
    volunteer = ready_volunteer(stack, data)
    card = volunteer.wait_state("preview")["voter"]
    from phonebank.models import CampaignTarget, Person

    def flag(db):
        from phonebank.supporters import services as supporters

        target = db.session.get(CampaignTarget, card["target_id"])
        person = db.session.get(Person, target.person_id)
        supporters.set_person_flags(person, module="email", do_not_call=True)
        db.session.commit()
        return person.id

    person_id = db_query(stack, flag)
    volunteer.emit("call.dial")
    # The withdrawn voter is replaced by the next one; nobody dialed the flagged person.
    nxt = volunteer.wait_for(
        lambda s: s["voter"] is not None and s["voter"]["target_id"] != card["target_id"]
    )
    assert nxt["session"]["state"] == "preview"
    dialed = {c.person_id for c in calls_of(stack)}
    assert person_id not in dialed
    to_numbers = [r["params"].get("To") for r in stack.control.requests(operation="CreateCall")]
    assert data["numbers"][data["person_ids"].index(person_id)] not in to_numbers
