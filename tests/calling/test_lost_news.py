"""When Twilio's news goes missing: a final callback lost on a talking call, a dial whose answer
never came back, a voter who answers after the volunteer has moved on. Live server, emulator,
PostgreSQL; the reconcile schedule is set far off, so only the paths under test can help."""

from __future__ import annotations

import time

import pytest

from tests.calling.test_live import calls_of, ready_volunteer
from tests.live_calling import CallingStack, post_signed, seed_campaign


@pytest.fixture
def slow_sweeper_stack(postgres_url, tmp_path):
    """The sweeper runs every second but checks talking calls only after an hour."""
    stack = CallingStack(
        postgres_url,
        tmp_path,
        PHONEBANK_SWEEP_INTERVAL_SECONDS="1",
        PHONEBANK_RECONCILE_TALKING_AFTER_SECONDS="3600",
        PHONEBANK_TWILIO_TIMEOUT_SECONDS="1",
    ).start()
    yield stack
    stack.stop()


def emulator_status(stack, call_sid: str) -> str:
    return stack.control.call(call_sid)["status"]


def wait_until(predicate, what: str, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_hang_up_on_a_dead_line_ends_the_call_at_once(slow_sweeper_stack):
    """The voter hung up and the final callback was lost: the page still says "Talking".
    Hang up gets Twilio's "not in progress" answer, and phonebank takes the final status from
    Twilio there and then, so the volunteer is in wrap-up and the person is free."""
    stack = slow_sweeper_stack
    stack.server.expected_log.append(r"WARNING")
    data = seed_campaign(stack.app(), people=1)
    stack.control.set_scenarios({"*": {"answer": "human", "ring_seconds": 1, "talk_seconds": 2}})
    stack.control.set_faults(drop_final=1.0)
    volunteer = ready_volunteer(stack, data)
    volunteer.wait_state("preview")
    volunteer.emit("call.dial")
    volunteer.wait_state("talking")
    sid = wait_until(lambda: calls_of(stack)[0].provider_sid, "the call's SID")
    wait_until(lambda: emulator_status(stack, sid) == "completed", "the voter hanging up")
    time.sleep(1.5)  # several sweeps: none of them touches a call talking for under an hour
    assert volunteer.reconnect()["state"]["session"]["state"] == "talking"

    reply = volunteer.emit("call.hangup")
    assert reply["state"]["session"]["state"] == "wrapup"
    assert reply["state"]["call"]["status"] == "completed"
    (call,) = calls_of(stack)
    assert call.status == "completed" and call.duration_seconds is not None
    volunteer.submit("talked")  # and the outcome is recorded as usual
    assert calls_of(stack)[0].outcome_id is not None


def test_a_dial_whose_answer_was_lost_is_found_at_twilio(slow_sweeper_stack):
    """Twilio placed the call but its answer came back too late: phonebank finds the call at
    Twilio, adopts it and goes on, rather than marking a ringing call "not placed"."""
    stack = slow_sweeper_stack
    stack.server.expected_log.append(r"WARNING")
    data = seed_campaign(stack.app(), people=1)
    stack.control.set_scenarios({"*": {"answer": "human", "ring_seconds": 2, "talk_seconds": None}})
    stack.control.set_faults(rest_delay={"CreateCall": 2.5})  # past the 1-second timeout
    volunteer = ready_volunteer(stack, data)
    volunteer.wait_state("preview")
    volunteer.emit("call.dial")
    talking = volunteer.wait_state("talking", timeout=30)
    assert talking["call"]["status"] == "in-progress"
    (call,) = calls_of(stack)
    assert call.provider_sid and call.end_reason is None
    assert len(stack.control.requests("CreateCall")) == 1  # placed once, never twice
    volunteer.emit("call.hangup")
    volunteer.wait_state("wrapup")
    volunteer.submit("talked")
    assert calls_of(stack)[0].outcome_id is not None


def test_with_its_callbacks_lost_too_the_call_is_found_by_listing(slow_sweeper_stack):
    """No answer to the dial and no callbacks either: phonebank lists the calls Twilio placed
    to that number, adopts its own, and shows it ringing rather than "not placed"."""
    stack = slow_sweeper_stack
    stack.server.expected_log.append(r"WARNING")
    data = seed_campaign(stack.app(), people=1)
    stack.control.set_scenarios(
        {"*": {"answer": "human", "ring_seconds": 20, "talk_seconds": None}}
    )
    stack.control.set_faults(drop=1.0, drop_final=1.0, rest_delay={"CreateCall": 2.5})
    volunteer = ready_volunteer(stack, data)
    volunteer.wait_state("preview")
    volunteer.emit("call.dial")
    state = volunteer.wait_for(lambda s: s["call"] and s["call"]["status"] == "ringing")
    assert state["session"]["notice"].get("reason") != "provider_error"
    assert stack.control.requests("ListCall"), "phonebank did not look for the call at Twilio"
    (create,) = stack.control.requests("CreateCall")
    (call,) = calls_of(stack)
    assert call.provider_sid is not None and call.status == "ringing"


def test_a_voter_who_answers_after_the_volunteer_moved_on_is_not_left_alone(
    slow_sweeper_stack,
):
    """The call was given up (recorded, the volunteer moved on) when the voter's answer
    reached phonebank: they hear a short message naming the campaign, never an empty
    conference or another voter's call."""
    stack = slow_sweeper_stack
    data = seed_campaign(stack.app(), people=2)
    stack.control.set_scenarios({"*": {"answer": "human", "ring_seconds": 1, "talk_seconds": None}})
    volunteer = ready_volunteer(stack, data)
    volunteer.wait_state("preview")
    volunteer.emit("call.dial")
    volunteer.wait_state("talking")
    first = calls_of(stack)[0]
    answer = {"CallSid": first.provider_sid, "CallStatus": "in-progress"}
    joined = post_signed(stack, f"/twilio/voice/voter?call={first.id}", answer)
    assert "<Conference" in joined.text  # while the volunteer has this call: join them
    volunteer.submit("talked")
    volunteer.wait_state("preview")  # on to the next voter
    late = post_signed(stack, f"/twilio/voice/voter?call={first.id}", answer)
    assert late.status_code == 200
    assert "<Conference" not in late.text and "<Hangup" in late.text
    assert "Live test campaign" in late.text
