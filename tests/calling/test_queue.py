"""The next-voter queue on SQLite and PostgreSQL: who may be claimed, in which order, when, and
why nobody can be."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import exc, insert, select, update

from phonebank.calling import queue
from phonebank.calling import services as calling
from phonebank.calling.queue import NothingToCall, choose_phone, claim_next_voter
from phonebank.campaigns import services as campaigns
from phonebank.extensions import db
from phonebank.models import (
    Address,
    Call,
    CallStatus,
    CampaignTarget,
    Person,
    Phone,
    PhoneStatus,
    PhoneType,
    TargetStatus,
)
from phonebank.supporters import services as supporters
from tests.calling.helpers import (
    CHICAGO,
    LOS_ANGELES,
    NEW_YORK,
    NOW,
    enlist,
    make_campaign,
    make_person,
    new_number,
    open_session,
    target_of,
    volunteer,
)
from tests.conftest import make_app

LEASE = timedelta(seconds=120)  # CLAIM_LEASE_SECONDS in the testing config


def claim(campaign, user=None, now=NOW):
    return claim_next_voter(campaign, user or volunteer(), now)


def nothing(campaign, user=None, now=NOW) -> NothingToCall:
    with pytest.raises(NothingToCall) as raised:
        claim(campaign, user, now)
    return raised.value


def test_claims_give_distinct_people_in_list_order(db):
    assert timedelta(seconds=queue.lease_seconds()) == LEASE
    campaign = make_campaign()
    people = [make_person(f"P{i}") for i in range(5)]
    enlist(campaign, *people)
    claimed = [claim(campaign).target for _ in range(5)]
    assert [t.person_id for t in claimed] == sorted(p.id for p in people)
    for target in claimed:
        assert target.status == TargetStatus.CLAIMED
        assert target.claimed_at == NOW
        assert target.lease_expires_at == NOW + LEASE
    assert nothing(campaign).reason == "others_calling"


def test_a_claimed_person_is_never_given_again(db):
    campaign = make_campaign()
    person = make_person()
    enlist(campaign, person)
    first, second = volunteer(), volunteer()
    got = claim(campaign, first)
    assert got.target.person_id == person.id
    assert got.target.claimed_by_id == first.id
    assert nothing(campaign, second).reason == "others_calling"
    assert nothing(campaign, first, NOW + timedelta(seconds=60)).reason == "others_calling"
    assert target_of(campaign, person).claimed_by_id == first.id


def test_adding_people_twice_is_harmless(db):
    campaign = make_campaign()
    a, b = make_person("A"), make_person("B")
    assert campaigns.add_people(campaign, [a.id, b.id, a.id]) == 2
    assert campaigns.add_people(campaign, [a.id, b.id]) == 0
    assert len(db.session.scalars(select(CampaignTarget)).all()) == 2
    target = target_of(campaign, a)
    assert target.status == TargetStatus.QUEUED
    assert target.zone_key == "America/New_York|NY"


# --- who is never claimed ------------------------------------------------------------------


def merged_person() -> Person:
    survivor = make_person("Survivor", phones=[])
    duplicate = make_person("Duplicate")
    supporters.merge_people(survivor, duplicate, module="test")
    return duplicate


def test_person_level_flags_are_never_claimed(db):
    campaign = make_campaign()
    flagged = [
        make_person("DoNotCall", do_not_call=True),
        make_person("Deceased", deceased=True),
        make_person("Moved", moved=True),
        merged_person(),
    ]
    good = make_person("Good")
    enlist(campaign, *flagged, good)
    assert claim(campaign).target.person_id == good.id
    assert nothing(campaign).reason == "others_calling"
    for person in flagged:
        assert target_of(campaign, person).status == TargetStatus.QUEUED


def test_flags_raised_after_enlisting_are_honoured(db):
    campaign = make_campaign()
    people = {flag: make_person(flag) for flag in ("do_not_call", "deceased", "moved")}
    enlist(campaign, *people.values())
    for flag, person in people.items():
        supporters.set_person_flags(person, module="test", **{flag: True})
    assert nothing(campaign).reason == "list_finished"


def test_numbers_on_the_do_not_call_list_and_bad_phones_are_never_claimed(db):
    campaign = make_campaign()
    listed, shared = new_number(), new_number()
    asked = make_person("Asked", phones=[(listed, "mobile")])
    # A household landline listed because someone else there asked: nobody is called on it.
    housemate = make_person("Housemate", phones=[(shared, "home")])
    asker = make_person("Asker", phones=[(shared, "home")])
    bad = make_person("Bad")
    no_phone = make_person("NoPhone", phones=[])
    enlist(campaign, asked, housemate, bad, no_phone)
    supporters.add_to_do_not_call(listed, reason="asked", source="test")
    supporters.add_to_do_not_call(shared, reason=f"person {asker.id} asked", source="test")
    supporters.mark_phone_bad(bad.phones[0], "disconnected", module="test")
    assert nothing(campaign).reason == "list_finished"


def test_person_with_another_good_phone_is_claimed_on_that_phone(db):
    campaign = make_campaign()
    listed, bad, good = new_number(), new_number(), new_number()
    person = make_person(phones=[(listed, "mobile"), (bad, "home"), (good, "work")])
    enlist(campaign, person)
    supporters.add_to_do_not_call(listed, source="test")
    supporters.mark_phone_bad(person.phones[1], "wrong_number", module="test")
    got = claim(campaign)
    assert got.target.person_id == person.id
    assert got.phone.number == good


# --- calling hours -------------------------------------------------------------------------


def test_outside_the_calling_window(db):
    campaign = make_campaign()
    enlist(campaign, make_person())
    early = NOW.replace(hour=10)  # 06:00 in New York
    refused = nothing(campaign, now=early)
    assert refused.reason == "outside_hours"
    assert refused.next_at == NOW.replace(hour=12)  # 08:00 in New York
    late = NOW.replace(hour=1, minute=30) + timedelta(days=1)  # 21:30 in New York
    refused = nothing(campaign, now=late)
    assert refused.reason == "outside_hours"
    assert refused.next_at == NOW.replace(hour=12) + timedelta(days=1)


def test_outside_hours_next_at_is_the_earliest_zone(db):
    campaign = make_campaign()
    enlist(
        campaign,
        make_person("West", zone=LOS_ANGELES, state="CA"),
        make_person("Kentucky", zone=NEW_YORK, state="KY"),
        make_person("Central", zone=CHICAGO, state="IL"),
    )
    refused = nothing(campaign, now=NOW.replace(hour=11))  # 07:00 in New York
    assert refused.reason == "outside_hours"
    assert refused.next_at == NOW.replace(hour=13)  # 08:00 in Chicago, before KY's 10:00


def test_outside_hours_next_at_counts_only_people_who_can_be_called(db):
    campaign = make_campaign()
    enlist(
        campaign,
        make_person("Opted out", zone=NEW_YORK, do_not_call=True),
        make_person("West", zone=LOS_ANGELES, state="CA"),
    )
    refused = nothing(campaign, now=NOW.replace(hour=10))  # 06:00 New York, 03:00 LA
    assert refused.reason == "outside_hours"
    assert refused.next_at == NOW.replace(hour=15)  # 08:00 in LA: nobody in New York to call


def test_only_people_inside_their_window_are_claimed(db):
    campaign = make_campaign()
    east = make_person("East", zone=NEW_YORK)
    west = make_person("West", zone=LOS_ANGELES, state="CA")
    enlist(campaign, west, east)
    morning = NOW.replace(hour=13)  # 09:00 New York, 06:00 Los Angeles
    east_target = claim(campaign, now=morning).target
    assert east_target.person_id == east.id
    refused = nothing(campaign, now=morning)
    assert refused.reason == "outside_hours"
    assert refused.next_at == NOW.replace(hour=15)  # 08:00 in Los Angeles
    queue.finish_target(east_target, "talked")
    assert claim(campaign, now=NOW.replace(hour=15)).target.person_id == west.id


def test_campaign_window_and_weekday_overrides_apply(db):
    campaign = make_campaign(window_start=17 * 60, weekday_windows={"2": None})  # no Wednesdays
    enlist(campaign, make_person())
    refused = nothing(campaign)  # Wednesday noon
    assert refused.reason == "outside_hours"
    assert refused.next_at == NOW.replace(hour=21) + timedelta(days=1)  # Thursday 17:00 EDT


def test_ambiguous_zone_is_claimed_only_inside_every_candidate_window(db):
    campaign = make_campaign()
    person = make_person(zone=None, phone_zones=[NEW_YORK, CHICAGO])
    enlist(campaign, person)
    # (the state's rules come from the number when there is no address: 212 is New York)
    assert target_of(campaign, person).zone_key == "America/Chicago America/New_York|NY"
    refused = nothing(campaign, now=NOW.replace(hour=12, minute=30))  # 08:30 NY, 07:30 Chicago
    assert refused.reason == "outside_hours"
    assert refused.next_at == NOW.replace(hour=13)
    assert claim(campaign, now=NOW.replace(hour=13)).target.person_id == person.id


def test_address_zone_wins_over_phone_zones(db):
    campaign = make_campaign()
    person = make_person(zone=LOS_ANGELES, state="CA", phone_zones=[NEW_YORK])
    enlist(campaign, person)
    assert target_of(campaign, person).zone_key == "America/Los_Angeles|CA"
    assert nothing(campaign, now=NOW.replace(hour=13)).reason == "outside_hours"


def test_person_without_any_known_zone_is_never_claimed(db):
    campaign = make_campaign()
    person = make_person(zone=None, phone_zones=[])
    enlist(campaign, person)
    target = target_of(campaign, person)
    assert target.zone_key == "|NY"
    # Listed as unreachable at once, so the list can finish, rather than waiting for ever.
    assert (str(target.status), target.done_reason) == ("done", "no_time_zone")
    for hour in range(0, 24, 2):
        with pytest.raises(NothingToCall):
            claim(campaign, now=NOW.replace(hour=hour))


# --- order, retries, attempts --------------------------------------------------------------


def test_due_call_backs_come_first(db):
    campaign = make_campaign()
    fresh = [make_person(f"Fresh{i}") for i in range(3)]
    promised = make_person("Promised")
    later = make_person("Later")
    enlist(campaign, *fresh, promised, later)
    for person, due in ((promised, NOW - timedelta(minutes=5)), (later, NOW + timedelta(hours=1))):
        target = target_of(campaign, person)
        target.priority = 0
        target.due_at = due
    db.session.flush()
    first = claim(campaign).target
    assert first.person_id == promised.id
    second = claim(campaign).target
    assert second.person_id == fresh[0].id
    queue.finish_target(first, "talked")
    queue.finish_target(second, "talked")
    hour_later = NOW + timedelta(hours=1)
    assert claim(campaign, now=hour_later).target.person_id == later.id


def test_a_call_back_is_made_even_after_the_last_attempt(db):
    campaign = make_campaign(max_attempts=2)
    person = make_person()
    enlist(campaign, person)
    target = target_of(campaign, person)
    target.attempts = 2
    target.priority = 0
    target.due_at = NOW
    db.session.flush()
    assert claim(campaign).target.person_id == person.id


def test_retry_waits_for_due_at(db):
    campaign = make_campaign()
    person = make_person()
    enlist(campaign, person)
    target = target_of(campaign, person)
    target.attempts = 1
    target.due_at = NOW + timedelta(minutes=90)
    db.session.flush()
    refused = nothing(campaign)
    assert refused.reason == "waiting_for_retry"
    assert refused.next_at == NOW + timedelta(minutes=90)
    assert nothing(campaign, now=NOW + timedelta(minutes=89)).reason == "waiting_for_retry"
    assert claim(campaign, now=NOW + timedelta(minutes=90)).target.person_id == person.id


def test_max_attempts_is_respected(db):
    campaign = make_campaign(max_attempts=3)
    spent, fresh = make_person("Spent"), make_person("Fresh")
    enlist(campaign, spent, fresh)
    target_of(campaign, spent).attempts = 3
    target_of(campaign, fresh).attempts = 2
    db.session.flush()
    assert claim(campaign).target.person_id == fresh.id
    assert nothing(campaign).reason == "others_calling"
    campaign.max_attempts = 4
    db.session.flush()
    assert claim(campaign).target.person_id == spent.id


# --- leases --------------------------------------------------------------------------------


def test_expired_lease_is_returned_by_the_sweeper(db):
    campaign = make_campaign()
    person = make_person()
    enlist(campaign, person)
    first, second = volunteer(), volunteer()
    claim(campaign, first)
    assert queue.release_expired_claims(NOW + LEASE) == 0  # expires strictly after the lease
    assert target_of(campaign, person).status == TargetStatus.CLAIMED
    assert queue.release_expired_claims(NOW + LEASE + timedelta(seconds=1)) == 1
    target = target_of(campaign, person)
    assert target.status == TargetStatus.QUEUED
    assert target.claimed_by_id is None
    assert target.lease_expires_at is None
    assert queue.release_expired_claims(NOW + LEASE + timedelta(seconds=2)) == 0
    later = NOW + LEASE + timedelta(seconds=3)
    got = claim(campaign, second, later)
    assert got.target.person_id == person.id
    assert got.target.claimed_by_id == second.id
    assert got.target.lease_expires_at == later + LEASE


def test_expired_lease_is_reclaimed_directly(db):
    campaign = make_campaign()
    person = make_person()
    enlist(campaign, person)
    first, second = volunteer(), volunteer()
    original = claim(campaign, first).target
    assert nothing(campaign, second, NOW + LEASE - timedelta(seconds=1)).reason == (
        "others_calling"
    )
    later = NOW + LEASE + timedelta(seconds=1)
    got = claim(campaign, second, later)
    assert got.target.id == original.id
    assert got.target.claimed_by_id == second.id
    assert got.target.claimed_at == later


def test_a_target_in_a_call_never_returns(db):
    campaign = make_campaign()
    person = make_person()
    enlist(campaign, person)
    target = claim(campaign).target
    target.status = TargetStatus.IN_CALL  # as prepare_call leaves it
    target.lease_expires_at = NOW - timedelta(hours=1)  # even with a stale lease
    db.session.flush()
    tomorrow = NOW + timedelta(days=1)
    assert queue.release_expired_claims(tomorrow) == 0
    assert nothing(campaign, now=tomorrow).reason == "others_calling"
    assert target_of(campaign, person).status == TargetStatus.IN_CALL


def test_release_claim_puts_the_person_back(db):
    campaign = make_campaign()
    person = make_person()
    enlist(campaign, person)
    target = claim(campaign).target
    queue.release_claim(target, due_at=NOW + timedelta(minutes=10))
    assert target.status == TargetStatus.QUEUED
    assert target.claimed_by_id is None
    assert nothing(campaign).reason == "waiting_for_retry"
    assert claim(campaign, now=NOW + timedelta(minutes=10)).target.id == target.id


# --- one person, several campaigns ---------------------------------------------------------


def test_one_person_is_never_claimed_in_two_campaigns_at_once(db):
    first, second = make_campaign("First"), make_campaign("Second")
    shared = make_person("Shared")
    only_second = make_person("OnlySecond")
    enlist(first, shared)
    enlist(second, shared, only_second)
    assert claim(first).target.person_id == shared.id
    assert claim(second).target.person_id == only_second.id
    refused = nothing(second)
    # Someone is calling the shared person right now: it is not a matter of calling hours.
    assert refused.reason == "others_calling"
    assert target_of(second, shared).status == TargetStatus.QUEUED


def test_busy_elsewhere_until_released(db):
    first, second = make_campaign("First"), make_campaign("Second")
    shared = make_person("Shared")
    enlist(first, shared)
    enlist(second, shared)
    held = claim(first).target
    held.status = TargetStatus.IN_CALL  # in a call: blocks even with the lease long gone
    db.session.flush()
    with pytest.raises(NothingToCall):
        claim(second, now=NOW + timedelta(hours=2))
    held.status = TargetStatus.CLAIMED
    queue.release_claim(held)
    assert claim(second).target.person_id == shared.id
    with pytest.raises(NothingToCall):
        claim(first)


def test_the_database_refuses_one_person_busy_in_two_campaigns(db):
    first, second = make_campaign("First"), make_campaign("Second")
    shared = make_person("Shared")
    a = enlist(first, shared)[0]
    b = enlist(second, shared)[0]
    db.session.execute(
        update(CampaignTarget).where(CampaignTarget.id == a.id).values(status="claimed")
    )
    with pytest.raises(exc.IntegrityError), db.session.begin_nested():
        db.session.execute(
            update(CampaignTarget).where(CampaignTarget.id == b.id).values(status="in_call")
        )


# --- choosing the phone --------------------------------------------------------------------


def person_with_every_type() -> tuple[Person, dict[str, Phone]]:
    person = make_person(
        phones=[(new_number(), kind) for kind in ("unknown", "work", "home", "mobile")]
    )
    return person, {p.type.value: p for p in person.phones}


def test_choose_phone_by_the_campaigns_order(db):
    campaign = make_campaign()
    person, phones = person_with_every_type()
    target = enlist(campaign, person)[0]
    assert choose_phone(target, campaign) == phones["mobile"]  # mobile first by default
    assert claim(campaign).phone == phones["mobile"]
    campaign.phone_order = "home,work,unknown,mobile"
    assert choose_phone(target, campaign) == phones["home"]
    campaign.phone_order = "unknown, work ,mobile,home"
    assert choose_phone(target, campaign) == phones["unknown"]


def test_choose_phone_untried_first_then_the_best_tried(db):
    campaign = make_campaign()
    person, phones = person_with_every_type()
    target = enlist(campaign, person)[0]
    target.tried_phone_ids = [phones["mobile"].id]
    assert choose_phone(target, campaign) == phones["home"]
    target.tried_phone_ids = [phones["mobile"].id, phones["home"].id]
    assert choose_phone(target, campaign) == phones["work"]
    target.tried_phone_ids = [p.id for p in phones.values()]
    assert choose_phone(target, campaign) == phones["mobile"]
    # Bad phones and listed numbers are never chosen, tried or not.
    supporters.mark_phone_bad(phones["mobile"], "wrong_number", module="test")
    supporters.add_to_do_not_call(phones["home"].number, source="test")
    assert choose_phone(target, campaign) == phones["work"]
    supporters.mark_phone_bad(phones["work"], "fax", module="test")
    supporters.mark_phone_bad(phones["unknown"], "fax", module="test")
    assert choose_phone(target, campaign) is None


def test_claim_skips_a_person_whose_last_phone_just_went_bad(db, monkeypatch):
    """The good-phone check and choose_phone run apart: a phone going bad in between finishes
    the target as ``no_good_phone`` and the next person is claimed."""
    campaign = make_campaign()
    gone, next_one = make_person("Gone"), make_person("Next")
    enlist(campaign, gone, next_one)
    real = queue.choose_phone
    monkeypatch.setattr(
        queue,
        "choose_phone",
        lambda target, campaign: None if target.person_id == gone.id else real(target, campaign),
    )
    assert claim(campaign).target.person_id == next_one.id
    finished = target_of(campaign, gone)
    assert finished.status == TargetStatus.DONE
    assert finished.done_reason == "no_good_phone"


# --- Florida and Oklahoma: three calls in 24 hours ----------------------------------------


def past_calls(person: Person, campaign, *ages: timedelta) -> None:
    """Calls already made to this person (in any campaign), ``ages`` before NOW."""
    target = target_of(campaign, person) or enlist(campaign, person)[0]
    user = volunteer()
    for age in ages:
        made = Call(
            campaign_id=campaign.id,
            target_id=target.id,
            person_id=person.id,
            phone_id=person.phones[0].id,
            volunteer_id=user.id,
            status=CallStatus.NO_ANSWER,
            created_at=NOW - age,
        )
        db.session.add(made)
    db.session.flush()


@pytest.mark.parametrize(("state", "zone"), [("FL", NEW_YORK), ("OK", CHICAGO)])
def test_three_calls_in_24_hours(db, state, zone):
    campaign = make_campaign()
    limited = make_person("Limited", zone=zone, state=state)
    older = make_person("Older", zone=zone, state=state)
    elsewhere = make_person("Elsewhere", zone=zone, state="TX")
    enlist(campaign, limited, older, elsewhere)
    hours = timedelta(hours=1)
    past_calls(limited, campaign, 23 * hours, 2 * hours, 1 * hours)
    past_calls(older, campaign, 25 * hours, 2 * hours, 1 * hours)  # one is over 24 hours old
    past_calls(elsewhere, campaign, 3 * hours, 2 * hours, 1 * hours)  # no limit in Texas
    # The limited person is passed over (and told when to come back); the others are not.
    for expected in (older, elsewhere):
        got = claim(campaign).target
        assert got.person_id == expected.id
        queue.finish_target(got, "talked")
    refused = nothing(campaign)
    assert refused.reason == "waiting_for_retry"
    assert refused.next_at == NOW + hours  # when the oldest of the three is 24 hours old
    target = target_of(campaign, limited)
    assert target.status == TargetStatus.QUEUED
    assert target.due_at == NOW + hours
    assert claim(campaign, now=NOW + hours).target.person_id == limited.id


def test_calls_in_other_campaigns_count_towards_the_limit(db):
    campaign, other = make_campaign("This"), make_campaign("Other")
    person = make_person(state="FL")
    enlist(campaign, person)
    past_calls(person, other, timedelta(hours=5), timedelta(hours=4), timedelta(hours=3))
    assert nothing(campaign).reason == "waiting_for_retry"


# --- why nobody can be called --------------------------------------------------------------


def test_list_finished(db):
    campaign = make_campaign(max_attempts=1)
    assert nothing(campaign).reason == "list_finished"  # an empty list
    spent, done = make_person("Spent"), make_person("Done")
    enlist(campaign, spent, done)
    target_of(campaign, spent).attempts = 1
    queue.finish_target(target_of(campaign, done), "talked")
    refused = nothing(campaign)
    assert refused.reason == "list_finished"
    assert refused.next_at is None
    queue.finish_target(target_of(campaign, spent), "max_attempts")
    assert nothing(campaign).reason == "list_finished"  # everyone done
    assert nothing(campaign, now=NOW.replace(hour=3)).reason == "list_finished"  # even at night


def test_waiting_for_retry_reports_the_earliest_retry(db):
    campaign = make_campaign()
    people = [make_person(f"P{i}") for i in range(3)]
    enlist(campaign, *people)
    for minutes, person in zip((50, 20, 70), people, strict=True):
        target_of(campaign, person).due_at = NOW + timedelta(minutes=minutes)
    db.session.flush()
    refused = nothing(campaign)
    assert refused.reason == "waiting_for_retry"
    assert refused.next_at == NOW + timedelta(minutes=20)


def test_others_calling_when_the_rest_are_claimed(db):
    campaign = make_campaign()
    enlist(campaign, make_person())
    claim(campaign)
    refused = nothing(campaign)
    assert refused.reason == "others_calling"
    assert refused.next_at is None


# --- sessions over the queue ---------------------------------------------------------------


def test_ending_a_session_returns_the_person_in_hand(db, clock):
    campaign = make_campaign()
    person = make_person()
    enlist(campaign, person)
    session = open_session(campaign)
    assert calling.present_next_voter(session).person_id == person.id
    calling.end_session(session)
    target = target_of(campaign, person)
    assert target.status == TargetStatus.QUEUED
    assert target.claimed_by_id is None
    assert claim(campaign).target.person_id == person.id


def test_skipping_puts_the_person_back_for_an_hour(db, clock):
    campaign = make_campaign()
    person = make_person()
    enlist(campaign, person)
    session = open_session(campaign)
    calling.present_next_voter(session)
    calling.skip_voter(session, "know_them")
    target = target_of(campaign, person)
    assert target.status == TargetStatus.QUEUED
    assert target.due_at == NOW + timedelta(hours=1)
    assert target.last_outcome == "skipped:know_them"
    assert session.current_target_id is None
    assert calling.present_next_voter(session) is None
    assert session.notice["reason"] == "waiting_for_retry"


def test_a_session_waiting_outside_hours_says_when(db, clock):
    campaign = make_campaign()
    enlist(campaign, make_person())
    clock.set(NOW.replace(hour=10))  # 06:00 in New York
    session = open_session(campaign)
    assert calling.present_next_voter(session) is None
    assert session.notice == {
        "reason": "outside_hours",
        "next_at": NOW.replace(hour=12).isoformat(),
    }


# --- PostgreSQL: real concurrency ----------------------------------------------------------


def bulk_people(count: int, zone: str = NEW_YORK) -> list[int]:
    """Many people with one mobile each, inserted in bulk (the builders flush per row)."""
    ids = db.session.scalars(
        insert(Person).returning(Person.id, sort_by_parameter_order=True),
        [{"first_name": f"Bulk{i}", "last_name": "Doe"} for i in range(count)],
    ).all()
    db.session.execute(
        insert(Address),
        [{"person_id": pid, "region": "NY", "country": "US", "time_zone": zone} for pid in ids],
    )
    db.session.execute(
        insert(Phone),
        [
            {
                "person_id": pid,
                "number": f"+1212{5000000 + pid:07d}",
                "type": PhoneType.MOBILE,
                "status": PhoneStatus.OK,
                "time_zones": zone,
            }
            for pid in ids
        ],
    )
    db.session.flush()
    return ids


def claim_until_empty(app, campaign_ids, user_id, results, errors, barrier):
    """One volunteer's worker: claim and commit until nothing is left, in its own session."""
    from phonebank.models import Campaign, User

    with app.app_context():
        try:
            user = db.session.get(User, user_id)
            campaign_list = [db.session.get(Campaign, cid) for cid in campaign_ids]
            db.session.commit()
            barrier.wait()
            empty = set()
            while len(empty) < len(campaign_list):
                for campaign in campaign_list:
                    if campaign.id in empty:
                        continue
                    try:
                        got = claim_next_voter(campaign, user, NOW)
                    except NothingToCall:
                        db.session.rollback()
                        empty.add(campaign.id)
                        continue
                    results.append((campaign.id, got.target.id, got.target.person_id))
                    db.session.commit()
        except Exception as error:  # noqa: BLE001 - reported by the test
            errors.append(error)
        finally:
            db.session.remove()


def run_workers(app, campaign_ids, user_ids):
    results, errors = [], []
    barrier = threading.Barrier(len(user_ids), timeout=30)
    threads = [
        threading.Thread(
            target=claim_until_empty, args=(app, campaign_ids, uid, results, errors, barrier)
        )
        for uid in user_ids
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(t.is_alive() for t in threads), "a claiming thread hung"
    assert not errors, errors
    return results


@pytest.fixture
def pg_app(postgres_url):
    app = make_app(postgres_url)
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def test_concurrent_claims_never_give_a_target_twice(pg_app):
    campaign = make_campaign()
    person_ids = bulk_people(300)
    assert campaigns.add_people(campaign, person_ids) == 300
    user_ids = [volunteer().id for _ in range(12)]
    campaign_id = campaign.id
    db.session.commit()

    results = run_workers(pg_app, [campaign_id], user_ids)

    target_ids = [target_id for _, target_id, _ in results]
    assert len(target_ids) == len(set(target_ids)), "a target was claimed twice"
    assert len(target_ids) == 300
    db.session.expire_all()
    statuses = db.session.scalars(
        select(CampaignTarget.status).where(CampaignTarget.campaign_id == campaign_id)
    ).all()
    assert statuses == [TargetStatus.CLAIMED] * 300
    workers = {row[0] for row in db.session.execute(select(CampaignTarget.claimed_by_id))}
    assert len(workers) > 1, "one thread did all the work: no concurrency was exercised"


def test_concurrent_claims_across_campaigns_never_share_a_person(pg_app):
    first, second = make_campaign("First"), make_campaign("Second")
    person_ids = bulk_people(120)
    campaigns.add_people(first, person_ids)
    campaigns.add_people(second, person_ids)
    user_ids = [volunteer().id for _ in range(10)]
    campaign_ids = [first.id, second.id]
    db.session.commit()

    results = run_workers(pg_app, campaign_ids, user_ids)

    people = [person_id for _, _, person_id in results]
    assert len(people) == len(set(people)), "one person was claimed in both campaigns"
    assert sorted(people) == sorted(person_ids)
