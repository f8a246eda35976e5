"""Recorded outcomes and Twilio's callbacks, on SQLite and PostgreSQL: what each outcome bucket
writes back to the supporter store and the queue, idempotency, survey answers, out-of-order and
duplicate callbacks, answering machines, and the last check before dialing.

No network: calls are prepared with ``prepare_call`` and given a SID by hand (see helpers.py).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from phonebank.calling import queue
from phonebank.calling import services as calling
from phonebank.calling.queue import NothingToCall, claim_next_voter
from phonebank.calling.services import CallingError, OutcomeError
from phonebank.campaigns import services as campaigns
from phonebank.extensions import db
from phonebank.models import (
    Activity,
    Attendance,
    Call,
    CallStatus,
    DialingMode,
    DoNotCallNumber,
    OutcomeBucket,
    PersonTag,
    PhoneStatus,
    QuestionKind,
    RsvpStatus,
    SurveyQuestion,
    TargetStatus,
)
from phonebank.supporters import services as supporters
from tests.calling.helpers import (
    NOW,
    amd,
    answer,
    call_activities,
    count,
    dial,
    enlist,
    make_campaign,
    make_person,
    new_number,
    open_session,
    submit,
    target_of,
    twilio,
    volunteer,
)


def activities(person, kind: str) -> list[Activity]:
    return list(
        db.session.scalars(
            select(Activity)
            .where(Activity.person_id == person.id, Activity.kind == kind)
            .order_by(Activity.id)
        )
    )


def tag_names(person) -> set[str]:
    db.session.expire(person, ["tags"])
    return {t.name for t in person.tags}


def fresh(obj):
    db.session.refresh(obj)
    return obj


def nothing(campaign, now=NOW) -> NothingToCall:
    with pytest.raises(NothingToCall) as raised:
        claim_next_voter(campaign, volunteer(), now)
    return raised.value


def never_claimed(campaign, now=NOW) -> None:
    """Nobody can be claimed (why is test_queue's business)."""
    nothing(campaign, now)


def one_call(campaign, clock, **person_kwargs):
    """A campaign with one person on its list, dialed by a ready volunteer."""
    person = make_person(**person_kwargs)
    enlist(campaign, person)
    session = open_session(campaign)
    call = dial(session, clock)
    return person, session, call


# --- defaults ------------------------------------------------------------------------------


def test_a_new_campaign_gets_the_default_outcomes(db):
    campaign = campaigns.create_campaign("Plain")
    assert [o.code for o in campaign.outcomes] == [s.code for s in campaigns.DEFAULT_OUTCOMES]
    assert (campaign.window_start, campaign.window_end, campaign.max_attempts) == (480, 1260, 3)
    expected = {
        "busy": "busy",
        "no-answer": "no_answer",
        "failed": "disconnected",
        "machine": "machine",
        "voicemail": "left_message",
        "fax": "fax",
    }
    for situation, code in expected.items():
        assert campaigns.auto_outcome(campaign.id, situation).code == code
    buckets = {o.code: o.bucket for o in campaign.outcomes}
    assert buckets["talked"] == buckets["refused"] == buckets["call_back"] == OutcomeBucket.CONTACT
    assert buckets["wrong_number"] == buckets["disconnected"] == OutcomeBucket.BAD_NUMBER
    assert buckets["do_not_call"] == buckets["deceased"] == buckets["moved"] == OutcomeBucket.NEVER


# --- contact: the survey -------------------------------------------------------------------


@pytest.fixture
def survey(db):
    """A campaign whose survey tags supporters, asks a follow-up only of strong supporters,
    collects issues and comments, and takes RSVPs for Saturday's rally."""
    campaign = make_campaign("Referendum")
    rally = supporters.create_event("Saturday rally", NOW + timedelta(days=3))
    main = SurveyQuestion(
        campaign_id=campaign.id,
        position=0,
        kind=QuestionKind.SINGLE,
        prompt="How will you vote?",
        choices=["Strong yes", "Lean yes", "Undecided", "No"],
        is_main=True,
        answer_tags={"Strong yes": ["supporter", "yes-voter"], "Lean yes": ["yes-voter"]},
    )
    db.session.add(main)
    db.session.flush()
    follow_up = SurveyQuestion(
        campaign_id=campaign.id,
        position=1,
        kind=QuestionKind.SINGLE,
        prompt="Will you volunteer?",
        choices=["Yes", "No"],
        answer_tags={"Yes": ["volunteer-prospect"]},
        show_if_question_id=main.id,
        show_if_value="Strong yes",
    )
    rsvp = SurveyQuestion(
        campaign_id=campaign.id,
        position=2,
        kind=QuestionKind.SINGLE,
        prompt="Coming to the rally?",
        choices=["Yes", "Maybe", "No"],
        event_id=rally.id,
        rsvp_map={"Yes": "yes", "Maybe": "maybe", "No": "no"},
    )
    issues = SurveyQuestion(
        campaign_id=campaign.id,
        position=3,
        kind=QuestionKind.MULTIPLE,
        prompt="Which issues matter?",
        choices=["Housing", "Health", "Schools"],
        answer_tags={"Housing": ["housing"]},
    )
    comments = SurveyQuestion(
        campaign_id=campaign.id, position=4, kind=QuestionKind.TEXT, prompt="Anything else?"
    )
    db.session.add_all([follow_up, rsvp, issues, comments])
    db.session.flush()
    db.session.expire(campaign, ["questions"])
    return SurveySetup(campaign, rally, main, follow_up, rsvp, issues, comments)


class SurveySetup:
    def __init__(self, campaign, rally, main, follow_up, rsvp, issues, comments):
        self.campaign = campaign
        self.rally = rally
        self.main, self.follow_up, self.rsvp = main, follow_up, rsvp
        self.issues, self.comments = issues, comments

    def answers(self, **by_name):
        return {str(getattr(self, name).id): value for name, value in by_name.items()}


def test_contact_with_survey_answers_writes_everything_back(survey, clock):
    person, session, call = one_call(survey.campaign, clock)
    answer(call)
    clock.advance(seconds=95)
    twilio(call, "completed", 3, duration=95)
    assert call.status == CallStatus.COMPLETED
    assert call.duration_seconds == 95

    answers = survey.answers(
        main="Strong yes",
        follow_up="Yes",
        rsvp="Yes",
        issues=["Schools", "Housing"],
        comments="  Call after six  ",
    )
    recorded, written, hang_up_sid = submit(
        session, call, "talked", answers=answers, notes="  Very keen  ", submission_id="sub-1"
    )
    assert (recorded, written, hang_up_sid) == (call, True, None)

    # The call.
    assert call.outcome.code == "talked"
    assert call.outcome_by_id == session.user_id
    assert call.outcome_at == clock.now
    assert call.submission_id == "sub-1"
    assert call.notes == "Very keen"
    assert call.answers == survey.answers(
        main="Strong yes",
        follow_up="Yes",
        rsvp="Yes",
        issues=["Housing", "Schools"],  # in the question's order
        comments="Call after six",
    )
    # The queue: talked ends this campaign's attempts.
    target = call.target
    assert target.status == TargetStatus.DONE
    assert target.done_reason == "talked"
    assert target.last_outcome == "talked"
    assert target.claimed_by_id is None
    assert target.attempts == 1
    # The history in the supporter store.
    [activity] = call_activities(person)
    assert activity.module == "calling"
    assert activity.actor_user_id == session.user_id
    assert activity.campaign_id == survey.campaign.id
    payload = activity.payload
    assert payload["call_id"] == call.id
    assert payload["phone_id"] == call.phone_id
    assert payload["outcome"] == "talked"
    assert payload["outcome_label"] == "Talked to them"
    assert payload["bucket"] == "contact"
    assert payload["notes"] == "Very keen"
    assert payload["duration_seconds"] == 95
    assert payload["recorded_by"] == "volunteer"
    assert payload["answers"] == [
        {"question_id": survey.main.id, "question": "How will you vote?", "answer": "Strong yes"},
        {"question_id": survey.follow_up.id, "question": "Will you volunteer?", "answer": "Yes"},
        {"question_id": survey.rsvp.id, "question": "Coming to the rally?", "answer": "Yes"},
        {
            "question_id": survey.issues.id,
            "question": "Which issues matter?",
            "answer": ["Housing", "Schools"],
        },
        {
            "question_id": survey.comments.id,
            "question": "Anything else?",
            "answer": "Call after six",
        },
    ]
    # Tags configured on the answers.
    assert tag_names(person) == {"supporter", "yes-voter", "volunteer-prospect", "housing"}
    # The RSVP, on the event's list.
    attendance = db.session.scalar(
        select(Attendance).where(
            Attendance.event_id == survey.rally.id, Attendance.person_id == person.id
        )
    )
    assert attendance.status == RsvpStatus.YES
    assert attendance.source == "calling"
    [rsvp] = activities(person, "rsvp")
    assert rsvp.payload["event_id"] == survey.rally.id
    assert rsvp.campaign_id == survey.campaign.id
    # The volunteer's session moves on.
    assert session.contacts_made == 1
    assert session.current_call_id is None
    assert session.current_target_id is None
    # Nobody calls them again in this campaign.
    never_claimed(survey.campaign)


def test_rsvp_follows_the_answer(survey, clock):
    person, session, call = one_call(survey.campaign, clock)
    answer(call)
    submit(session, call, "talked", answers=survey.answers(rsvp="Maybe"))
    attendance = db.session.scalar(select(Attendance).where(Attendance.person_id == person.id))
    assert attendance.status == RsvpStatus.MAYBE


def test_outcome_saved_during_the_call_ends_the_call(survey, clock):
    person, session, call = one_call(survey.campaign, clock)
    answer(call)
    clock.advance(seconds=40)
    recorded, written, hang_up_sid = submit(session, call, "talked")
    assert written
    assert hang_up_sid == call.provider_sid  # hung up after commit by the caller
    assert call.end_reason == "volunteer_hung_up"
    assert call.outcome.code == "talked"
    # The history is append-only: the talk time so far must be in it now, not only on the call.
    [activity] = call_activities(person)
    assert activity.payload["duration_seconds"] == 40
    clock.advance(seconds=1)
    twilio(call, "completed", 3, duration=41)
    assert call.status == CallStatus.COMPLETED
    assert call.duration_seconds == 41
    assert call.outcome.code == "talked"
    assert len(call_activities(person)) == 1


@pytest.mark.parametrize("code", ["refused", "hostile"])
def test_refused_ends_attempts(survey, clock, code):
    person, session, call = one_call(survey.campaign, clock)
    answer(call)
    submit(session, call, code)
    target = target_of(survey.campaign, person)
    assert target.status == TargetStatus.DONE
    assert target.done_reason == code
    assert not fresh(person).do_not_call  # a refusal is not an opt-out
    never_claimed(survey.campaign)
    assert session.contacts_made == 1


# --- contact: call back later --------------------------------------------------------------


def test_call_back_later_schedules_a_priority_call(survey, clock):
    person, session, call = one_call(survey.campaign, clock)
    other = make_person("Other")
    enlist(survey.campaign, other)
    answer(call)
    when = NOW + timedelta(days=2)
    submit(session, call, "call_back", callback_at=when)
    target = target_of(survey.campaign, person)
    assert target.status == TargetStatus.QUEUED
    assert target.priority == 0
    assert target.due_at == when
    assert target.claimed_by_id is None
    [activity] = call_activities(person)
    assert activity.payload["callback_at"] == when.isoformat()
    assert activity.payload["bucket"] == "contact"
    # Not before the promised time ...
    before = claim_next_voter(survey.campaign, volunteer(), when - timedelta(minutes=1))
    assert before.target.person_id == other.id
    queue.release_claim(before.target)
    # ... and first in line at it, ahead of people never called.
    got = claim_next_voter(survey.campaign, volunteer(), when)
    assert got.target.person_id == person.id


def test_a_call_back_beyond_max_attempts_is_still_made(db, clock):
    campaign = make_campaign(max_attempts=1)
    person, session, call = one_call(campaign, clock)
    answer(call)
    when = NOW + timedelta(hours=3)
    submit(session, call, "call_back", callback_at=when)
    assert target_of(campaign, person).attempts == 1
    assert claim_next_voter(campaign, volunteer(), when).target.person_id == person.id


def test_call_back_refuses_past_missing_or_far_times(survey, clock):
    person, session, call = one_call(survey.campaign, clock)
    answer(call)
    for when in (None, NOW - timedelta(minutes=1), NOW, NOW + timedelta(days=61)):
        with pytest.raises(OutcomeError):
            submit(session, call, "call_back", callback_at=when)
    assert call.outcome_id is None
    assert call_activities(person) == []
    assert target_of(survey.campaign, person).status == TargetStatus.IN_CALL


# --- retry later ---------------------------------------------------------------------------


@pytest.mark.parametrize(("code", "minutes"), [("no_answer", 240), ("busy", 60), ("machine", 240)])
def test_retry_outcome_waits_the_campaigns_delay(db, clock, code, minutes):
    campaign = make_campaign()
    person, session, call = one_call(campaign, clock)
    twilio(call, "ringing", 1)
    submit(session, call, code)
    target = target_of(campaign, person)
    assert target.status == TargetStatus.QUEUED
    assert target.priority == 1
    assert target.due_at == NOW + timedelta(minutes=minutes)
    assert target.attempts == 1
    assert session.contacts_made == 0
    refused = nothing(campaign)
    assert refused.reason == "waiting_for_retry"
    assert refused.next_at == NOW + timedelta(minutes=minutes)


def test_retries_stop_at_max_attempts(db, clock):
    campaign = make_campaign(max_attempts=2)
    person = make_person()
    enlist(campaign, person)
    session = open_session(campaign)
    first = dial(session, clock)
    twilio(first, "ringing", 1)
    twilio(first, "no-answer", 2)
    assert target_of(campaign, person).status == TargetStatus.QUEUED
    clock.advance(minutes=240)
    second = dial(session, clock)
    assert second.person_id == person.id
    twilio(second, "ringing", 1)
    twilio(second, "no-answer", 2)
    target = target_of(campaign, person)
    assert target.attempts == 2
    assert target.status == TargetStatus.DONE
    assert target.done_reason == "max_attempts"
    assert len(call_activities(person)) == 2
    clock.advance(minutes=240)
    never_claimed(campaign, clock.now)


def test_left_message_ends_attempts(db, clock):
    campaign = make_campaign()
    person, session, call = one_call(campaign, clock)
    answer(call)
    submit(session, call, "left_message")
    target = target_of(campaign, person)
    assert target.status == TargetStatus.DONE
    assert target.done_reason == "left_message"


# --- number bad ----------------------------------------------------------------------------


def test_wrong_number_marks_that_phone_bad_and_keeps_the_person(db, clock):
    campaign = make_campaign()
    mobile, home = new_number(), new_number()
    person, session, call = one_call(campaign, clock, phones=[(mobile, "mobile"), (home, "home")])
    assert call.phone.number == mobile
    answer(call)
    submit(session, call, "wrong_number")
    phones = {p.number: fresh(p) for p in person.phones}
    assert phones[mobile].status == PhoneStatus.BAD
    assert phones[mobile].status_reason == "wrong_number"
    assert phones[home].status == PhoneStatus.OK
    target = target_of(campaign, person)
    assert target.status == TargetStatus.QUEUED
    assert target.due_at <= NOW
    assert not fresh(person).do_not_call
    assert db.session.get(DoNotCallNumber, mobile) is None
    [status_change] = activities(person, "phone_status")
    assert status_change.payload["reason"] == "wrong_number"
    # The next attempt uses the other phone.
    again = claim_next_voter(campaign, volunteer(), NOW)
    assert again.target.person_id == person.id
    assert again.phone.number == home


def test_bad_number_on_the_only_phone_finishes_the_person(db, clock):
    campaign = make_campaign()
    person, session, call = one_call(campaign, clock)
    answer(call)
    submit(session, call, "disconnected")
    assert fresh(call.phone).status == PhoneStatus.BAD
    target = target_of(campaign, person)
    assert target.status == TargetStatus.DONE
    assert target.done_reason == "no_good_phone"
    never_claimed(campaign)


# --- never ---------------------------------------------------------------------------------


def test_do_not_call_is_honoured_everywhere(db, clock):
    campaign, elsewhere = make_campaign("This"), make_campaign("Elsewhere")
    number = new_number()
    person, session, call = one_call(
        campaign, clock, phones=[(number, "home"), (new_number(), "work")]
    )
    housemate = make_person("Housemate", phones=[(number, "home")])
    enlist(elsewhere, person, housemate)
    answer(call)
    submit(session, call, "do_not_call", notes="Asked never to be called")
    assert fresh(person).do_not_call
    listed = db.session.get(DoNotCallNumber, number)
    assert listed is not None
    assert listed.source == "calling"
    target = target_of(campaign, person)
    assert target.status == TargetStatus.DONE
    assert target.done_reason == "do_not_call"
    [flag] = activities(person, "flag")
    assert flag.payload["flags"] == ["do_not_call"]
    assert flag.actor_user_id == session.user_id
    # Not in another campaign, and not at that number for anyone.
    never_claimed(elsewhere)
    assert target_of(elsewhere, person).status == TargetStatus.QUEUED
    assert target_of(elsewhere, housemate).status == TargetStatus.QUEUED


@pytest.mark.parametrize("code", ["deceased", "moved"])
def test_deceased_and_moved_set_the_person_flag(db, clock, code):
    campaign, elsewhere = make_campaign("This"), make_campaign("Elsewhere")
    number = new_number()
    person, session, call = one_call(campaign, clock, phones=[(number, "mobile")])
    enlist(elsewhere, person)
    answer(call)
    submit(session, call, code)
    assert getattr(fresh(person), code) is True
    assert not person.do_not_call
    assert db.session.get(DoNotCallNumber, number) is None
    target = target_of(campaign, person)
    assert target.status == TargetStatus.DONE
    assert target.done_reason == code
    never_claimed(elsewhere)


# --- idempotency ---------------------------------------------------------------------------


def test_resubmitting_the_same_submission_writes_nothing_twice(survey, clock):
    person, session, call = one_call(survey.campaign, clock)
    answer(call)
    twilio(call, "completed", 3, duration=60)
    answers = survey.answers(main="Strong yes", rsvp="Yes")
    first = submit(session, call, "talked", answers=answers, submission_id="same-form")
    db.session.commit()
    assert first == (call, True, None)
    tags_before = count(PersonTag, PersonTag.person_id == person.id)
    activities_before = count(Activity, Activity.person_id == person.id)

    again = submit(session, call, "talked", answers=answers, submission_id="same-form")
    # A reconnecting page may even resend a changed form with the same id: still nothing new.
    changed = submit(session, call, "refused", answers={}, submission_id="same-form")
    db.session.commit()

    assert again == (call, False, None)
    assert changed == (call, False, None)
    assert len(call_activities(person)) == 1
    assert count(Activity, Activity.person_id == person.id) == activities_before
    assert count(PersonTag, PersonTag.person_id == person.id) == tags_before
    assert count(Attendance, Attendance.person_id == person.id) == 1
    assert fresh(call).outcome.code == "talked"
    assert fresh(session).contacts_made == 1


def test_another_volunteer_cannot_reuse_a_submission_id(survey, clock):
    person, session, call = one_call(survey.campaign, clock)
    answer(call)
    submit(session, call, "talked", submission_id="theirs")
    intruder = open_session(survey.campaign)
    with pytest.raises(OutcomeError):
        submit(intruder, call, "refused", submission_id="theirs")


def test_a_second_different_submission_is_refused(survey, clock):
    person, session, call = one_call(survey.campaign, clock)
    answer(call)
    submit(session, call, "talked", submission_id="first")
    with pytest.raises(OutcomeError, match="already recorded"):
        submit(session, call, "refused", submission_id="second")
    assert call.outcome.code == "talked"
    assert call.submission_id == "first"
    assert len(call_activities(person)) == 1
    assert target_of(survey.campaign, person).done_reason == "talked"


def test_only_the_calls_volunteer_records_its_outcome(survey, clock):
    person, session, call = one_call(survey.campaign, clock)
    answer(call)
    other = open_session(survey.campaign)
    with pytest.raises(OutcomeError):
        submit(other, call, "talked")
    assert call.outcome_id is None


def test_a_submission_needs_an_id_and_a_known_active_outcome(survey, clock):
    person, session, call = one_call(survey.campaign, clock)
    answer(call)
    for submission_id in ("", "x" * 65):
        with pytest.raises(OutcomeError):
            submit(session, call, "talked", submission_id=submission_id)
    with pytest.raises(OutcomeError):
        submit(session, call, "maybe_later")
    campaigns.outcome_by_code(survey.campaign.id, "hostile").active = False
    with pytest.raises(OutcomeError):
        submit(session, call, "hostile")
    assert call.outcome_id is None
    assert call_activities(person) == []


# --- survey answers ------------------------------------------------------------------------


def test_an_invalid_choice_is_refused_and_nothing_is_written(survey, clock):
    person, session, call = one_call(survey.campaign, clock)
    answer(call)
    for answers in (
        {"main": "Maybe?"},
        {"main": ["Strong yes"]},
        {"issues": ["Housing", "Transport"]},
        {"main": "Strong yes", "follow_up": "Definitely", "rsvp": "Yes"},
    ):
        with pytest.raises(OutcomeError):
            submit(session, call, "talked", answers=survey.answers(**answers))
    with pytest.raises(OutcomeError):
        submit(session, call, "talked", answers=["Strong yes"])  # malformed
    assert call.outcome_id is None
    assert call_activities(person) == []
    assert tag_names(person) == set()
    assert count(Attendance) == 0
    assert target_of(survey.campaign, person).status == TargetStatus.IN_CALL


def test_answers_to_hidden_questions_are_dropped(survey, clock):
    person, session, call = one_call(survey.campaign, clock)
    answer(call)
    submit(
        session, call, "talked", answers=survey.answers(main="No", follow_up="Yes", issues="Health")
    )
    assert call.answers == survey.answers(main="No", issues=["Health"])
    assert tag_names(person) == set()  # "volunteer-prospect" came from a hidden question
    [activity] = call_activities(person)
    assert [a["question_id"] for a in activity.payload["answers"]] == [
        survey.main.id,
        survey.issues.id,
    ]


def test_blank_and_unknown_answers_are_ignored(survey, clock):
    person, session, call = one_call(survey.campaign, clock)
    answer(call)
    submit(
        session,
        call,
        "talked",
        answers={
            str(survey.main.id): "",
            str(survey.issues.id): [],
            str(survey.comments.id): "x" * 3000,
            "999999": "Strong yes",
        },
    )
    assert call.answers == {str(survey.comments.id): "x" * 2000}


# --- Twilio's status callbacks -------------------------------------------------------------


def test_duplicate_callbacks_apply_once(db, clock):
    campaign = make_campaign()
    person, session, call = one_call(campaign, clock)
    twilio(call, "initiated", 0)
    twilio(call, "ringing", 1)
    twilio(call, "ringing", 1)
    clock.advance(seconds=5)
    twilio(call, "in-progress", 2)
    answered_at = call.answered_at
    clock.advance(seconds=5)
    twilio(call, "in-progress", 2)
    assert call.answered_at == answered_at == NOW + timedelta(seconds=5)
    clock.advance(seconds=42)
    twilio(call, "completed", 3, duration=42)
    ended_at = call.ended_at
    clock.advance(seconds=30)
    twilio(call, "completed", 3, duration=42)
    twilio(call, "completed", 4, duration=99)  # even a later final status changes nothing
    assert call.status == CallStatus.COMPLETED
    assert call.ended_at == ended_at
    assert call.duration_seconds == 42
    assert call.last_sequence == 3
    assert session.talk_seconds == 42
    assert call.outcome_id is None  # a person answered: the volunteer records the outcome


def test_final_status_before_ringing(db, clock):
    campaign = make_campaign()
    person, session, call = one_call(campaign, clock)
    twilio(call, "completed", 3, duration=30)
    twilio(call, "initiated", 0)
    twilio(call, "ringing", 1)
    twilio(call, "in-progress", 2)
    assert call.status == CallStatus.COMPLETED
    assert call.last_sequence == 3
    assert call.duration_seconds == 30
    assert call.ended_at == NOW
    assert session.talk_seconds == 30


def test_older_or_same_sequence_news_never_overwrites_newer(db, clock):
    campaign = make_campaign()
    person, session, call = one_call(campaign, clock)
    twilio(call, "ringing", 1)
    twilio(call, "in-progress", 1)  # the same SequenceNumber again: the first one stands
    assert call.status == CallStatus.RINGING
    assert call.answered_at is None
    clock.advance(seconds=3)
    twilio(call, "in-progress", 3)
    twilio(call, "ringing", 2)
    twilio(call, "initiated", 0)
    assert call.status == CallStatus.IN_PROGRESS
    assert call.last_sequence == 3
    assert call.answered_at == NOW + timedelta(seconds=3)


def test_foreign_unknown_and_malformed_callbacks_are_ignored(db, clock):
    campaign = make_campaign()
    person, session, call = one_call(campaign, clock)
    result = calling.apply_status_callback(
        call.id, {"CallSid": "CA" + "f" * 32, "CallStatus": "busy", "SequenceNumber": "5"}
    )
    assert result is None  # another call's SID
    assert calling.apply_status_callback(424242, {"CallStatus": "ringing"}) is None
    calling.apply_status_callback(
        call.id, {"CallSid": call.provider_sid, "CallStatus": "exploded", "SequenceNumber": "1"}
    )
    calling.apply_status_callback(
        call.id, {"CallSid": call.provider_sid, "CallStatus": "ringing", "SequenceNumber": "x"}
    )
    db.session.commit()
    assert call.status == CallStatus.QUEUED
    assert call.last_sequence == -1
    assert call.outcome_id is None


@pytest.mark.parametrize(
    ("status", "code", "minutes", "in_order"),
    [
        ("busy", "busy", 60, True),
        ("busy", "busy", 60, False),
        ("no-answer", "no_answer", 240, True),
        ("no-answer", "no_answer", 240, False),
        ("canceled", "no_answer", 240, True),
    ],
)
def test_busy_and_no_answer_record_their_outcome_exactly_once(
    db, clock, status, code, minutes, in_order
):
    campaign = make_campaign()
    person, session, call = one_call(campaign, clock)
    if in_order:
        twilio(call, "initiated", 0)
        twilio(call, "ringing", 1)
    twilio(call, status, 2)
    twilio(call, status, 2)
    twilio(call, "ringing", 1)
    twilio(call, status, 3)
    assert call.status == CallStatus(status)
    assert call.outcome.code == code
    assert call.outcome_by_id is None
    [activity] = call_activities(person)
    assert activity.payload["recorded_by"] == "automatic"
    assert activity.payload["outcome"] == code
    target = target_of(campaign, person)
    assert target.status == TargetStatus.QUEUED
    assert target.due_at == NOW + timedelta(minutes=minutes)
    assert target.attempts == 1
    assert session.current_call_id is None
    assert session.contacts_made == 0
    assert session.talk_seconds == 0


def test_failed_call_records_disconnected_exactly_once(db, clock):
    campaign = make_campaign()
    person, session, call = one_call(campaign, clock)
    twilio(call, "failed", 1)
    twilio(call, "failed", 1)
    twilio(call, "failed", 2)
    assert call.outcome.code == "disconnected"
    assert len(call_activities(person)) == 1
    assert len(activities(person, "phone_status")) == 1
    assert fresh(call.phone).status == PhoneStatus.BAD
    assert call.phone.status_reason == "disconnected"
    assert target_of(campaign, person).done_reason == "no_good_phone"


def test_volunteer_cannot_overwrite_an_automatic_outcome(db, clock):
    campaign = make_campaign()
    person, session, call = one_call(campaign, clock)
    twilio(call, "busy", 1)
    with pytest.raises(OutcomeError):
        submit(session, call, "talked")
    assert call.outcome.code == "busy"


def test_volunteers_outcome_before_the_final_callback_stands(db, clock):
    campaign = make_campaign()
    person, session, call = one_call(campaign, clock)
    twilio(call, "ringing", 1)
    _, written, hang_up_sid = submit(session, call, "no_answer")
    assert written and hang_up_sid == call.provider_sid
    twilio(call, "no-answer", 2)
    assert call.status == CallStatus.NO_ANSWER
    assert call.outcome.code == "no_answer"
    assert call.outcome_by_id == session.user_id
    assert len(call_activities(person)) == 1


# --- answering machines --------------------------------------------------------------------


def test_machine_with_a_campaign_voicemail_leaves_it_and_ends_attempts(db, clock):
    campaign = make_campaign(voicemail_text="Hello from the Yes campaign, vote on Thursday!")
    person, session, call = one_call(campaign, clock)
    next_person = make_person("Next")
    enlist(campaign, next_person)
    answer(call)
    machine_call, twiml = amd(call, "machine_end_beep")
    assert machine_call == call
    assert "Hello from the Yes campaign" in twiml
    assert f"/twilio/voice/voicemail-left?call={call.id}" in twiml
    assert not call.voicemail_left  # not yet: only once it has played to its end
    assert call.answered_by == "machine_end_beep"
    assert call.outcome_id is None  # recorded when the call ends
    # The volunteer is released at once and gets the next person; this one stays in the call.
    assert session.current_call_id is None
    assert session.current_target_id is None
    assert session.notice["reason"] == "machine"
    assert target_of(campaign, person).status == TargetStatus.IN_CALL
    assert calling.present_next_voter(session).person_id == next_person.id
    # A duplicate AMD result changes nothing.
    assert amd(call, "human") == (call, None)
    assert call.answered_by == "machine_end_beep"

    clock.advance(seconds=28)
    calling.voicemail_played(call.id)  # the message's last step asks for this
    db.session.commit()
    assert call.voicemail_left
    twilio(call, "completed", 3, duration=28)
    twilio(call, "completed", 3, duration=28)
    assert call.outcome.code == "left_message"
    assert call.outcome_by_id is None
    [activity] = call_activities(person)
    assert activity.payload["voicemail_left"] is True
    assert activity.payload["answered_by"] == "machine_end_beep"
    assert activity.payload["recorded_by"] == "automatic"
    target = target_of(campaign, person)
    assert target.status == TargetStatus.DONE
    assert target.done_reason == "left_message"
    assert session.talk_seconds == 0  # the volunteer did not talk to a machine
    assert session.contacts_made == 0
    assert session.current_target.person_id == next_person.id  # not disturbed


def test_a_voicemail_cut_short_is_not_a_left_message(db, clock):
    """The machine hung up during the message (or the redirect to it failed): no message was
    left, so the person is tried again rather than finished."""
    campaign = make_campaign(voicemail_text="Hello from the Yes campaign, vote on Thursday!")
    person, session, call = one_call(campaign, clock)
    answer(call)
    amd(call, "machine_end_beep")
    twilio(call, "completed", 3, duration=4)
    assert not call.voicemail_left
    assert call.outcome.code == "machine"
    target = target_of(campaign, person)
    assert target.status == TargetStatus.QUEUED
    [activity] = call_activities(person)
    assert activity.payload["voicemail_left"] is False


def test_a_volunteer_who_talked_after_amd_said_machine_keeps_their_answers(db, clock):
    """AMD decided "machine" and the call was recorded by itself, but the volunteer was
    talking to a person: their outcome and answers are kept, and the conflict flagged."""
    campaign = make_campaign()
    question = SurveyQuestion(
        campaign=campaign, position=1, kind="single", prompt="Support?", choices=["Yes", "No"]
    )
    db.session.add(question)
    person, session, call = one_call(campaign, clock)
    answer(call)
    amd(call, "machine_start")  # no voicemail set: the call is hung up
    twilio(call, "completed", 3, duration=9)
    assert call.outcome.code == "machine" and call.outcome_by_id is None
    _, written, hang_up_sid = submit(
        session, call, "talked", answers={str(question.id): "Yes"}, notes="A real person"
    )
    assert written and hang_up_sid is None
    assert call.outcome.code == "talked"
    assert call.outcome_by_id == session.user_id
    assert call.answers == {str(question.id): "Yes"}
    assert call.conflict["automatic_outcome"] == "machine"
    assert call.conflict["volunteer_outcome"] == "talked"
    [automatic] = call_activities(person)  # still one "call" entry for the call
    assert automatic.payload["outcome"] == "machine"
    [human] = db.session.scalars(
        select(Activity).where(Activity.person_id == person.id, Activity.kind == "call_correction")
    ).all()
    assert human.payload["outcome"] == "talked"
    assert human.payload["answers"][0]["answer"] == "Yes"
    assert human.payload["replaces"] == "machine"
    assert target_of(campaign, person).status == TargetStatus.DONE  # talked: finished
    # The same submission again writes nothing; a different one is refused.
    assert submit(session, call, "talked", submission_id=call.submission_id)[1] is False
    with pytest.raises(calling.OutcomeError, match="already recorded"):
        submit(session, call, "refused")


def test_machine_without_a_voicemail_hangs_up_and_retries(db, clock):
    campaign = make_campaign()
    person, session, call = one_call(campaign, clock)
    answer(call)
    _, twiml = amd(call, "machine_start")
    assert "<Hangup" in twiml
    assert not call.voicemail_left
    twilio(call, "completed", 3, duration=6)
    assert call.outcome.code == "machine"
    target = target_of(campaign, person)
    assert target.status == TargetStatus.QUEUED
    assert target.due_at == NOW + timedelta(minutes=240)


def test_fax_marks_the_phone_bad(db, clock):
    campaign = make_campaign(voicemail_text="Never played to a fax")
    person, session, call = one_call(campaign, clock)
    answer(call)
    _, twiml = amd(call, "fax")
    assert "Never played" not in twiml
    twilio(call, "completed", 3, duration=3)
    assert call.outcome.code == "fax"
    assert fresh(call.phone).status == PhoneStatus.BAD
    assert call.phone.status_reason == "fax"


def test_a_late_machine_result_never_strands_the_call(db, clock):
    """Twilio's AMD callback is a separate request and may arrive after the final status."""
    campaign = make_campaign(voicemail_text="Hello")
    person, session, call = one_call(campaign, clock)
    answer(call)
    twilio(call, "completed", 3, duration=8)
    assert call.outcome_id is None and session.current_call_id == call.id  # wrap-up
    assert amd(call, "machine_end_silence") == (call, None)  # too late to play a message
    # Either phonebank records the machine outcome itself, or the volunteer still can.
    assert call.outcome_id is not None or session.current_call_id == call.id
    if call.outcome_id is None:
        submit(session, call, "machine")
    assert target_of(campaign, person).status != TargetStatus.IN_CALL


def test_ending_the_session_before_recording_does_not_strand_the_person(db, clock):
    """A volunteer who ends their session in wrap-up never records this call's outcome: the
    person must not stay "in a call" for ever, blocked in every campaign."""
    campaign, elsewhere = make_campaign("This"), make_campaign("Elsewhere")
    person, session, call = one_call(campaign, clock)
    enlist(elsewhere, person)
    answer(call)
    twilio(call, "completed", 3, duration=30)
    calling.end_session(session)
    db.session.commit()
    assert target_of(campaign, person).status != TargetStatus.IN_CALL
    assert claim_next_voter(elsewhere, volunteer(), NOW).target.person_id == person.id


def test_a_human_answer_waits_for_the_volunteer(db, clock):
    campaign = make_campaign(voicemail_text="Hello")
    person, session, call = one_call(campaign, clock)
    answer(call)
    assert amd(call, "human") == (call, None)
    assert session.current_call_id == call.id
    twilio(call, "completed", 3, duration=50)
    assert call.outcome_id is None
    assert session.current_call_id == call.id  # wrap-up: the volunteer records the outcome
    assert session.talk_seconds == 50


# --- the last check before dialing ---------------------------------------------------------


def withdraw_do_not_call(person):
    supporters.set_person_flags(person, module="test", do_not_call=True)


def withdraw_listed_number(person):
    supporters.add_to_do_not_call(person.phones[0].number, source="test")


def withdraw_deceased(person):
    supporters.set_person_flags(person, module="test", deceased=True)


def withdraw_moved(person):
    supporters.set_person_flags(person, module="test", moved=True)


def withdraw_bad_phone(person):
    supporters.mark_phone_bad(person.phones[0], "wrong_number", module="test")


def withdraw_merged(person):
    survivor = make_person("Survivor", phones=[])
    supporters.merge_people(survivor, person, module="test")


@pytest.mark.parametrize(
    "withdraw",
    [
        withdraw_do_not_call,
        withdraw_listed_number,
        withdraw_deceased,
        withdraw_moved,
        withdraw_bad_phone,
        withdraw_merged,
    ],
)
def test_prepare_call_withdraws_a_person_changed_since_the_claim(db, clock, withdraw):
    campaign = make_campaign()
    person = make_person()
    enlist(campaign, person)
    session = open_session(campaign)
    assert calling.present_next_voter(session).person_id == person.id
    withdraw(person)
    assert calling.prepare_call(session) is None
    assert count(Call) == 0
    target = target_of(campaign, person)
    assert target.status == TargetStatus.DONE
    assert target.done_reason == "not_callable"
    assert target.attempts == 0
    assert session.current_target_id is None
    assert session.current_call_id is None
    assert session.notice == {"reason": "voter_withdrawn"}
    assert calling.present_next_voter(session) is None


def test_prepare_call_switches_to_a_good_phone(db, clock):
    campaign = make_campaign()
    mobile, home = new_number(), new_number()
    person = make_person(phones=[(mobile, "mobile"), (home, "home")])
    enlist(campaign, person)
    session = open_session(campaign)
    calling.present_next_voter(session)
    supporters.add_to_do_not_call(mobile, source="test")
    call = calling.prepare_call(session)
    assert call.phone.number == home


def test_prepare_call_outside_hours_puts_the_person_back(db, clock):
    campaign = make_campaign()
    person = make_person()
    enlist(campaign, person)
    session = open_session(campaign)
    calling.present_next_voter(session)
    clock.set(NOW.replace(hour=1) + timedelta(days=1))  # 21:00 in New York
    assert calling.prepare_call(session) is None
    assert count(Call) == 0
    target = target_of(campaign, person)
    assert target.status == TargetStatus.QUEUED
    assert target.claimed_by_id is None
    assert session.notice == {"reason": "outside_hours"}


def test_a_manual_reveal_checks_the_window_at_the_reveal(db, clock):
    """Manual mode: the number is shown only inside the callee's window, however long the
    volunteer looked at the card since the claim (Florida ends at 20:00)."""
    campaign = make_campaign(dialing_mode="manual")
    person = make_person(state="FL")
    enlist(campaign, person)
    session = open_session(campaign)
    clock.set(NOW.replace(hour=23, minute=55))  # 19:55 in Florida: claimed
    assert calling.present_next_voter(session) is not None
    clock.set(NOW.replace(hour=23, minute=59))  # 19:59: still allowed
    clock.set(NOW.replace(hour=0) + timedelta(days=1))  # 20:00: Florida's calls are over
    assert calling.prepare_call(session) is None
    assert session.notice == {"reason": "outside_hours"}
    assert "number" not in (session.card or {}).get("phone", {})
    assert count(Call) == 0


def test_the_state_limit_is_checked_again_right_before_the_dial(db, clock):
    """Florida's three calls in 24 hours: a call logged after the claim (by another campaign,
    say) stops this one before it is dialed, and the person comes back when allowed."""
    campaign, other = make_campaign(), make_campaign("Other")
    person = make_person(state="FL")
    enlist(campaign, person)
    elsewhere = enlist(other, person)[0]
    session = open_session(campaign)

    def logged_call(hours_ago: int) -> None:
        db.session.add(
            Call(
                campaign_id=other.id,
                target_id=elsewhere.id,
                person_id=person.id,
                phone_id=person.phones[0].id,
                volunteer_id=session.user_id,
                status=CallStatus.NO_ANSWER,
                created_at=NOW - timedelta(hours=hours_ago),
            )
        )
        db.session.flush()

    logged_call(3)
    logged_call(2)
    assert calling.present_next_voter(session) is not None  # two so far: may be claimed
    logged_call(1)
    assert calling.prepare_call(session) is None
    assert session.notice["reason"] == "call_limit"
    target = target_of(campaign, person)
    assert target.status == TargetStatus.QUEUED
    assert target.due_at == NOW + timedelta(hours=21)  # when the first of the three is a day old
    assert count(Call, Call.campaign_id == campaign.id) == 0


def test_prepare_call_writes_the_attempt(db, clock):
    campaign = make_campaign()
    person = make_person()
    enlist(campaign, person)
    session = open_session(campaign)
    calling.present_next_voter(session)
    call = calling.prepare_call(session)
    assert call.status == CallStatus.CREATED
    assert call.person_id == person.id
    assert call.volunteer_id == session.user_id
    assert session.current_call_id == call.id
    assert session.calls_made == 1
    target = target_of(campaign, person)
    assert target.status == TargetStatus.IN_CALL
    assert target.attempts == 1
    assert target.tried_phone_ids == [call.phone_id]
    assert target.lease_expires_at is None
    with pytest.raises(CallingError):
        calling.prepare_call(session)  # one call at a time


def test_prepare_call_refuses_a_claim_lost_to_someone_else(db, clock):
    campaign = make_campaign()
    person = make_person()
    enlist(campaign, person)
    session = open_session(campaign)
    calling.present_next_voter(session)
    clock.advance(minutes=10)  # the lease ran out; someone else got the person
    other = volunteer()
    assert claim_next_voter(campaign, other, clock.now).target.person_id == person.id
    # Not an error that the rollback would undo (leaving the same voter on the card): the
    # card is cleared with a notice, and the caller goes on to the next voter.
    assert calling.prepare_call(session) is None
    assert session.current_target_id is None
    assert session.notice == {"reason": "claim_expired"}
    assert count(Call) == 0
    assert target_of(campaign, person).claimed_by_id == other.id


# --- manual dialing ------------------------------------------------------------------------


def test_manual_call_hung_up_by_the_volunteer(db, clock):
    """Manual mode: the number is revealed (and logged), the volunteer dials by hand, then
    presses Hang up (the ``call.hangup`` socket event) and records the outcome."""
    campaign = make_campaign(dialing_mode=DialingMode.MANUAL)
    person = make_person()
    enlist(campaign, person)
    session = open_session(campaign)
    calling.present_next_voter(session)
    call = calling.prepare_call(session)
    db.session.commit()
    assert call.manual
    assert call.status == CallStatus.IN_PROGRESS
    [revealed] = activities(person, "number_revealed")
    assert revealed.payload["call_id"] == call.id

    clock.advance(seconds=75)
    session = calling.open_session_for(session.user)  # as the socket handler finds it
    assert calling.hang_up(session) is None
    db.session.commit()
    assert call.status == CallStatus.COMPLETED
    assert call.outcome_id is None  # a person answered: the volunteer records the outcome
    assert submit(session, call, "talked")[1:] == (True, None)
    assert target_of(campaign, person).done_reason == "talked"
