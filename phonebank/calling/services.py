"""The volunteer calling loop: sessions, dialing, Twilio's callbacks and recorded outcomes.

Functions here change the session and flush; the socket handler, webhook or sweeper that called
them commits. Network calls to the provider are never made inside an open transaction: the
``*_after_commit`` helpers and ``Dialer`` split the work at the commit.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import select, update

from phonebank import realtime
from phonebank.calling import queue
from phonebank.calling.protocol import Notice
from phonebank.calling.state import mask_number
from phonebank.campaigns import services as campaigns
from phonebank.campaigns.hours import CampaignWindow, allowed_at
from phonebank.extensions import db
from phonebank.models import (
    AudioMode,
    Call,
    CallingSession,
    CallStatus,
    Campaign,
    CampaignStatus,
    CampaignTarget,
    DialingMode,
    Event,
    Outcome,
    OutcomeBucket,
    Person,
    Phone,
    PhoneStatus,
    QuestionKind,
    RsvpStatus,
    SocketConnection,
    TargetStatus,
    User,
    utcnow,
)
from phonebank.results.tallies import tally_call
from phonebank.supporters import services as supporters
from phonebank.telephony.provider import (
    ProviderCall,
    ProviderUnreachable,
    TelephonyError,
    get_provider,
)
from phonebank.twilio_hooks.urls import voicemail_left_url, voter_call_urls

log = logging.getLogger(__name__)

MACHINE_ANSWERS = {"machine_start", "machine_end_beep", "machine_end_silence", "machine_end_other"}
SKIP_REASONS = {
    "wrong_language": "Needs another language",
    "not_comfortable": "I'd rather not call this person",
    "know_them": "I know this person",
    "other": "Other",
}


class CallingError(Exception):
    """A request the calling loop cannot meet now; the message is shown to the volunteer."""


# --- sessions ------------------------------------------------------------------------------


def lock_session(session_id: int) -> CallingSession | None:
    """The session row, locked until commit, re-read: whoever changes which voter or call a
    session has holds this lock, so two changes never work from the same stale view.

    Lock order: a call row before its session row (callbacks do), never the other way; code
    holding this lock must not lock call rows.
    """
    return db.session.scalar(
        select(CallingSession)
        .where(CallingSession.id == session_id)
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    )


def _seen_since(now: datetime | None = None) -> datetime:
    """Seen after this, a volunteer is there even without a socket row (a dead process's
    rows take this long to be forgotten)."""
    return (now or utcnow()) - timedelta(seconds=int(current_app.config["PROCESS_DEAD_SECONDS"]))


def present(now: datetime | None = None):
    """SQL condition: the session's volunteer is there, with a live socket connection or seen
    within the time a dead process's connections take to be forgotten."""
    return CallingSession.user_id.in_(select(SocketConnection.user_id)) | (
        CallingSession.last_seen_at >= _seen_since(now)
    )


def is_present(session: CallingSession) -> bool:
    """``present`` for one session; seen just now (every calling event marks it), no query."""
    if session.last_seen_at is not None and session.last_seen_at >= _seen_since():
        return True
    query = select(SocketConnection.sid).where(SocketConnection.user_id == session.user_id)
    return db.session.scalar(query.limit(1)) is not None


def open_session_for(user: User) -> CallingSession | None:
    return db.session.scalar(
        select(CallingSession).where(
            CallingSession.user_id == user.id, CallingSession.ended_at.is_(None)
        )
    )


def join_campaign(user: User, campaign: Campaign) -> CallingSession:
    """Start (or resume) this volunteer's session in a campaign."""
    if campaign.status != CampaignStatus.ACTIVE:
        raise CallingError("This campaign is not open for calling right now.")
    if not campaigns.can_call_for(user, campaign):
        raise CallingError("You have not been added to this campaign.")
    session = open_session_for(user)
    if session is not None and session.campaign_id != campaign.id:
        end_session(session, reason="switched_campaign")
        session = None
    if session is None:
        session = CallingSession(
            user_id=user.id,
            campaign_id=campaign.id,
            audio_mode=AudioMode.NONE if campaign.dialing_mode == DialingMode.MANUAL else None,
        )
        db.session.add(session)
    session.last_seen_at = utcnow()
    db.session.flush()
    return session


def end_session(session: CallingSession, reason: str = "volunteer") -> list[str]:
    """End the session; returns provider actions (call SIDs to hang up) for after commit."""
    if session.ended_at is not None:
        return []
    hang_ups = []
    call = session.current_call
    if call is not None and call.outcome_id is None:
        if not call.status.final and call.provider_sid:
            hang_ups.append(call.provider_sid)  # its final callback releases the person
        elif call.status.final:
            release_unrecorded(call)
    target = session.current_target
    if target is not None and target.status == TargetStatus.CLAIMED:
        queue.release_claim(target)
    if session.audio_call_sid and session.audio_mode == AudioMode.PHONE:
        hang_ups.append(session.audio_call_sid)
    session.ended_at = utcnow()
    session.ready = False
    session.current_target_id = None
    session.current_call_id = None
    session.notice = {"reason": Notice(f"ended:{reason}")}
    touch(session)
    return hang_ups


def touch(session: CallingSession) -> None:
    session.state_since = utcnow()
    db.session.flush()


def set_ready(session: CallingSession, ready: bool) -> None:
    require_open(session)
    if session.ready != ready:
        session.ready = ready
        if not ready:
            session.notice = {}
        touch(session)


def require_open(session: CallingSession) -> None:
    if session.ended_at is not None:
        raise CallingError("This calling session has ended. Join the campaign again.")


def audio_ready(session: CallingSession) -> bool:
    return session.audio_mode == AudioMode.NONE or session.audio_up


# --- next voter ----------------------------------------------------------------------------


def present_next_voter(session: CallingSession) -> CampaignTarget | None:
    """Claim the next person for a ready volunteer with nothing in hand."""
    require_open(session)
    if not session.ready or session.current_target_id is not None:
        return session.current_target
    try:
        claim = queue.claim_next_voter(session.campaign, session.user)
    except queue.NothingToCall as empty:
        notice = {
            "reason": Notice(empty.reason),
            "next_at": empty.next_at.isoformat() if empty.next_at else None,
        }
        if session.notice != notice:  # the waiting time runs on while nothing changes
            session.notice = notice
            touch(session)
        return None
    from phonebank.calling.state import voter_card

    session.current_target_id = claim.target.id
    session.current_call_id = None
    session.draft = {}
    session.notice = {}
    session.card = voter_card(session, claim.target, None)
    touch(session)
    return claim.target


def skip_voter(session: CallingSession, reason: str) -> None:
    """Put the person in hand back (for someone else, in an hour) without calling them."""
    require_open(session)
    if reason not in SKIP_REASONS:
        raise CallingError("Choose a reason for skipping.")
    target = session.current_target
    if target is None:
        raise CallingError("There is no one to skip.")
    call = session.current_call
    if call is not None and call.outcome_id is None:
        raise CallingError("Finish this call and record its outcome first.")
    if target.status == TargetStatus.CLAIMED:
        target.last_outcome = f"skipped:{reason}"
        queue.release_claim(target, due_at=utcnow() + timedelta(hours=1))
    session.current_target_id = None
    session.current_call_id = None
    session.draft = {}
    touch(session)


def should_autodial(session: CallingSession) -> bool:
    return (
        session.campaign.dialing_mode == DialingMode.POWER
        and session.ready
        and audio_ready(session)
        and session.current_target_id is not None
        and session.current_call_id is None
    )


# --- dialing -------------------------------------------------------------------------------


def prepare_call(session: CallingSession) -> Call | None:
    """Check the person in hand may be called now and write the call row; None if not.

    Re-checks do-not-call (person and number), the phone, the calling window and the state's
    limit on calls in 24 hours, because any of them may have changed since the claim (a
    preview, or a manual campaign's reveal, can come long after it).
    """
    require_open(session)
    target = session.current_target
    if target is None:
        raise CallingError("There is no one to call. Press Ready for the next person.")
    if session.current_call_id is not None:
        raise CallingError("A call is already in progress.")
    if target.status != TargetStatus.CLAIMED or target.claimed_by_id != session.user_id:
        # The claim ran out and someone else has the person: say so, and on to the next one
        # (returned, not raised, so the caller commits the cleared card and advances).
        session.current_target_id = None
        session.notice = {"reason": Notice.CLAIM_EXPIRED}
        touch(session)
        return None
    if session.campaign.dialing_mode != DialingMode.MANUAL and not audio_ready(session):
        raise CallingError("Connect your audio first.")
    campaign = session.campaign
    person = target.person
    phone = queue.choose_phone(target, campaign)
    now = utcnow()
    if phone is None or person.moved or not supporters.can_call(person, phone):
        queue.finish_target(target, "not_callable")
        session.current_target_id = None
        session.notice = {"reason": Notice.VOTER_WITHDRAWN}
        touch(session)
        return None
    if not allowed_at(now, target.zone_key, CampaignWindow.from_campaign(campaign)):
        queue.release_claim(target)
        session.current_target_id = None
        session.notice = {"reason": Notice.OUTSIDE_HOURS}
        touch(session)
        return None
    later = queue.state_limit_refusal(target, now)  # FL/OK: three calls in 24 hours
    if later is not None:
        queue.release_claim(target, due_at=later)
        session.current_target_id = None
        session.notice = {"reason": Notice.CALL_LIMIT, "next_at": later.isoformat()}
        touch(session)
        return None
    manual = campaign.dialing_mode == DialingMode.MANUAL
    call = Call(
        session_id=session.id,
        campaign_id=campaign.id,
        target_id=target.id,
        person_id=person.id,
        phone_id=phone.id,
        volunteer_id=session.user_id,
        manual=manual,
        status=CallStatus.IN_PROGRESS if manual else CallStatus.CREATED,
        dialed_at=now if manual else None,
    )
    db.session.add(call)
    target.status = TargetStatus.IN_CALL
    target.lease_expires_at = None
    target.attempts += 1
    target.tried_phone_ids = sorted({*(target.tried_phone_ids or []), phone.id})
    db.session.flush()
    session.current_call_id = call.id
    session.calls_made += 1
    if manual:
        session.card = {
            **(session.card or {}),
            "phone": {
                "masked": mask_number(phone.number),
                "type": phone.type.value,
                "number": phone.number,
            },
        }
        supporters.record_activity(
            person,
            kind="number_revealed",
            module="calling",
            actor=session.user,
            campaign_id=campaign.id,
            payload={"call_id": call.id, "phone_id": phone.id},
        )
    touch(session)
    return call


def place_call(call_id: int) -> None:
    """Ask the provider to dial a prepared call. Runs outside any transaction; commits."""
    call = db.session.get(Call, call_id)
    if call is None or call.status != CallStatus.CREATED or call.manual:
        return
    campaign = db.session.get(Campaign, call.campaign_id)
    number = call.phone.number
    caller_id = campaign.caller_id or current_app.config.get("TWILIO_CALLER_ID") or ""
    created_at = call.created_at
    timeout = int(current_app.config["RING_TIMEOUT_SECONDS"])
    db.session.commit()  # no transaction held across the network call
    try:
        if not caller_id:
            raise TelephonyError("This campaign has no caller ID; ask staff to set one.")
        urls = voter_call_urls(call_id)
        sid = get_provider().dial(
            to=number,
            from_=caller_id,
            answer_url=urls.answer_url,
            status_url=urls.status_url,
            amd_url=urls.amd_url,
            timeout=timeout,
            fallback_url=urls.fallback_url,
        )
    except ProviderUnreachable:
        # Twilio may have placed the call before its answer was lost, or may still be about
        # to (a slow request takes effect after we stop waiting): look now, and if it is not
        # there yet leave the call to the sweeper, which looks again a little later and only
        # then decides nothing was dialed.
        try:
            found = find_placed_call(call_id, number, caller_id, created_at)
        except TelephonyError:
            found = False
        if not found:
            log.warning("call %s: placing it went unanswered; the sweeper will check", call_id)
        return
    except TelephonyError as exc:  # refused: nothing was placed
        dial_failed(call_id, str(exc))
        db.session.commit()
        return
    _record_sid(call_id, sid)


def _record_sid(call_id: int, sid: str) -> None:
    """The provider placed the call: keep its SID. Callbacks may already have arrived and moved
    the status on: only fill in the blanks. Commits and publishes."""
    db.session.execute(
        update(Call)
        .where(Call.id == call_id, Call.provider_sid.is_(None))
        .values(provider_sid=sid)
        .execution_options(synchronize_session=False)
    )
    db.session.execute(
        update(Call)
        .where(Call.id == call_id, Call.status == CallStatus.CREATED)
        .values(status=CallStatus.QUEUED, dialed_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    call = db.session.get(Call, call_id, populate_existing=True)
    if call.session_id is not None:
        publish_session_state(db.session.get(CallingSession, call.session_id))
    db.session.commit()


def find_placed_call(call_id: int, number: str, caller_id: str, since: datetime) -> bool:
    """Find at the provider a call placed for this row whose SID was never saved (the answer
    to the dial was lost, or the process stopped); adopt it and apply what the provider says.
    False when the provider has no such call: it was not placed. Commits."""
    own = db.session.scalar(select(Call.provider_sid).where(Call.id == call_id))
    others = set(
        db.session.scalars(
            select(Call.provider_sid).where(
                Call.id != call_id,
                Call.created_at >= since - timedelta(minutes=5),
                Call.provider_sid.is_not(None),
            )
        )
    )
    db.session.commit()
    if own is not None:  # its callbacks arrived meanwhile and named it
        _record_sid(call_id, own)
        return True
    candidates = [
        c for c in get_provider().recent_calls_to(number, caller_id, since) if c.sid not in others
    ]
    if not candidates:
        return False
    found = candidates[0]  # the newest: a row is dialed once
    log.info("call %s: adopting provider call %s, whose placing was cut short", call_id, found.sid)
    _record_sid(call_id, found.sid)
    apply_provider_report(call_id, found)
    db.session.commit()
    return True


def note_unknown_at_provider(call_id: int) -> None:
    """The provider has no record of this call's SID: it ends as never connected."""
    call = locked_call(call_id)
    if call is not None and not call.status.final:
        call.end_reason = "unknown_at_provider"
        db.session.flush()


def apply_provider_report(call_id: int, remote: ProviderCall) -> Call | None:
    """What the provider's REST API says of a call, for when its callbacks were lost: a final
    status is applied (with the answering-machine result it knows)."""
    try:
        status = CallStatus(remote.status)
    except ValueError:
        log.warning("provider reports unknown status %r for %s", remote.status, remote.sid)
        return None
    call = locked_call(call_id)
    if call is None or call.status.final:
        return call
    if not status.final:
        if _progress(status) > _progress(call.status):
            call.status = status
            if status == CallStatus.IN_PROGRESS and call.answered_at is None:
                call.answered_at = utcnow()
        call.checked_at = utcnow()
        db.session.flush()
        publish_for_call(call)
        return call
    if remote.answered_by and call.answered_by is None:
        call.answered_by = remote.answered_by
    finalize_call(call, status, sequence=None, duration=remote.duration)
    return call


def dial_failed(call_id: int, message: str) -> None:
    """The provider would not place the call: nothing was dialed, the person goes back."""
    call = db.session.get(Call, call_id, populate_existing=True)
    call.status = CallStatus.FAILED
    call.end_reason = "provider_error"
    call.ended_at = utcnow()
    tally_call(call)
    target = call.target
    target.attempts = max(0, target.attempts - 1)
    queue.release_claim(target, due_at=utcnow() + timedelta(minutes=5))
    session = call.session
    if session is not None and session.current_call_id == call.id:
        session.current_call_id = None
        session.current_target_id = None
        session.ready = False
        session.notice = {"reason": Notice.PROVIDER_ERROR, "message": message}
        touch(session)
        publish_session_state(session)


def hang_up(session: CallingSession) -> str | None:
    """The volunteer ends the call; returns the SID to hang up after commit."""
    call = session.current_call
    if call is None or call.status.final:
        return None
    if call.manual:
        finalize_call(call, CallStatus.COMPLETED, sequence=None, duration=None)
        return None
    if call.provider_sid is None:
        return None
    call.end_reason = "volunteer_hung_up"
    db.session.flush()
    return call.provider_sid


# --- provider callbacks --------------------------------------------------------------------


def locked_call(call_id: int) -> Call | None:
    """The call row, locked until commit so concurrent callbacks for it apply one by one."""
    return db.session.scalar(
        select(Call)
        .where(Call.id == call_id)
        # NO KEY UPDATE: foreign-key checks from rows pointing at this call (its session)
        # take KEY SHARE locks, which this must not block, or the two deadlock.
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    )


def apply_status_callback(call_id: int, params: dict[str, str]) -> Call | None:
    """Apply a call-progress callback if it is newer than what we have (idempotent)."""
    call = locked_call(call_id)
    if call is None:
        return None
    sid = params.get("CallSid")
    if call.provider_sid is None and sid:
        call.provider_sid = sid
    elif sid and call.provider_sid != sid:
        log.warning("callback for call %s with unexpected sid %s", call_id, sid)
        return None
    try:
        status = CallStatus(params.get("CallStatus", ""))
        sequence = int(params.get("SequenceNumber", "0"))
    except ValueError:
        log.warning("callback for call %s with bad status or sequence: %s", call_id, params)
        return None
    if call.status.final or sequence <= call.last_sequence:
        return call  # a duplicate, or older news than what we applied
    if status.final:
        duration = params.get("CallDuration") or params.get("Duration")
        finalize_call(call, status, sequence, int(duration) if duration else None)
        return call
    call.last_sequence = sequence
    if _progress(status) > _progress(call.status):
        call.status = status
        if status == CallStatus.IN_PROGRESS and call.answered_at is None:
            call.answered_at = utcnow()
        if call.dialed_at is None:
            call.dialed_at = utcnow()
    db.session.flush()
    publish_for_call(call)
    return call


PROGRESS = [
    CallStatus.CREATED,
    CallStatus.QUEUED,
    CallStatus.INITIATED,
    CallStatus.RINGING,
    CallStatus.IN_PROGRESS,
]


def _progress(status: CallStatus) -> int:
    return PROGRESS.index(status) if status in PROGRESS else len(PROGRESS)


def finalize_call(
    call: Call, status: CallStatus, sequence: int | None, duration: int | None
) -> None:
    """The call is over: record how it ended and, unless a person answered, its outcome."""
    if call.status.final:
        return
    now = utcnow()
    if status == CallStatus.COMPLETED and call.answered_at is None and not call.manual:
        call.answered_at = call.dialed_at or now
    call.status = status
    if sequence is not None:
        call.last_sequence = sequence
    call.ended_at = now
    if duration is None and call.answered_at is not None:
        duration = int((now - call.answered_at).total_seconds())
    call.duration_seconds = duration
    call.end_reason = call.end_reason or status.value
    session = call.session
    if session is not None and status == CallStatus.COMPLETED and not _machine(call):
        session.talk_seconds += duration or 0
    situation = automatic_situation(call)
    if situation is not None and call.outcome_id is None:
        outcome = campaigns.auto_outcome(call.campaign_id, situation)
        if outcome is not None:
            record_outcome(call, outcome, answers={}, notes="", by=None)
            return
    if call.outcome_id is None and (session is None or session.current_call_id != call.id):
        release_unrecorded(call)  # nobody is left to record this call's outcome
    tally_call(call)
    db.session.flush()
    publish_for_call(call)


def release_unrecorded(call: Call) -> None:
    """A call ended with no outcome and no volunteer to give one (the session ended):
    the person goes back to the queue for another try in an hour."""
    target = call.target
    if target.status != TargetStatus.IN_CALL or call.outcome_id is not None:
        return
    target.last_outcome = "unrecorded"
    if target.attempts >= db.session.get(Campaign, call.campaign_id).max_attempts:
        queue.finish_target(target, "max_attempts")
    else:
        queue.release_claim(target, due_at=utcnow() + timedelta(hours=1))


def _machine(call: Call) -> bool:
    return (call.answered_by or "") in MACHINE_ANSWERS or call.answered_by == "fax"


def automatic_situation(call: Call) -> str | None:
    """How phonebank itself classifies an ended call, or None when a person answered."""
    if call.manual:
        return None
    if call.status == CallStatus.BUSY:
        return "busy"
    if call.status in (CallStatus.NO_ANSWER, CallStatus.CANCELED):
        return "no-answer"
    if call.status == CallStatus.FAILED:
        return "failed"
    if call.answered_by == "fax":
        return "fax"
    if call.answered_by in MACHINE_ANSWERS:
        return "voicemail" if call.voicemail_left else "machine"
    return None


def apply_amd_result(call_id: int, answered_by: str) -> tuple[Call | None, str | None]:
    """Answering-machine detection finished. On a machine the volunteer is released and the
    voicemail message plays without them. Returns the call and TwiML to redirect it to."""
    from phonebank.telephony.provider import hangup_twiml, voicemail_twiml

    call = locked_call(call_id)
    if call is None or call.answered_by is not None:
        return call, None  # duplicate
    call.answered_by = answered_by
    redirect = None
    if answered_by in MACHINE_ANSWERS or answered_by == "fax":
        campaign = db.session.get(Campaign, call.campaign_id)
        has_message = bool(campaign.voicemail_text or campaign.voicemail_url)
        if answered_by != "fax" and has_message and not call.status.final:
            # Left only once it has played to its end (voicemail_played, from its last step).
            redirect = voicemail_twiml(
                campaign.voicemail_text, campaign.voicemail_url, voicemail_left_url(call.id)
            )
        elif not call.status.final:
            redirect = hangup_twiml()
        if not call.status.final:  # after the end, the volunteer in wrap-up records it
            detach_volunteer(call)
    db.session.flush()
    publish_for_call(call)
    return call, redirect


def voicemail_played(call_id: int) -> Call | None:
    """The campaign's voicemail message played to its end: now, and only now, it was left."""
    call = locked_call(call_id)
    if call is None or call.voicemail_left:
        return call
    call.voicemail_left = True
    db.session.flush()
    return call


def detach_volunteer(call: Call) -> None:
    """The volunteer moves on while the call finishes by itself (machine, voicemail)."""
    session = call.session
    if session is not None and session.current_call_id == call.id:
        session.current_call_id = None
        session.current_target_id = None
        session.draft = {}
        session.notice = {"reason": Notice.MACHINE, "call_id": call.id}
        touch(session)


# --- outcomes ------------------------------------------------------------------------------


class OutcomeError(CallingError):
    pass


def submit_outcome(
    session: CallingSession,
    *,
    call_id: int,
    outcome_code: str,
    answers: dict[str, Any],
    notes: str,
    submission_id: str,
    callback_at: datetime | None = None,
) -> tuple[Call, bool, str | None]:
    """The volunteer records an outcome. Idempotent by ``submission_id``: a resubmission
    after a reconnect returns the call already recorded and writes nothing. Returns
    (call, written, SID of a live call to hang up after commit)."""
    if not submission_id or len(submission_id) > 64:
        raise OutcomeError("This form is missing its submission id; reload the page.")
    existing = db.session.scalar(select(Call).where(Call.submission_id == submission_id))
    if existing is not None:
        if existing.volunteer_id != session.user_id:
            raise OutcomeError("That submission belongs to someone else.")
        return existing, False, None
    call = locked_call(call_id)
    if call is None or call.volunteer_id != session.user_id:
        raise OutcomeError("That call is not yours to record.")
    # An outcome phonebank recorded because answering-machine detection said "machine" can
    # be wrong: someone answered, and the volunteer may have been talking to them.
    automatic = (
        call.outcome
        if call.outcome_id is not None
        and call.outcome_by_id is None
        and not call.conflict
        and _machine(call)
        else None
    )
    if call.outcome_id is not None and automatic is None:
        raise OutcomeError("This call's outcome is already recorded.")
    outcome = campaigns.outcome_by_code(call.campaign_id, outcome_code)
    if outcome is None or not outcome.active:
        raise OutcomeError("Choose one of the campaign's outcomes.")
    if outcome.is_callback:
        if callback_at is None or callback_at <= utcnow():
            raise OutcomeError("Choose a time in the future for the call-back.")
        if callback_at > utcnow() + timedelta(days=60):
            raise OutcomeError("Call-backs can be scheduled up to 60 days ahead.")
    clean = validate_answers(db.session.get(Campaign, call.campaign_id), answers)
    if automatic is not None:
        # phonebank recorded this call by itself (answering-machine detection decided
        # "machine" while the volunteer was talking, say). A person's account is never thrown
        # away: it becomes the call's outcome, and the disagreement is kept for staff.
        call.conflict = {
            "automatic_outcome": automatic.code,
            "automatic_label": automatic.label,
            "volunteer_outcome": outcome.code,
            "answered_by": call.answered_by,
            "voicemail_left": call.voicemail_left,
            "at": utcnow().isoformat(),
        }
        call.submission_id = submission_id
        record_outcome(
            call,
            outcome,
            answers=clean,
            notes=(notes or "").strip()[:5000],
            by=session.user,
            callback_at=callback_at,
        )
        return call, True, None
    hang_up_sid = None
    if not call.status.final:
        if call.manual or call.provider_sid is None:
            finalize_call(call, CallStatus.COMPLETED, None, None)
        else:
            # Saving the outcome during the conversation ends the call; the talk time so far
            # goes into the history now (Twilio's own duration updates the call row later).
            call.end_reason = call.end_reason or "volunteer_hung_up"
            if call.answered_at is not None:
                call.duration_seconds = int((utcnow() - call.answered_at).total_seconds())
            hang_up_sid = call.provider_sid
    call.submission_id = submission_id
    record_outcome(
        call,
        outcome,
        answers=clean,
        notes=(notes or "").strip()[:5000],
        by=session.user,
        callback_at=callback_at,
    )
    return call, True, hang_up_sid


def validate_answers(campaign: Campaign, answers: dict[str, Any]) -> dict[str, Any]:
    """Keep answers to visible questions only, each a valid choice (or text)."""
    answers = answers or {}
    if not isinstance(answers, dict):
        raise OutcomeError("Survey answers are malformed.")
    clean: dict[str, Any] = {}
    for question in campaign.questions:
        value = answers.get(str(question.id))
        if value in (None, "", []):
            continue
        if question.show_if_question_id is not None:
            shown_by = clean.get(str(question.show_if_question_id))
            values = shown_by if isinstance(shown_by, list) else [shown_by]
            if question.show_if_value not in values:
                continue
        if question.kind == QuestionKind.TEXT:
            clean[str(question.id)] = str(value).strip()[:2000]
        elif question.kind == QuestionKind.SINGLE:
            if value not in question.choices:
                raise OutcomeError(f"{question.prompt}: choose one of the listed answers.")
            clean[str(question.id)] = value
        else:
            values = value if isinstance(value, list) else [value]
            if any(v not in question.choices for v in values):
                raise OutcomeError(f"{question.prompt}: choose from the listed answers.")
            clean[str(question.id)] = [c for c in question.choices if c in values]
    return clean


def record_outcome(
    call: Call,
    outcome: Outcome,
    *,
    answers: dict[str, Any],
    notes: str,
    by: User | None,
    callback_at: datetime | None = None,
) -> None:
    """Close the call: outcome, queue, supporter store (history, flags, tags, RSVP)."""
    now = utcnow()
    campaign = db.session.get(Campaign, call.campaign_id)
    call.outcome_id = outcome.id
    call.outcome_at = now
    call.outcome_by_id = by.id if by else None
    call.answers = answers
    call.notes = notes
    person = supporters.get_person(call.person_id)
    phone = db.session.get(Phone, call.phone_id)
    target = call.target
    if target.status not in (TargetStatus.CLAIMED, TargetStatus.IN_CALL) or (
        target.status == TargetStatus.IN_CALL and call.conflict is None
    ):
        # (a volunteer's account that replaces an automatic outcome leaves the queue alone
        # once someone else has the person in hand)
        target.last_outcome = outcome.code
        _update_queue(target, campaign, outcome, phone, now, callback_at)
    supporters.record_activity(
        person,
        # One "call" entry per call; a volunteer's account that replaces an automatic outcome
        # follows it as a "call_correction".
        kind="call_correction" if call.conflict else "call",
        module="calling",
        actor=by or db.session.get(User, call.volunteer_id),
        campaign_id=campaign.id,
        payload={
            "call_id": call.id,
            "phone_id": call.phone_id,
            "outcome": outcome.code,
            "outcome_label": outcome.label,
            "bucket": outcome.bucket.value,
            "answers": _labelled_answers(campaign, answers),
            "notes": notes,
            "duration_seconds": call.duration_seconds,
            "dialed_at": call.dialed_at.isoformat() if call.dialed_at else None,
            "ended_at": call.ended_at.isoformat() if call.ended_at else None,
            "answered_by": call.answered_by,
            "voicemail_left": call.voicemail_left,
            "recorded_by": "volunteer" if by else "automatic",
            "callback_at": callback_at.isoformat() if callback_at else None,
            **({"replaces": call.conflict["automatic_outcome"]} if call.conflict else {}),
        },
    )
    if outcome.bucket == OutcomeBucket.BAD_NUMBER and phone.status == PhoneStatus.OK:
        supporters.mark_phone_bad(
            phone,
            outcome.phone_reason or outcome.code,
            actor=by,
            module="calling",
            campaign_id=campaign.id,
        )
    if outcome.bucket == OutcomeBucket.NEVER and outcome.person_flag:
        supporters.set_person_flags(
            person,
            actor=by,
            module="calling",
            reason=outcome.label,
            campaign_id=campaign.id,
            **{outcome.person_flag: True},
        )
        if outcome.person_flag == "do_not_call":
            supporters.add_to_do_not_call(
                phone.number, reason=outcome.label, source="calling", by=by
            )
    _apply_answer_effects(campaign, person, answers, by)
    tally_call(call)
    session = call.session
    if session is not None:
        if outcome.bucket == OutcomeBucket.CONTACT:
            session.contacts_made += 1
        if session.current_call_id == call.id:
            session.current_call_id = None
            session.current_target_id = None
            session.draft = {}
            touch(session)
    db.session.flush()
    publish_for_call(call)


def _update_queue(target, campaign, outcome, phone, now, callback_at) -> None:
    target.claimed_by_id = None
    target.lease_expires_at = None
    target.priority = 1
    if outcome.is_callback and callback_at is not None:
        target.status = TargetStatus.QUEUED
        target.priority = 0
        target.due_at = callback_at
        return
    if outcome.ends_attempts or outcome.bucket == OutcomeBucket.NEVER:
        queue.finish_target(target, outcome.code)
        return
    if outcome.bucket == OutcomeBucket.BAD_NUMBER:
        # Other phones of this person may still be tried.
        others = db.session.scalar(
            select(Phone.id)
            .where(
                Phone.person_id == target.person_id,
                Phone.id != phone.id,
                Phone.status == PhoneStatus.OK,
            )
            .limit(1)
        )
        if others is None:
            queue.finish_target(target, "no_good_phone")
        else:
            target.status = TargetStatus.QUEUED
            target.due_at = now
        return
    if target.attempts >= campaign.max_attempts:
        queue.finish_target(target, "max_attempts")
        return
    target.status = TargetStatus.QUEUED
    target.due_at = now + timedelta(minutes=outcome.retry_delay_minutes or 60)


def _labelled_answers(campaign: Campaign, answers: dict[str, Any]) -> list[dict[str, Any]]:
    by_id = {str(q.id): q for q in campaign.questions}
    return [
        {"question_id": int(qid), "question": by_id[qid].prompt, "answer": value}
        for qid, value in answers.items()
        if qid in by_id
    ]


def _apply_answer_effects(campaign, person: Person, answers, by: User | None) -> None:
    """Tags configured on answers, and RSVPs for questions tied to an event."""
    for question in campaign.questions:
        value = answers.get(str(question.id))
        if value in (None, "", []):
            continue
        values = value if isinstance(value, list) else [value]
        for v in values:
            for tag in (question.answer_tags or {}).get(v, []):
                supporters.tag_person(person, tag, source=f"campaign:{campaign.id}")
        if question.event_id is not None:
            status = (question.rsvp_map or {}).get(values[0])
            event = db.session.get(Event, question.event_id)
            if status and event is not None:
                supporters.record_rsvp(
                    person,
                    event,
                    RsvpStatus(status),
                    module="calling",
                    actor=by,
                    campaign_id=campaign.id,
                )


# --- audio leg -----------------------------------------------------------------------------


AUDIO_CONNECT_SECONDS = 120  # how long an audio.connect lets a browser leg in


def expect_browser_leg(session: CallingSession) -> None:
    """The page is about to connect its browser audio: let one leg in, for a while."""
    session.audio_expected_until = utcnow() + timedelta(seconds=AUDIO_CONNECT_SECONDS)
    db.session.flush()


def accept_browser_leg(session: CallingSession | None, user_id: str, call_sid: str) -> bool:
    """A browser leg asks to join (the TwiML App's voice URL): only the session's own
    volunteer, while a connect they asked for is pending. The leg is held as pending; it
    replaces the session's audio leg only when it joins the conference (``audio_leg_event``),
    so a stray leg never takes a working one down or marks audio up."""
    if (
        session is None
        or session.ended_at is not None
        or str(session.user_id) != user_id
        or not call_sid
        or session.audio_expected_until is None
        or session.audio_expected_until < utcnow()
    ):
        return False
    session.audio_expected_until = None
    session.audio_pending_sid = call_sid
    db.session.flush()
    return True


def accept_phone_leg(session: CallingSession | None, call_sid: str) -> bool:
    """The volunteer answered the call phonebank placed to their phone: that call only."""
    if session is None or session.ended_at is not None or not call_sid:
        return False
    if session.audio_call_sid not in (None, call_sid):
        return False
    session.audio_call_sid = call_sid
    db.session.flush()
    return True


def audio_leg_event(session: CallingSession, call_sid: str, joined: bool) -> list[str]:
    """A leg joined or left the volunteer's conference. A pending leg that joins becomes the
    session's leg (the one it replaces is returned, to hang up after commit)."""
    hang_ups: list[str] = []
    if session.ended_at is not None or not call_sid:
        return hang_ups
    if joined and call_sid == session.audio_pending_sid:
        if session.audio_call_sid and session.audio_call_sid != call_sid:
            hang_ups.append(session.audio_call_sid)  # the same volunteer, from a new page
        session.audio_call_sid = call_sid
        session.audio_pending_sid = None
    elif not joined and call_sid == session.audio_pending_sid:
        session.audio_pending_sid = None
        db.session.flush()
        return hang_ups
    elif call_sid != session.audio_call_sid:
        return hang_ups  # not this session's leg (an older one leaving, say)
    if session.audio_up != joined:
        log.info("session %s audio leg %s is %s", session.id, call_sid, "up" if joined else "down")
        session.audio_up = joined
        touch(session)
    db.session.flush()
    publish_session_state(session)
    return hang_ups


def audio_call_ended(session: CallingSession, call_sid: str | None) -> None:
    """The call to the volunteer's own phone ended."""
    if session.ended_at is None and call_sid and call_sid == session.audio_call_sid:
        if session.audio_up:
            session.audio_up = False
            touch(session)
        db.session.flush()
        publish_session_state(session)


# --- publishing ----------------------------------------------------------------------------


def publish_for_call(call: Call) -> None:
    session = call.session
    if session is not None:
        publish_session_state(session)


def publish_session_state(session: CallingSession) -> None:
    """Queue the full state of this session for its volunteer, emitted after commit.

    The version is raised in SQL (under the row lock), so concurrent changes get distinct,
    increasing versions and the page keeps only the newest snapshot.
    """
    from phonebank.calling.state import session_snapshot

    session.version = CallingSession.version + 1
    db.session.flush()
    # Holding the session row now, re-read what the snapshot shows: a change another
    # transaction committed meanwhile must not be hidden behind this higher version.
    for related in (session.current_call, session.current_target):
        if related is not None:
            db.session.expire(related)
    db.session.expire(session)
    realtime.publish(
        "session.state", session_snapshot(session), room=realtime.user_room(session.user_id)
    )
    from phonebank.monitoring.services import publish_volunteer

    publish_volunteer(session)  # the same change, for the campaign's dashboards
