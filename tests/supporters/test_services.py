"""The shared supporter store's service API, on SQLite and PostgreSQL (the ``app`` matrix)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import exc, func, select, text

from phonebank.models import (
    Activity,
    Address,
    Attendance,
    CustomField,
    DoNotCallNumber,
    Email,
    EmailStatus,
    Event,
    ExternalId,
    Person,
    PersonTag,
    Phone,
    PhoneStatus,
    PhoneType,
    RsvpStatus,
    Tag,
)
from phonebank.supporters import services as supporters
from phonebank.supporters.services import SupporterError
from tests import factories
from tests.conftest import make_app

# Numbers that phonenumbers accepts as valid, with known zones.
DC = "+12025550123"  # Washington DC: America/New_York
CHICAGO = "+13125550123"  # America/Chicago
SOUTH_DAKOTA = "+16055550123"  # 605 spans Mountain and Central time
IDAHO = "+12085550123"  # 208 spans Mountain and Pacific time
EDINBURGH = "+441314960123"
LONDON = "+442079460000"

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)  # before "now", whenever the tests run


def count(db, model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def activities_of(db, person: Person) -> list[Activity]:
    """Activities stored on exactly this person row, oldest first."""
    return list(
        db.session.scalars(
            select(Activity).where(Activity.person_id == person.id).order_by(Activity.id)
        )
    )


def ann(**flags) -> Person:
    return supporters.create_person("Ann", "Lee", **flags)


# --- normalize_phone -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("(202) 555-0123", "US", DC),
        ("202-555-0123", "US", DC),
        ("2025550123", "US", DC),
        ("+1 202 555 0123", "US", DC),
        ("  202.555.0123  ", "us", DC),
        ("+44 (0)131 496 0123", "US", EDINBURGH),
        ("+44 (0)131 496 0123", "GB", EDINBURGH),
        ("0131 496 0123", "GB", EDINBURGH),
        ("020 7946 0000", "GB", LONDON),
        ("0044 20 7946 0000", "GB", LONDON),
    ],
)
def test_normalize_phone_gives_e164(raw, region, expected):
    assert supporters.normalize_phone(raw, region) == expected


def test_normalize_phone_default_region_is_us():
    assert supporters.normalize_phone("312 555 0123") == CHICAGO


@pytest.mark.parametrize(
    ("raw", "region", "reason"),
    [
        ("", "US", "no number given"),
        ("   ", "US", "no number given"),
        (None, "US", "no number given"),
        ("call me maybe", "US", "not a phone number"),
        ("12345", "US", "wrong number of digits"),
        ("+1 212 555 01", "US", "wrong number of digits"),
        ("555-768-3292", "US", "not a valid number in its region"),  # 555 is no area code
        ("07700 900123", "GB", "not a valid number in its region"),  # Ofcom drama range
    ],
)
def test_normalize_phone_refuses_unusable_numbers_with_a_reason(raw, region, reason):
    with pytest.raises(SupporterError) as refused:
        supporters.normalize_phone(raw, region)
    assert reason in str(refused.value)


def test_supporter_error_is_a_value_error():
    # Forms and imports catch ValueError for bad input; SupporterError must be one.
    assert issubclass(SupporterError, ValueError)


# --- phone_time_zones ----------------------------------------------------------------------


def test_phone_time_zones_single_zone():
    assert supporters.phone_time_zones(DC) == ["America/New_York"]
    assert supporters.phone_time_zones(CHICAGO) == ["America/Chicago"]
    assert supporters.phone_time_zones(EDINBURGH) == ["Europe/London"]


def test_phone_time_zones_lists_every_zone_of_a_split_area_code():
    # phonenumbers lists no zone for this exchange: every zone the area code spans, Sioux
    # Falls' Central time included (not only the area code's default).
    assert supporters.phone_time_zones(SOUTH_DAKOTA) == [
        "America/Chicago",
        "America/Denver",
        "America/North_Dakota/Center",
    ]
    assert supporters.phone_time_zones(IDAHO) == ["America/Boise", "America/Los_Angeles"]


def test_phone_time_zones_of_an_unknown_number_is_empty():
    # +1 200 is not an area code: no zone rather than "Etc/Unknown".
    assert supporters.phone_time_zones("+12005550100") == []


def test_phone_time_zones_refuses_what_is_not_a_number():
    with pytest.raises(SupporterError):
        supporters.phone_time_zones("not a number")


# --- normalize_email -----------------------------------------------------------------------


def test_normalize_email_lower_cases_and_strips():
    assert supporters.normalize_email("  Ann.Lee@Example.ORG ") == "ann.lee@example.org"


@pytest.mark.parametrize("bad", ["", "ann", "ann@", "@example.org", "ann@@example.org"])
def test_normalize_email_refuses_invalid_addresses(bad):
    with pytest.raises(SupporterError):
        supporters.normalize_email(bad)


# --- create_person, get_person, load_profile -----------------------------------------------


def test_create_person_strips_names_and_sets_flags(app, db):
    person = supporters.create_person("  Ann ", " Lee  ", do_not_email=True)
    db.session.commit()
    stored = db.session.get(Person, person.id)
    assert (stored.first_name, stored.last_name) == ("Ann", "Lee")
    assert stored.full_name == "Ann Lee"
    assert stored.do_not_email is True
    assert stored.do_not_call is False
    assert stored.callable is True
    assert stored.created_at.tzinfo is not None


def test_create_person_truncates_long_names_to_the_column(app, db):
    person = supporters.create_person("A" * 150, "B" * 150)
    db.session.commit()
    assert len(db.session.get(Person, person.id).first_name) == 100


def test_create_person_refuses_unknown_flags(app, db):
    with pytest.raises(SupporterError, match="unknown person flag"):
        supporters.create_person("Ann", "Lee", vip=True)
    assert count(db, Person) == 0


def test_a_person_without_names_has_a_placeholder_name(app, db):
    assert supporters.create_person().full_name == "(no name)"


def test_get_person_returns_none_for_unknown_ids(app, db):
    assert supporters.get_person(12345) is None


def test_get_person_refuses_a_merge_loop(app, db):
    a, b = ann(), supporters.create_person("Bo", "Lee")
    a.merged_into_id = b.id
    b.merged_into_id = a.id
    db.session.flush()
    with pytest.raises(SupporterError, match="merge loop"):
        supporters.get_person(a.id)


def test_load_profile_loads_every_collection(app, db):
    person = ann()
    supporters.add_phone(person, DC)
    supporters.add_email(person, "ann@example.org")
    supporters.add_address(person, line1="1 Main St", city="Riverside", country="US")
    supporters.tag_person(person, "volunteer")
    supporters.add_external_id(person, "van", "42")
    supporters.set_custom_field(person, "ward", "7")
    db.session.commit()
    person_id = person.id
    db.session.expunge_all()

    profile = supporters.load_profile(person_id)
    assert [p.number for p in profile.phones] == [DC]
    assert [e.address for e in profile.emails] == ["ann@example.org"]
    assert [a.line1 for a in profile.addresses] == ["1 Main St"]
    assert [t.name for t in profile.tags] == ["volunteer"]
    assert [(x.system, x.value) for x in profile.external_ids] == [("van", "42")]
    assert [(f.name, f.value) for f in profile.custom_fields] == [("ward", "7")]
    assert supporters.load_profile(99999) is None


# --- find_or_create_person -----------------------------------------------------------------


def test_find_or_create_creates_a_person_with_every_identifier(app, db):
    person = supporters.find_or_create_person(
        "Ann",
        "Lee",
        email="Ann@Example.org",
        phone="(202) 555-0123",
        external_id=("van", "1001"),
        source="lists",
    )
    db.session.commit()

    stored = supporters.load_profile(person.id)
    assert (stored.first_name, stored.last_name) == ("Ann", "Lee")
    assert [(p.number, p.source, p.type) for p in stored.phones] == [
        (DC, "lists", PhoneType.UNKNOWN)
    ]
    assert stored.phones[0].time_zones == "America/New_York"
    assert [(e.address, e.source, e.status) for e in stored.emails] == [
        ("ann@example.org", "lists", EmailStatus.SUBSCRIBED)
    ]
    assert [(x.system, x.value) for x in stored.external_ids] == [("van", "1001")]


def test_find_or_create_twice_makes_no_duplicates(app, db):
    kwargs = dict(
        first_name="Ann",
        last_name="Lee",
        email="ann@example.org",
        phone="202 555 0123",
        external_id=("van", "1001"),
    )
    first = supporters.find_or_create_person(**kwargs)
    db.session.commit()
    again = supporters.find_or_create_person(**kwargs)
    db.session.commit()

    assert again.id == first.id
    assert count(db, Person) == 1
    assert count(db, Phone) == 1
    assert count(db, Email) == 1
    assert count(db, ExternalId) == 1


def test_find_or_create_matches_by_external_id_first(app, db):
    by_id = supporters.find_or_create_person("Ann", "Lee", external_id=("van", "1001"))
    by_phone = supporters.find_or_create_person("Ann", "Lee", phone=DC)
    db.session.commit()
    assert by_id.id != by_phone.id

    # The external id wins over a phone that matches someone else with the same name.
    found = supporters.find_or_create_person("Ann", "Lee", phone=DC, external_id=("van", "1001"))
    assert found.id == by_id.id
    assert [p.number for p in found.phones] == [DC]  # the phone was added to them
    assert count(db, Person) == 2


def test_find_or_create_external_id_ignores_the_name(app, db):
    person = supporters.find_or_create_person("Ann", "Lee", external_id=("van", "1001"))
    found = supporters.find_or_create_person("Annie", "Lee-Smith", external_id=("van", "1001"))
    assert found.id == person.id
    assert found.first_name == "Ann"  # matching never renames


def test_find_or_create_external_id_system_and_value_are_normalised(app, db):
    person = supporters.find_or_create_person("Ann", "Lee", external_id=("van", "1001"))
    db.session.commit()
    found = supporters.find_or_create_person("Ann", "Lee", external_id=(" VAN ", " 1001 "))
    assert found.id == person.id
    assert supporters.find_person_by_external_id("Van", "1001").id == person.id
    assert count(db, Person) == 1


def test_find_or_create_matches_phone_only_with_the_same_name(app, db):
    ann_lee = supporters.find_or_create_person("Ann", "Lee", phone=DC)
    bo_lee = supporters.find_or_create_person("Bo", "Lee", phone=DC)  # a shared landline
    assert bo_lee.id != ann_lee.id

    assert supporters.find_or_create_person("ann", "LEE", phone=DC).id == ann_lee.id
    assert supporters.find_or_create_person(" Bo ", "Lee", phone="202-555-0123").id == bo_lee.id
    assert count(db, Person) == 2
    assert {p.id for p in supporters.find_people_by_phone(DC)} == {ann_lee.id, bo_lee.id}


def test_find_or_create_phone_without_a_name_takes_the_only_holder(app, db):
    person = supporters.find_or_create_person("Ann", "Lee", phone=DC)
    assert supporters.find_or_create_person(phone=DC).id == person.id
    # With two holders a nameless lookup cannot choose, so it creates a new person.
    supporters.find_or_create_person("Bo", "Lee", phone=DC)
    nameless = supporters.find_or_create_person(phone=DC)
    assert nameless.id not in {person.id}
    assert count(db, Person) == 3


def test_find_or_create_matches_email_only_with_the_same_name(app, db):
    person = supporters.find_or_create_person("Ann", "Lee", email="ann@example.org")
    assert supporters.find_or_create_person("ANN", "lee", email="ANN@example.org").id == person.id
    other = supporters.find_or_create_person("Bo", "Lee", email="ann@example.org")
    assert other.id != person.id
    assert count(db, Person) == 2


def test_find_or_create_prefers_phone_over_email(app, db):
    by_phone = supporters.find_or_create_person("Ann", "Lee", phone=DC)
    by_email = supporters.find_or_create_person("Ann", "Lee", email="ann@example.org")
    assert by_phone.id != by_email.id

    found = supporters.find_or_create_person("Ann", "Lee", phone=DC, email="ann@example.org")
    assert found.id == by_phone.id
    assert [e.address for e in found.emails] == ["ann@example.org"]


def test_find_or_create_adds_new_identifiers_to_the_match(app, db):
    person = supporters.find_or_create_person("Ann", "Lee", email="ann@example.org")
    supporters.find_or_create_person(
        "Ann", "Lee", email="ann@example.org", phone=CHICAGO, external_id=("nb", "77")
    )
    db.session.commit()
    profile = supporters.load_profile(person.id)
    assert [p.number for p in profile.phones] == [CHICAGO]
    assert [(x.system, x.value) for x in profile.external_ids] == [("nb", "77")]


def test_find_or_create_refuses_a_bad_phone_and_writes_nothing(app, db):
    with pytest.raises(SupporterError, match="not a valid number"):
        supporters.find_or_create_person("Ann", "Lee", phone="555-768-3292")
    with pytest.raises(SupporterError):
        supporters.find_or_create_person("Ann", "Lee", email="not-an-email")
    assert count(db, Person) == 0


def test_find_or_create_uses_the_default_region(app, db):
    person = supporters.find_or_create_person(
        "Ann", "Lee", phone="0131 496 0123", default_region="GB"
    )
    assert [p.number for p in person.phones] == [EDINBURGH]
    assert person.phones[0].time_zones == "Europe/London"


def test_find_or_create_long_names_still_match_on_repeat(app, db):
    long_first = "Ann" + "e" * 120
    first = supporters.find_or_create_person(long_first, "Lee", phone=DC)
    again = supporters.find_or_create_person(long_first, "Lee", phone=DC)
    assert again.id == first.id


def test_find_or_create_resolves_a_merged_match_to_the_survivor(app, db):
    survivor = supporters.find_or_create_person("Ann", "Lee", external_id=("van", "1"))
    duplicate = supporters.find_or_create_person("Ann", "Lee", external_id=("nb", "2"))
    supporters.merge_people(survivor, duplicate, module="lists")
    assert supporters.find_or_create_person("Ann", "Lee", external_id=("nb", "2")).id == (
        survivor.id
    )


# --- finding -------------------------------------------------------------------------------


def test_find_people_by_phone_and_email_resolve_merges_without_repeats(app, db):
    survivor, duplicate = ann(), supporters.create_person("Ann", "Lee")
    supporters.add_phone(survivor, DC)
    supporters.add_phone(duplicate, DC)
    supporters.add_email(survivor, "ann@example.org")
    supporters.add_email(duplicate, "ann@example.org")
    assert len(supporters.find_people_by_phone(DC)) == 2

    supporters.merge_people(survivor, duplicate, module="lists")
    assert [p.id for p in supporters.find_people_by_phone(DC)] == [survivor.id]
    assert [p.id for p in supporters.find_people_by_email("Ann@Example.org")] == [survivor.id]
    assert supporters.find_people_by_phone(CHICAGO) == []
    assert supporters.find_people_by_email("nobody@example.org") == []
    assert supporters.find_person_by_external_id("van", "missing") is None


# --- external ids --------------------------------------------------------------------------


def test_add_external_id_is_idempotent_for_the_same_person(app, db):
    person = ann()
    row = supporters.add_external_id(person, "VAN", 1001)
    assert (row.system, row.value) == ("van", "1001")
    assert supporters.add_external_id(person, "van", "1001").id == row.id
    assert count(db, ExternalId) == 1


def test_add_external_id_refuses_an_id_held_by_another_person(app, db):
    a, b = ann(), supporters.create_person("Bo", "Lee")
    supporters.add_external_id(a, "van", "1001")
    db.session.commit()
    with pytest.raises(SupporterError, match="already belongs to person"):
        supporters.add_external_id(b, "van", "1001")
    with pytest.raises(SupporterError, match="already belongs to person"):
        supporters.add_external_id(b, " Van ", "1001 ")
    # Same value in another system is a different id.
    supporters.add_external_id(b, "nationbuilder", "1001")
    db.session.commit()
    assert supporters.find_person_by_external_id("van", "1001").id == a.id
    assert supporters.find_person_by_external_id("nationbuilder", "1001").id == b.id


@pytest.mark.parametrize(("system", "value"), [("", "1"), ("van", ""), ("  ", "  ")])
def test_add_external_id_needs_a_system_and_a_value(app, db, system, value):
    with pytest.raises(SupporterError, match="needs a system and a value"):
        supporters.add_external_id(ann(), system, value)


def test_the_database_keeps_external_ids_unique_per_system(app, db):
    a, b = ann(), supporters.create_person("Bo", "Lee")
    db.session.add(ExternalId(person_id=a.id, system="van", value="9"))
    db.session.add(ExternalId(person_id=b.id, system="van", value="9"))
    with pytest.raises(exc.IntegrityError):
        db.session.flush()
    db.session.rollback()


# --- phones --------------------------------------------------------------------------------


def test_add_phone_refuses_numbers_not_in_e164(app, db):
    person = ann()
    for raw in ("202-555-0123", "2025550123", "+1 202 555 0123", "+1(202)5550123", "+"):
        with pytest.raises(SupporterError, match="E.164"):
            supporters.add_phone(person, raw)
    assert count(db, Phone) == 0


def test_add_phone_is_idempotent_and_refines_an_unknown_type(app, db):
    person = ann()
    phone = supporters.add_phone(person, DC, source="lists")
    assert (phone.type, phone.status, phone.time_zones) == (
        PhoneType.UNKNOWN,
        PhoneStatus.OK,
        "America/New_York",
    )
    again = supporters.add_phone(person, DC, PhoneType.MOBILE, source="calling")
    assert again.id == phone.id
    assert again.type == PhoneType.MOBILE
    assert again.source == "lists"  # first source kept
    # A known type is not overwritten by a later guess.
    assert supporters.add_phone(person, DC, PhoneType.HOME).type == PhoneType.MOBILE
    assert supporters.add_phone(person, DC).type == PhoneType.MOBILE
    db.session.commit()
    assert count(db, Phone) == 1
    assert db.session.get(Phone, phone.id).type == PhoneType.MOBILE


def test_add_phone_accepts_type_as_a_string_and_explicit_zones(app, db):
    phone = supporters.add_phone(ann(), SOUTH_DAKOTA, "home", time_zones=["America/Chicago"])
    assert phone.type == PhoneType.HOME
    assert phone.time_zones == "America/Chicago"


def test_add_phone_stores_every_zone_of_an_ambiguous_number(app, db):
    phone = supporters.add_phone(ann(), IDAHO)
    db.session.commit()
    assert db.session.get(Phone, phone.id).time_zones.split() == [
        "America/Boise",
        "America/Los_Angeles",
    ]


def test_two_people_may_share_a_number(app, db):
    a, b = ann(), supporters.create_person("Bo", "Lee")
    pa, pb = supporters.add_phone(a, DC), supporters.add_phone(b, DC)
    db.session.commit()
    assert pa.id != pb.id
    assert count(db, Phone) == 2


def test_mark_phone_bad_records_an_activity_and_leaves_other_phones_ok(app, db):
    volunteer = factories.user()
    campaign = factories.campaign()
    person = ann()
    landline = supporters.add_phone(person, DC, PhoneType.HOME)
    mobile = supporters.add_phone(person, CHICAGO, PhoneType.MOBILE)
    supporters.mark_phone_bad(
        landline, "disconnected", actor=volunteer, module="calling", campaign_id=campaign.id
    )
    db.session.commit()

    assert db.session.get(Phone, landline.id).status == PhoneStatus.BAD
    assert db.session.get(Phone, landline.id).status_reason == "disconnected"
    assert db.session.get(Phone, mobile.id).status == PhoneStatus.OK
    assert supporters.can_call(person, mobile) is True
    assert supporters.can_call(person, landline) is False

    [activity] = activities_of(db, person)
    assert (activity.kind, activity.module) == ("phone_status", "calling")
    assert activity.actor_user_id == volunteer.id
    assert activity.campaign_id == campaign.id
    assert activity.payload == {"phone_id": landline.id, "status": "bad", "reason": "disconnected"}


def test_mark_phone_bad_only_records_changes(app, db):
    person = ann()
    phone = supporters.add_phone(person, DC)
    supporters.mark_phone_bad(phone, "wrong_number", module="calling")
    supporters.mark_phone_bad(phone, "wrong_number", module="calling")
    assert len(activities_of(db, person)) == 1
    supporters.mark_phone_bad(phone, "fax", module="calling")
    assert [a.payload["reason"] for a in activities_of(db, person)] == ["wrong_number", "fax"]
    assert phone.status_reason == "fax"


def test_mark_phone_bad_is_for_that_person_only(app, db):
    a, b = ann(), supporters.create_person("Bo", "Lee")
    pa, pb = supporters.add_phone(a, DC), supporters.add_phone(b, DC)
    supporters.mark_phone_bad(pa, "wrong_number", module="calling")
    assert supporters.can_call(a, pa) is False
    assert supporters.can_call(b, pb) is True


def test_mark_phone_bad_accepts_a_long_reason(app, db):
    person = ann()
    phone = supporters.add_phone(person, DC)
    reason = "the person who answered said this is a business line, not Ann's"
    supporters.mark_phone_bad(phone, reason, module="calling")
    supporters.mark_phone_bad(phone, reason, module="calling")
    db.session.commit()
    assert db.session.get(Phone, phone.id).status == PhoneStatus.BAD
    assert len(activities_of(db, person)) == 1  # the repeat is still recognised
    assert activities_of(db, person)[0].payload["reason"] == reason


# --- do not call ---------------------------------------------------------------------------


def test_add_to_do_not_call_is_idempotent(app, db):
    row = supporters.add_to_do_not_call(DC, reason="asked on a call", source="calling")
    db.session.commit()
    again = supporters.add_to_do_not_call(DC, reason="another reason", source="lists")
    db.session.commit()
    assert again.number == row.number == DC
    assert count(db, DoNotCallNumber) == 1
    stored = db.session.get(DoNotCallNumber, DC)
    assert (stored.reason, stored.source) == ("asked on a call", "calling")
    assert stored.added_at.tzinfo is not None


def test_is_number_on_do_not_call(app, db):
    assert supporters.is_number_on_do_not_call(DC) is False
    supporters.add_to_do_not_call(DC)
    db.session.commit()
    assert supporters.is_number_on_do_not_call(DC) is True
    assert supporters.is_number_on_do_not_call(CHICAGO) is False


def test_a_listed_number_cannot_be_called_whoever_holds_it(app, db):
    a, b = ann(), supporters.create_person("Bo", "Lee")
    pa, pb = supporters.add_phone(a, DC), supporters.add_phone(b, DC)
    other = supporters.add_phone(b, CHICAGO)
    assert supporters.can_call(a, pa) and supporters.can_call(b, pb)
    supporters.add_to_do_not_call(DC, source="calling")
    assert supporters.can_call(a, pa) is False
    assert supporters.can_call(b, pb) is False
    assert supporters.can_call(b, other) is True


def test_add_to_do_not_call_refuses_numbers_not_in_e164(app, db):
    # A listed "(202) 555-0123" would never match the stored +12025550123.
    with pytest.raises(SupporterError, match="E.164"):
        supporters.add_to_do_not_call("(202) 555-0123")
    assert count(db, DoNotCallNumber) == 0


def test_add_to_do_not_call_keeps_the_opt_out_whatever_the_reason_length(app, db):
    supporters.add_to_do_not_call(DC, reason="x" * 500, source="s" * 200)
    db.session.commit()
    assert supporters.is_number_on_do_not_call(DC) is True


def test_can_call_honours_person_flags(app, db):
    person = ann()
    phone = supporters.add_phone(person, DC)
    stranger = supporters.create_person("Bo", "Lee")
    assert supporters.can_call(person, phone) is True
    assert supporters.can_call(stranger, phone) is False  # not their phone

    supporters.set_person_flags(person, module="lists", moved=True)
    assert supporters.can_call(person, phone) is True  # moved matters to geographic lists only

    supporters.set_person_flags(person, module="calling", deceased=True)
    assert supporters.can_call(person, phone) is False

    other = supporters.create_person("Cy", "Lee")
    other_phone = supporters.add_phone(other, CHICAGO)
    supporters.set_person_flags(other, module="calling", do_not_call=True)
    assert supporters.can_call(other, other_phone) is False


# --- person flags and updates --------------------------------------------------------------


def test_set_person_flags_records_one_activity_with_only_changed_flags(app, db):
    volunteer = factories.user()
    campaign = factories.campaign()
    person = ann(deceased=False, moved=True)
    changed = supporters.set_person_flags(
        person,
        actor=volunteer,
        module="calling",
        reason="asked not to be called",
        campaign_id=campaign.id,
        do_not_call=True,
        do_not_email=True,
        moved=True,  # already set: not a change
        deceased=False,  # false never clears, never counts
    )
    db.session.commit()

    assert changed == ["do_not_call", "do_not_email"]
    stored = db.session.get(Person, person.id)
    assert (stored.do_not_call, stored.do_not_email, stored.moved, stored.deceased) == (
        True,
        True,
        True,
        False,
    )
    [activity] = activities_of(db, person)
    assert (activity.kind, activity.module) == ("flag", "calling")
    assert activity.payload == {
        "flags": ["do_not_call", "do_not_email"],
        "reason": "asked not to be called",
    }
    assert (activity.actor_user_id, activity.campaign_id) == (volunteer.id, campaign.id)


def test_set_person_flags_without_a_change_records_nothing(app, db):
    person = ann(do_not_call=True)
    assert supporters.set_person_flags(person, module="calling", do_not_call=True) == []
    assert supporters.set_person_flags(person, module="calling", do_not_call=False) == []
    assert supporters.set_person_flags(person, module="calling") == []
    assert person.do_not_call is True
    assert activities_of(db, person) == []


def test_set_person_flags_refuses_unknown_flags(app, db):
    person = ann()
    with pytest.raises(SupporterError, match="unknown person flag"):
        supporters.set_person_flags(person, module="calling", do_not_call=True, vip=True)
    assert person.do_not_call is False
    assert activities_of(db, person) == []


def test_update_person_changes_names_and_flags(app, db):
    person = ann()
    supporters.update_person(person, first_name="Annie", moved=True, do_not_call=True)
    db.session.commit()
    stored = db.session.get(Person, person.id)
    assert (stored.first_name, stored.moved, stored.do_not_call) == ("Annie", True, True)
    # Clearing other flags is allowed (a mistaken "moved" can be corrected).
    supporters.update_person(stored, moved=False)
    assert stored.moved is False


@pytest.mark.parametrize("cleared", [False, 0, None, ""])
def test_update_person_refuses_to_clear_do_not_call(app, db, cleared):
    person = ann(do_not_call=True)
    db.session.commit()
    with pytest.raises(SupporterError, match="cannot be withdrawn"):
        supporters.update_person(person, do_not_call=cleared)
    db.session.rollback()
    assert db.session.get(Person, person.id).do_not_call is True


def test_update_person_refuses_unknown_fields(app, db):
    person = ann()
    with pytest.raises(SupporterError, match="cannot set"):
        supporters.update_person(person, merged_into_id=1)
    with pytest.raises(SupporterError, match="cannot set"):
        supporters.update_person(person, id=99)
    assert person.merged_into_id is None


def test_update_person_keeps_names_within_the_column(app, db):
    person = ann()
    supporters.update_person(person, first_name="  " + "N" * 150, last_name=" Lee ")
    db.session.commit()
    stored = db.session.get(Person, person.id)
    assert (len(stored.first_name), stored.last_name) == (100, "Lee")


# --- emails --------------------------------------------------------------------------------


def test_add_email_normalises_and_is_idempotent(app, db):
    person = ann()
    email = supporters.add_email(person, " Ann@Example.ORG ", source="email")
    again = supporters.add_email(person, "ann@example.org", EmailStatus.UNSUBSCRIBED)
    db.session.commit()
    assert again.id == email.id
    assert (email.address, email.status, email.source) == (
        "ann@example.org",
        EmailStatus.SUBSCRIBED,
        "email",
    )
    assert count(db, Email) == 1


def test_add_email_refuses_invalid_addresses(app, db):
    with pytest.raises(SupporterError):
        supporters.add_email(ann(), "ann at example")
    assert count(db, Email) == 0


def test_set_email_status_records_changes_only(app, db):
    person = ann()
    email = supporters.add_email(person, "ann@example.org")
    supporters.set_email_status(email, EmailStatus.UNSUBSCRIBED, module="email", reason="link")
    supporters.set_email_status(email, "unsubscribed", module="email")  # no change
    db.session.commit()

    assert db.session.get(Email, email.id).status == EmailStatus.UNSUBSCRIBED
    [activity] = activities_of(db, person)
    assert (activity.kind, activity.module) == ("email_status", "email")
    assert activity.payload == {"email_id": email.id, "status": "unsubscribed", "reason": "link"}

    supporters.set_email_status(email, EmailStatus.BOUNCING, module="email", reason="hard")
    assert [a.payload["status"] for a in activities_of(db, person)] == [
        "unsubscribed",
        "bouncing",
    ]


def test_set_email_status_refuses_unknown_statuses(app, db):
    email = supporters.add_email(ann(), "ann@example.org")
    with pytest.raises(ValueError):
        supporters.set_email_status(email, "spam", module="email")
    assert email.status == EmailStatus.SUBSCRIBED


# --- addresses -----------------------------------------------------------------------------


def test_add_address_normalises_and_reuses_an_identical_address(app, db):
    person = ann()
    home = supporters.add_address(
        person, line1=" 1 Main St ", city="Edinburgh", postcode="eh1 1aa", country="gb"
    )
    assert (home.line1, home.postcode, home.country, home.is_primary) == (
        "1 Main St",
        "EH1 1AA",
        "GB",
        True,
    )
    same = supporters.add_address(
        person,
        line1="1 Main St",
        city="Edinburgh ",
        postcode="EH1 1AA",
        country="GB",
        time_zone="Europe/London",
    )
    db.session.commit()
    assert same.id == home.id
    assert count(db, Address) == 1
    assert db.session.get(Address, home.id).time_zone == "Europe/London"  # filled in


def test_add_address_makes_the_newest_address_primary(app, db):
    person = ann()
    old = supporters.add_address(person, line1="1 Old Rd", city="Riverside", country="US")
    new = supporters.add_address(person, line1="2 New Rd", city="Riverside", country="US")
    db.session.commit()
    assert db.session.get(Address, old.id).is_primary is False
    assert db.session.get(Address, new.id).is_primary is True

    # Hearing of the old address again makes it primary again, still only one primary.
    back = supporters.add_address(person, line1="1 Old Rd", city="Riverside", country="US")
    db.session.commit()
    assert back.id == old.id
    primaries = db.session.scalars(
        select(Address.id).where(Address.person_id == person.id, Address.is_primary)
    ).all()
    assert primaries == [old.id]


def test_add_address_does_not_touch_other_people(app, db):
    a, b = ann(), supporters.create_person("Bo", "Lee")
    pa = supporters.add_address(a, line1="1 Main St", country="US")
    pb = supporters.add_address(b, line1="1 Main St", country="US")
    assert pa.id != pb.id
    assert pa.is_primary and pb.is_primary


# --- tags and custom fields ----------------------------------------------------------------


def test_tag_person_is_idempotent_and_shares_tags(app, db):
    a, b = ann(), supporters.create_person("Bo", "Lee")
    assert supporters.tag_person(a, " volunteer ", source="accounts") is True
    assert supporters.tag_person(a, "volunteer") is False
    assert supporters.tag_person(b, "volunteer") is True
    db.session.commit()
    assert count(db, Tag) == 1
    assert count(db, PersonTag) == 2
    assert [t.name for t in db.session.get(Person, a.id).tags] == ["volunteer"]
    link = db.session.get(PersonTag, (a.id, a.tags[0].id))
    assert link.source == "accounts"


def test_untag_person_is_idempotent(app, db):
    person = ann()
    supporters.tag_person(person, "donor")
    supporters.tag_person(person, "volunteer")
    assert [t.name for t in person.tags] == ["donor", "volunteer"]
    assert supporters.untag_person(person, "donor") is True
    assert supporters.untag_person(person, "donor") is False
    assert supporters.untag_person(person, "never-existed") is False
    db.session.commit()
    assert [t.name for t in db.session.get(Person, person.id).tags] == ["volunteer"]
    assert count(db, Tag) == 2  # the tag itself stays for others


def test_tag_person_refuses_empty_and_overlong_names(app, db):
    person = ann()
    with pytest.raises(SupporterError, match="needs a name"):
        supporters.tag_person(person, "   ")
    with pytest.raises(SupporterError, match="at most 80"):
        supporters.tag_person(person, "t" * 81)
    assert count(db, Tag) == 0


def test_set_custom_field_upserts(app, db):
    person = ann()
    field = supporters.set_custom_field(person, " ward ", "7")
    again = supporters.set_custom_field(person, "ward", 8)
    db.session.commit()
    assert again.id == field.id
    assert db.session.get(CustomField, field.id).value == "8"
    assert db.session.get(CustomField, field.id).name == "ward"
    assert count(db, CustomField) == 1
    other = supporters.set_custom_field(supporters.create_person("Bo"), "ward", "9")
    assert other.id != field.id


def test_set_custom_field_needs_a_name(app, db):
    with pytest.raises(SupporterError, match="needs a name"):
        supporters.set_custom_field(ann(), "  ", "x")


# --- activities and history ----------------------------------------------------------------


def test_record_activity_stores_every_field(app, db):
    volunteer = factories.user()
    campaign = factories.campaign()
    person = ann()
    activity = supporters.record_activity(
        person,
        kind="call",
        module="calling",
        actor=volunteer,
        campaign_id=campaign.id,
        payload={"outcome": "talked", "answers": {"support": "yes"}},
        occurred_at=T0,
    )
    db.session.commit()
    ids = (activity.id, person.id, volunteer.id, campaign.id)
    db.session.expunge_all()
    stored = db.session.get(Activity, ids[0])
    assert (stored.person_id, stored.kind, stored.module) == (ids[1], "call", "calling")
    assert (stored.actor_user_id, stored.campaign_id) == (ids[2], ids[3])
    assert stored.payload == {"outcome": "talked", "answers": {"support": "yes"}}
    assert stored.occurred_at == T0


def test_record_activity_defaults(app, db):
    person = ann()
    before = datetime.now(UTC)
    activity = supporters.record_activity(person, kind="import", module="lists")
    db.session.commit()
    stored = db.session.get(Activity, activity.id)
    assert stored.payload == {}
    assert stored.actor_user_id is None and stored.campaign_id is None
    assert before <= stored.occurred_at <= datetime.now(UTC)


def test_history_is_newest_first(app, db):
    person = ann()
    middle = supporters.record_activity(person, kind="b", module="m", occurred_at=T0)
    oldest = supporters.record_activity(
        person, kind="a", module="m", occurred_at=T0 - timedelta(days=1)
    )
    newest = supporters.record_activity(
        person, kind="c", module="m", occurred_at=T0 + timedelta(seconds=1)
    )
    same_time_later_id = supporters.record_activity(person, kind="d", module="m", occurred_at=T0)
    supporters.record_activity(supporters.create_person("Bo"), kind="x", module="m")
    db.session.commit()

    assert [a.id for a in supporters.history(person)] == [
        newest.id,
        same_time_later_id.id,
        middle.id,
        oldest.id,
    ]
    assert [a.id for a in supporters.history(person, limit=2)] == [newest.id, same_time_later_id.id]


def test_history_includes_people_merged_into_this_one(app, db):
    survivor, duplicate = ann(), supporters.create_person("Ann", "Lee")
    mine = supporters.record_activity(survivor, kind="call", module="calling", occurred_at=T0)
    theirs = supporters.record_activity(
        duplicate, kind="rsvp", module="events", occurred_at=T0 + timedelta(hours=1)
    )
    supporters.merge_people(survivor, duplicate, module="lists")
    db.session.commit()

    kinds = [(a.id, a.kind) for a in supporters.history(survivor)]
    assert kinds[1:] == [(theirs.id, "rsvp"), (mine.id, "call")]
    assert kinds[0][1] == "merge"  # recorded now, so newest


def test_history_includes_people_merged_in_several_steps(app, db):
    c = ann()
    b = supporters.create_person("Ann", "Lee")
    a = supporters.create_person("Ann", "Lee")
    old = supporters.record_activity(a, kind="call", module="calling", occurred_at=T0)
    supporters.merge_people(b, a, module="lists")  # a -> b
    supporters.merge_people(c, b, module="lists")  # b -> c, so a -> b -> c
    db.session.commit()
    assert supporters.get_person(a.id).id == c.id
    assert old.id in [x.id for x in supporters.history(c)]


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE activities SET kind = 'tampered' WHERE id = :id",
        "UPDATE activities SET payload = '{}' WHERE id = :id",
        "DELETE FROM activities WHERE id = :id",
        "DELETE FROM activities",
    ],
)
def test_the_database_refuses_to_change_activities(app, db, statement):
    person = ann()
    activity = supporters.record_activity(
        person, kind="call", module="calling", payload={"outcome": "talked"}
    )
    db.session.commit()

    with pytest.raises(exc.DBAPIError) as refused:
        db.session.execute(text(statement), {"id": activity.id})
    assert "append-only" in str(refused.value)
    db.session.rollback()

    stored = db.session.execute(
        text("SELECT kind, module FROM activities WHERE id = :id"), {"id": activity.id}
    ).one()
    assert tuple(stored) == ("call", "calling")
    assert count(db, Activity) == 1
    # Appending still works after the refusal.
    supporters.record_activity(person, kind="call", module="calling")
    db.session.commit()
    assert count(db, Activity) == 2


def test_the_orm_cannot_delete_an_activity_either(app, db):
    activity = supporters.record_activity(ann(), kind="call", module="calling")
    db.session.commit()
    db.session.delete(activity)
    with pytest.raises(exc.DBAPIError):
        db.session.commit()
    db.session.rollback()
    assert count(db, Activity) == 1


# --- merging -------------------------------------------------------------------------------


def test_merge_people_moves_everything_to_the_survivor(app, db):
    survivor = supporters.create_person("Ann", "Lee")
    duplicate = supporters.create_person("Ann", "Lee", do_not_email=True, moved=True)
    supporters.add_phone(survivor, DC, PhoneType.HOME)
    supporters.add_phone(duplicate, DC, PhoneType.MOBILE)  # same number, kept once
    supporters.add_phone(duplicate, CHICAGO, PhoneType.MOBILE, source="lists")
    supporters.add_email(survivor, "ann@example.org")
    supporters.add_email(duplicate, "ann.lee@example.org", source="email")
    supporters.add_external_id(survivor, "van", "1")
    supporters.add_external_id(duplicate, "nb", "2")
    supporters.tag_person(survivor, "donor")
    supporters.tag_person(duplicate, "volunteer")
    supporters.set_custom_field(survivor, "ward", "7")
    supporters.set_custom_field(duplicate, "ward", "8")  # the survivor's value wins
    supporters.set_custom_field(duplicate, "shirt", "L")
    db.session.commit()

    result = supporters.merge_people(survivor, duplicate, module="lists")
    db.session.commit()
    assert result.id == survivor.id

    profile = supporters.load_profile(survivor.id)
    assert [(p.number, p.type) for p in profile.phones] == [
        (DC, PhoneType.HOME),
        (CHICAGO, PhoneType.MOBILE),
    ]
    assert profile.phones[1].time_zones == "America/Chicago"
    assert [e.address for e in profile.emails] == ["ann@example.org", "ann.lee@example.org"]
    assert sorted((x.system, x.value) for x in profile.external_ids) == [
        ("nb", "2"),
        ("van", "1"),
    ]
    assert [t.name for t in profile.tags] == ["donor", "volunteer"]
    assert [(f.name, f.value) for f in profile.custom_fields] == [("shirt", "L"), ("ward", "7")]
    assert (profile.do_not_email, profile.moved, profile.do_not_call) == (True, True, False)

    merged = supporters.get_person(duplicate.id, follow_merges=False)
    assert merged.merged_into_id == survivor.id
    assert merged.callable is False
    assert supporters.get_person(duplicate.id).id == survivor.id
    assert supporters.find_person_by_external_id("nb", "2").id == survivor.id

    [merge] = [a for a in activities_of(db, survivor) if a.kind == "merge"]
    assert (merge.module, merge.payload) == ("lists", {"merged": duplicate.id})


def test_merge_people_combines_do_not_call(app, db):
    survivor, duplicate = ann(), supporters.create_person("Ann", "Lee", do_not_call=True)
    supporters.merge_people(survivor, duplicate, module="lists")
    db.session.commit()
    assert db.session.get(Person, survivor.id).do_not_call is True


def test_merge_people_keeps_a_bad_phone_bad(app, db):
    survivor, duplicate = ann(), supporters.create_person("Ann", "Lee")
    mine = supporters.add_phone(survivor, DC)
    bad = supporters.add_phone(duplicate, DC)
    only_theirs = supporters.add_phone(duplicate, CHICAGO)
    supporters.mark_phone_bad(bad, "wrong_number", module="calling")
    supporters.mark_phone_bad(only_theirs, "disconnected", module="calling")
    supporters.merge_people(survivor, duplicate, module="lists")
    db.session.commit()

    assert db.session.get(Phone, mine.id).status == PhoneStatus.BAD
    moved = db.session.scalar(
        select(Phone).where(Phone.person_id == survivor.id, Phone.number == CHICAGO)
    )
    assert (moved.status, moved.status_reason) == (PhoneStatus.BAD, "disconnected")


def test_merge_people_keeps_an_unsubscribe(app, db):
    survivor, duplicate = ann(), supporters.create_person("Ann", "Lee")
    mine = supporters.add_email(survivor, "ann@example.org")
    theirs = supporters.add_email(duplicate, "ann@example.org")
    supporters.set_email_status(theirs, EmailStatus.UNSUBSCRIBED, module="email")
    supporters.merge_people(survivor, duplicate, module="lists")
    db.session.commit()
    assert db.session.get(Email, mine.id).status == EmailStatus.UNSUBSCRIBED


def test_merge_people_leaves_one_primary_address(app, db):
    survivor, duplicate = ann(), supporters.create_person("Ann", "Lee")
    mine = supporters.add_address(survivor, line1="1 Main St", country="US")
    theirs = supporters.add_address(duplicate, line1="9 Elm St", country="US")
    supporters.merge_people(survivor, duplicate, module="lists")
    db.session.commit()
    rows = db.session.scalars(
        select(Address).where(Address.person_id == survivor.id).order_by(Address.id)
    ).all()
    assert [(a.id, a.is_primary) for a in rows] == [(mine.id, True), (theirs.id, False)]


def test_merge_people_moves_event_attendances(app, db):
    rally = supporters.create_event("Rally", T0)
    march = supporters.create_event("March", T0)
    canvass = supporters.create_event("Canvass", T0 + timedelta(days=1))
    survivor, duplicate = ann(), supporters.create_person("Ann", "Lee")

    def rsvp(person, event, status, module, answered_at):
        attendance = supporters.record_rsvp(person, event, status, module=module)
        attendance.updated_at = answered_at

    # Where both answered for one event, the later answer wins.
    rsvp(survivor, rally, RsvpStatus.YES, "events", T0 - timedelta(hours=1))
    rsvp(duplicate, rally, RsvpStatus.MAYBE, "events", T0 - timedelta(hours=2))
    rsvp(survivor, march, RsvpStatus.NO, "events", T0 - timedelta(hours=2))
    rsvp(duplicate, march, RsvpStatus.YES, "calling", T0 - timedelta(hours=1))
    rsvp(duplicate, canvass, RsvpStatus.YES, "calling", T0 - timedelta(hours=1))
    db.session.flush()
    supporters.merge_people(survivor, duplicate, module="lists")
    db.session.commit()

    rows = db.session.scalars(select(Attendance).order_by(Attendance.id)).all()
    assert [(a.event_id, a.person_id, a.status, a.source) for a in rows] == [
        (rally.id, survivor.id, RsvpStatus.YES, "events"),
        (march.id, survivor.id, RsvpStatus.YES, "calling"),
        (canvass.id, survivor.id, RsvpStatus.YES, "calling"),
    ]
    # The events module sees one row per person on each event's list, none for merged people.
    assert [a.person_id for a in db.session.get(Event, canvass.id).attendances] == [survivor.id]
    # The RSVP activities stay in the history.
    assert [a.kind for a in supporters.history(survivor)].count("rsvp") == 5


def test_merge_people_refuses_merged_records(app, db):
    a, b, c = ann(), supporters.create_person("Ann", "Lee"), supporters.create_person("Ann")
    supporters.merge_people(a, b, module="lists")
    with pytest.raises(SupporterError, match="surviving record"):
        supporters.merge_people(b, c, module="lists")  # into a merged record
    with pytest.raises(SupporterError, match="surviving record"):
        supporters.merge_people(c, b, module="lists")  # a merged record again
    assert c.merged_into_id is None
    assert supporters.merge_people(a, a, module="lists").id == a.id
    assert a.merged_into_id is None


def test_writes_through_a_merged_record_reach_the_survivor(app, db):
    """A module still holding the duplicate (a call started before the merge) loses nothing."""
    survivor, duplicate = ann(), supporters.create_person("Ann", "Lee")
    their_phone = supporters.add_phone(duplicate, DC)
    their_email = supporters.add_email(duplicate, "ann@example.org")
    event = supporters.create_event("Rally", T0)
    supporters.merge_people(survivor, duplicate, module="lists")
    db.session.commit()

    assert supporters.set_person_flags(duplicate, module="calling", do_not_call=True) == [
        "do_not_call"
    ]
    supporters.mark_phone_bad(their_phone, "wrong_number", module="calling")
    supporters.set_email_status(their_email, EmailStatus.UNSUBSCRIBED, module="email")
    attendance = supporters.record_rsvp(duplicate, event, RsvpStatus.YES, module="calling")
    assert supporters.update_person(duplicate, moved=True).id == survivor.id
    db.session.commit()

    stored = db.session.get(Person, survivor.id)
    assert (stored.do_not_call, stored.moved) == (True, True)
    [phone] = stored.phones
    assert (phone.number, phone.status) == (DC, PhoneStatus.BAD)
    [email] = stored.emails
    assert email.status == EmailStatus.UNSUBSCRIBED
    assert attendance.person_id == survivor.id
    kinds = [a.kind for a in activities_of(db, survivor)]
    assert kinds == ["merge", "flag", "phone_status", "email_status", "rsvp"]


# --- events and attendances ----------------------------------------------------------------


def test_create_event_stores_a_clean_event(app, db):
    event = supporters.create_event(
        "  Saturday canvass ",
        T0,
        ends_at=T0 + timedelta(hours=3),
        place=" Community hall ",
        postcode="eh1 1aa",
        time_zone="Europe/London",
        capacity=40,
    )
    db.session.commit()
    stored = db.session.get(Event, event.id)
    assert (stored.title, stored.place, stored.postcode) == (
        "Saturday canvass",
        "Community hall",
        "EH1 1AA",
    )
    assert (stored.starts_at, stored.ends_at) == (T0, T0 + timedelta(hours=3))
    assert (stored.time_zone, stored.capacity) == ("Europe/London", 40)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(title="  ", starts_at=T0), "needs a title"),
        (dict(title="Rally", starts_at=T0, ends_at=T0 - timedelta(minutes=1)), "end before"),
        (dict(title="Rally", starts_at=datetime(2024, 3, 1, 12)), "time zone"),
        (
            dict(title="Rally", starts_at=T0, ends_at=datetime(2024, 3, 1, 15)),
            "time zone",
        ),
        (dict(title="Rally", starts_at=T0, capacity=-1), "capacity"),
        (dict(title="R" * 201, starts_at=T0), "at most 200"),
    ],
)
def test_create_event_refuses_invalid_events(app, db, kwargs, message):
    kwargs = dict(kwargs)  # the parameter is shared by both backends' runs
    title, starts_at = kwargs.pop("title"), kwargs.pop("starts_at")
    with pytest.raises(SupporterError, match=message):
        supporters.create_event(title, starts_at, **kwargs)
    assert count(db, Event) == 0


def test_create_event_allows_an_instant_event(app, db):
    assert supporters.create_event("Call-in", T0, ends_at=T0).ends_at == T0


def test_record_rsvp_creates_updates_and_ignores_repeats(app, db):
    volunteer = factories.user()
    campaign = factories.campaign()
    event = supporters.create_event("Rally", T0)
    person = ann()

    created = supporters.record_rsvp(
        person, event, RsvpStatus.YES, module="calling", actor=volunteer, campaign_id=campaign.id
    )
    db.session.commit()
    assert (created.status, created.source) == (RsvpStatus.YES, "calling")
    [first] = activities_of(db, person)
    assert (first.kind, first.module, first.actor_user_id, first.campaign_id) == (
        "rsvp",
        "calling",
        volunteer.id,
        campaign.id,
    )
    assert first.payload == {"event_id": event.id, "event": "Rally", "status": "yes"}

    same = supporters.record_rsvp(person, event, "yes", module="events")
    db.session.commit()
    assert same.id == created.id
    assert same.source == "calling"  # unchanged: nothing recorded
    assert len(activities_of(db, person)) == 1

    updated = supporters.record_rsvp(person, event, RsvpStatus.CANCELLED, module="events")
    db.session.commit()
    assert updated.id == created.id
    assert (updated.status, updated.source) == (RsvpStatus.CANCELLED, "events")
    assert [a.payload["status"] for a in activities_of(db, person)] == ["yes", "cancelled"]
    assert count(db, Attendance) == 1


def test_an_rsvp_taken_on_a_call_is_on_the_events_list(app, db):
    event = supporters.create_event("Rally", T0)
    a, b = ann(), supporters.create_person("Bo", "Lee")
    supporters.record_rsvp(a, event, RsvpStatus.YES, module="calling")
    supporters.record_rsvp(b, event, RsvpStatus.NO, module="calling")
    db.session.commit()
    event_id, a_id = event.id, a.id
    db.session.expunge_all()

    going = db.session.scalars(
        select(Attendance.person_id).where(
            Attendance.event_id == event_id, Attendance.status == RsvpStatus.YES
        )
    ).all()
    assert going == [a_id]
    assert len(db.session.get(Event, event_id).attendances) == 2


def test_record_rsvp_refuses_unknown_statuses(app, db):
    event = supporters.create_event("Rally", T0)
    with pytest.raises(ValueError):
        supporters.record_rsvp(ann(), event, "perhaps", module="events")
    assert count(db, Attendance) == 0


# --- the examples in docs/supporter-store.md -----------------------------------------------


def test_events_module_example(app, db):
    event = supporters.create_event(
        "Saturday canvass",
        datetime(2026, 5, 16, 9, 0, tzinfo=UTC),
        place="Community hall",
        postcode="EH1 1AA",
        time_zone="Europe/London",
        capacity=40,
    )
    db.session.commit()
    caller_said_yes = supporters.find_or_create_person("Bo", "Lee", phone=DC)
    supporters.record_rsvp(caller_said_yes, event, RsvpStatus.YES, module="calling")
    db.session.commit()

    person = supporters.find_or_create_person(
        "Ann",
        "Lee",
        email="ann@example.org",
        phone="0131 496 0123",
        default_region="GB",
        source="events",
    )
    supporters.record_rsvp(person, event, RsvpStatus.YES, module="events")
    db.session.commit()

    going = db.session.scalars(
        select(Person)
        .join(Attendance, Attendance.person_id == Person.id)
        .where(
            Attendance.event_id == event.id,
            Attendance.status == RsvpStatus.YES,
            Person.merged_into_id.is_(None),
        )
        .order_by(Person.id)
    ).all()
    assert [p.full_name for p in going] == ["Bo Lee", "Ann Lee"]


def test_email_module_example(app, db):
    subscribed = supporters.find_or_create_person("Ann", "Lee", email="ann@example.org")
    supporters.find_or_create_person("Bo", "Lee", email="bo@example.org")
    supporters.set_person_flags(
        supporters.find_people_by_email("bo@example.org")[0], module="email", do_not_email=True
    )
    leaving = supporters.find_or_create_person("Cy", "Lee", email="cy@example.org")
    db.session.commit()

    def recipients():
        return db.session.scalars(
            select(Email.address)
            .join(Person, Email.person_id == Person.id)
            .where(
                Email.status == EmailStatus.SUBSCRIBED,
                Person.do_not_email.is_(False),
                Person.deceased.is_(False),
                Person.merged_into_id.is_(None),
            )
            .order_by(Email.address)
        ).all()

    assert recipients() == ["ann@example.org", "cy@example.org"]

    def on_unsubscribe(address):
        for person in supporters.find_people_by_email(address):
            for email in person.emails:
                if email.address == supporters.normalize_email(address):
                    supporters.set_email_status(
                        email, EmailStatus.UNSUBSCRIBED, module="email", reason="unsubscribe link"
                    )
        db.session.commit()

    on_unsubscribe("Cy@Example.org")
    assert recipients() == ["ann@example.org"]
    assert [a.kind for a in supporters.history(leaving)] == ["email_status"]

    email_id = subscribed.emails[0].id
    supporters.set_email_status(
        db.session.get(Email, email_id), EmailStatus.BOUNCING, module="email", reason="hard bounce"
    )
    db.session.commit()
    assert recipients() == []


# --- concurrency (PostgreSQL) --------------------------------------------------------------


@pytest.fixture
def pg_app(postgres_url):
    app = make_app(postgres_url)
    with app.app_context():
        yield app
        from phonebank.extensions import db

        db.session.remove()
        db.engine.dispose()


def test_concurrent_do_not_call_for_the_same_number_both_succeed(pg_app):
    """Two calls ending in "do not call" for one number at once: neither transaction fails."""
    from phonebank.extensions import db

    other = db.engine.connect()
    other_tx = other.begin()
    other.execute(
        text(
            "INSERT INTO do_not_call_numbers (number, reason, source, added_at) "
            "VALUES (:n, 'first', 'calling', now())"
        ),
        {"n": DC},
    )
    # The other transaction commits while this one waits on the unique key.
    timer = threading.Timer(0.5, other_tx.commit)
    timer.start()
    try:
        row = supporters.add_to_do_not_call(DC, reason="second", source="calling")
        db.session.commit()
    finally:
        timer.join()
        other.close()
    assert row.number == DC
    assert db.session.get(DoNotCallNumber, DC).reason == "first"
    assert count(db, DoNotCallNumber) == 1
