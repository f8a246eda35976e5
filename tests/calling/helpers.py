"""Builders and a controllable clock for the calling loop's tests (queue, outcomes, callbacks).

Nothing here reaches Twilio: a dialed call is prepared with ``prepare_call`` and then given a
provider SID and the ``queued`` status by hand, as ``place_call`` would after the provider
answered; Twilio's status callbacks are fed in as the dicts the webhook would pass on.
"""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from phonebank.calling import services as calling
from phonebank.campaigns import services as campaigns
from phonebank.extensions import db
from phonebank.models import (
    Activity,
    AudioMode,
    Call,
    CallingSession,
    CallStatus,
    Campaign,
    CampaignMember,
    CampaignStatus,
    CampaignTarget,
    Person,
    PhoneType,
    Role,
    User,
)
from phonebank.supporters import services as supporters
from tests import factories

# Wednesday 10 June 2026, 16:00 UTC: 12:00 in New York, 11:00 in Chicago, 09:00 in Los Angeles.
NOW = datetime(2026, 6, 10, 16, 0, tzinfo=UTC)
NEW_YORK = "America/New_York"
CHICAGO = "America/Chicago"
LOS_ANGELES = "America/Los_Angeles"

_numbers = itertools.count(1000)


def new_number(area: str = "212") -> str:
    """A fresh E.164 number (stored as given; the store does not dial it)."""
    return f"+1{area}555{next(_numbers) % 10000:04d}"


class Clock:
    """The time the calling services see (``utcnow`` in the queue and the calling services)."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def set(self, now: datetime) -> datetime:
        self.now = now
        return now

    def advance(self, **delta) -> datetime:
        self.now = self.now + timedelta(**delta)
        return self.now


# --- people and campaigns ------------------------------------------------------------------


def make_person(
    first_name: str = "Ann",
    *,
    phones: list[tuple[str, str]] | None = None,
    zone: str | None = NEW_YORK,
    state: str = "NY",
    phone_zones: list[str] | None = None,
    **flags: bool,
) -> Person:
    """A person with a US address in ``zone`` (None: no address) and the given phones
    (``[(number, type)]``; by default one mobile), whose zones are ``phone_zones`` (by default
    the address's zone)."""
    person = supporters.create_person(first_name, "Doe", **flags)
    if zone is not None:
        supporters.add_address(
            person, city="Springfield", region=state, country="US", time_zone=zone
        )
    for number, kind in phones if phones is not None else [(new_number(), "mobile")]:
        zones = phone_zones if phone_zones is not None else [zone] if zone else []
        supporters.add_phone(person, number, PhoneType(kind), time_zones=zones)
    return person


def make_campaign(name: str = "GOTV", **settings) -> Campaign:
    """An active campaign with the default outcomes (every setting given explicitly)."""
    values = {
        "window_start": 8 * 60,
        "window_end": 21 * 60,
        "weekday_windows": {},
        "max_attempts": 3,
        "phone_order": "mobile,home,work,unknown",
        "caller_id": "+12025550100",
        "voicemail_text": "",
        "voicemail_url": "",
        "script": "Hi {first_name}, this is {volunteer_name}.",
        **settings,
    }
    campaign = campaigns.create_campaign(name, **values)
    campaign.status = CampaignStatus.ACTIVE
    db.session.flush()
    return campaign


def enlist(campaign: Campaign, *people: Person) -> list[CampaignTarget]:
    campaigns.add_people(campaign, [p.id for p in people])
    return [target_of(campaign, p) for p in people]


def target_of(campaign: Campaign, person: Person) -> CampaignTarget:
    return db.session.scalar(
        select(CampaignTarget)
        .where(CampaignTarget.campaign_id == campaign.id, CampaignTarget.person_id == person.id)
        .execution_options(populate_existing=True)
    )


def volunteer(name: str | None = None) -> User:
    return factories.user(Role.VOLUNTEER, name=name)


def count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def call_activities(person: Person) -> list[Activity]:
    return list(
        db.session.scalars(
            select(Activity)
            .where(Activity.person_id == person.id, Activity.kind == "call")
            .order_by(Activity.id)
        )
    )


# --- sessions and calls --------------------------------------------------------------------


def open_session(campaign: Campaign, user: User | None = None) -> CallingSession:
    """A volunteer who joined the campaign, has browser audio up and pressed Ready."""
    user = user or volunteer()
    db.session.add(CampaignMember(campaign_id=campaign.id, user_id=user.id))
    db.session.flush()
    session = calling.join_campaign(user, campaign)
    if session.audio_mode is None:  # manual campaigns need no audio leg
        session.audio_mode = AudioMode.BROWSER
        session.audio_up = True
    calling.set_ready(session, True)
    return session


def dial(session: CallingSession, clock: Clock | None = None) -> Call:
    """Present the next voter (if none in hand) and dial them, without any provider.

    Like the ``call.dial`` socket event followed by ``place_call``: prepare, then the provider's
    SID and ``queued`` status, then commit.
    """
    if session.current_target_id is None:
        target = calling.present_next_voter(session)
        assert target is not None, session.notice
    call = calling.prepare_call(session)
    assert call is not None, session.notice
    call.provider_sid = "CA" + uuid.uuid4().hex
    call.status = CallStatus.QUEUED
    call.dialed_at = clock() if clock else call.created_at
    db.session.commit()
    return call


def twilio(call: Call, status: str, sequence: int, duration: int | None = None) -> Call | None:
    """Deliver one of Twilio's status callbacks for this call (one webhook request: commits)."""
    params = {
        "AccountSid": "AC" + "0" * 32,
        "CallSid": call.provider_sid,
        "CallStatus": status,
        "SequenceNumber": str(sequence),
        "Direction": "outbound-api",
        "ApiVersion": "2010-04-01",
    }
    if duration is not None:
        params["CallDuration"] = str(duration)
    result = calling.apply_status_callback(call.id, params)
    db.session.commit()
    return result


def amd(call: Call, answered_by: str) -> tuple[Call | None, str | None]:
    """Deliver the answering-machine detection result (one webhook request: commits)."""
    result = calling.apply_amd_result(call.id, answered_by)
    db.session.commit()
    return result


def answer(call: Call) -> None:
    """initiated, ringing, in-progress: a person picked up."""
    twilio(call, "initiated", 0)
    twilio(call, "ringing", 1)
    twilio(call, "in-progress", 2)


def submit(session: CallingSession, call: Call, code: str, **kwargs):
    """The ``outcome.submit`` socket event: commits, or rolls back on a refusal."""
    kwargs.setdefault("answers", {})
    kwargs.setdefault("notes", "")
    kwargs.setdefault("submission_id", uuid.uuid4().hex)
    try:
        result = calling.submit_outcome(session, call_id=call.id, outcome_code=code, **kwargs)
    except calling.CallingError:
        db.session.rollback()
        raise
    db.session.commit()
    return result
