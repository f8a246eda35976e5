"""List imports end to end on SQLite and PostgreSQL: files in every format, matching against
the supporter store, do-not-call, call lists, idempotence, and all-or-nothing on cancel,
errors and a killed import process."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import time

import openpyxl
import pytest
from sqlalchemy import select

from phonebank.lists import importer, services
from phonebank.lists.importer import ImportCancelled
from phonebank.lists.mapping import MappingError
from phonebank.lists.reader import ListFileError
from phonebank.models import (
    Activity,
    Address,
    CampaignTarget,
    CustomField,
    Email,
    ExternalId,
    ListCampaign,
    ListMember,
    ListReject,
    ListStatus,
    PeopleList,
    Person,
    Phone,
    Tag,
)
from phonebank.supporters import services as supporters
from phonebank.supporters.bulk import BulkWriter
from tests.conftest import make_app
from tests.lists.conftest import (
    CHICAGO,
    DC,
    VAN_HEADER,
    count,
    import_path,
    people_named,
    person_by_van,
    phones_of,
    table_counts,
    van_row,
    write_file,
)

VAN_ROWS = [
    van_row(
        "1001",
        "Ann",
        "Lee",
        home="(202) 555-0101",
        cell="312.555.0101",
        Address="12 Main St",
        City="Nashville",
        State="TN",
        ZipOrPostal="37201",
        Email="Ann@Example.org",
        Party="D",
    ),
    van_row(
        "1002",
        "Bob",
        "Muñoz",
        home="2025550102",
        IsHomePhoneACellExchange="1",
        State="DC",
        ZipOrPostal="20001",
    ),
    van_row("1003", "Cy", "Oh", work="+1 312 555 0103", Party="R"),
    van_row("1004", "Di", "Fox", home="555-0104", cell="not known"),  # rejected
]


def check_van_people(db, list_id: int, last_name_of_bob: str = "Muñoz") -> None:
    """What VAN_ROWS must have put in the store."""
    assert count(db, Person) == 3
    ann = person_by_van(db, "1001")
    assert (ann.first_name, ann.last_name) == ("Ann", "Lee")
    assert phones_of(db, ann.id) == {DC: "home", CHICAGO: "mobile"}
    assert db.session.scalars(select(Email.address).where(Email.person_id == ann.id)).all() == [
        "ann@example.org"
    ]
    address = db.session.scalar(select(Address).where(Address.person_id == ann.id))
    assert (address.line1, address.city, address.region, address.postcode, address.country) == (
        "12 Main St",
        "Nashville",
        "TN",
        "37201",
        "US",
    )
    assert address.time_zone == "America/Chicago"
    assert address.is_primary
    custom = db.session.execute(
        select(CustomField.name, CustomField.value).where(CustomField.person_id == ann.id)
    ).all()
    assert [tuple(c) for c in custom] == [("Party", "D")]

    bob = person_by_van(db, "1002")
    assert (bob.first_name, bob.last_name) == ("Bob", last_name_of_bob)
    assert phones_of(db, bob.id) == {"+12025550102": "mobile"}  # the home phone is a cell
    cy = person_by_van(db, "1003")
    assert phones_of(db, cy.id) == {"+13125550103": "work"}
    sources = set(db.session.scalars(select(Phone.source)))
    assert sources == {f"list:{list_id}"}
    members = db.session.execute(
        select(ListMember.person_id, ListMember.row_number).where(ListMember.list_id == list_id)
    ).all()
    assert sorted(tuple(m) for m in members) == [(ann.id, 2), (bob.id, 3), (cy.id, 4)]
    rejects = db.session.scalars(select(ListReject).where(ListReject.list_id == list_id)).all()
    assert [(r.row_number, r.cells[1]) for r in rejects] == [(5, "Di")]
    plist = db.session.get(PeopleList, list_id)
    assert plist.status == ListStatus.DONE
    assert plist.report["rows_read"] == 4
    assert plist.report["rows_rejected"] == 1
    assert plist.report["people_created"] == 3


# --- formats and encodings -------------------------------------------------------------------


def test_comma_csv_with_bom_and_crlf(db, tmp_path, campaign):
    path = write_file(
        tmp_path, "van.csv", [VAN_HEADER, *VAN_ROWS], encoding="utf-8-sig", newline="\r\n"
    )
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")

    list_id, report = import_path(path, [campaign.id])

    check_van_people(db, list_id)
    assert report["queued"] == 3
    assert db.session.get(PeopleList, list_id).header[0] == "VanID"  # the BOM is not in it


def test_tab_separated_latin1(db, tmp_path):
    path = write_file(
        tmp_path, "van.txt", [VAN_HEADER, *VAN_ROWS], encoding="latin-1", delimiter="\t"
    )
    assert "Muñoz".encode("latin-1") in path.read_bytes()

    list_id, _ = import_path(path)

    check_van_people(db, list_id)


def test_semicolon_separated_utf16(db, tmp_path):
    path = write_file(
        tmp_path, "van.csv", [VAN_HEADER, *VAN_ROWS], encoding="utf-16", delimiter=";"
    )

    list_id, _ = import_path(path)

    check_van_people(db, list_id)


def test_xlsx_with_phones_and_ids_stored_as_numbers(db, tmp_path):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(VAN_HEADER)
    for row in VAN_ROWS:
        values: list = list(row)
        if values[0] == "1001":
            values[9] = 3125550101.0  # a phone stored as a (float) number
        if values[0] == "1002":
            values[0] = 1002  # an id column Excel turned into numbers
            values[8] = 2025550102  # the home phone, a number in the sheet
        sheet.append(values)
    path = tmp_path / "van.xlsx"
    book.save(path)

    list_id, _ = import_path(path)

    check_van_people(db, list_id)


def test_quoted_newline_inside_an_address(db, tmp_path):
    rows = [
        van_row("1", "Ann", "Lee", home="2025550101", Address="12 Main St\nApt 4", City="DC"),
        van_row("2", "Bob", "Ray", home="2025550102", Address='The "Old" Mill, Unit 3'),
    ]
    path = write_file(tmp_path, "van.csv", [VAN_HEADER, *rows])

    import_path(path)

    lines = dict(db.session.execute(select(Address.person_id, Address.line1)).all())
    assert lines == {
        person_by_van(db, "1").id: "12 Main St\nApt 4",
        person_by_van(db, "2").id: 'The "Old" Mill, Unit 3',
    }
    assert phones_of(db, person_by_van(db, "2").id) == {"+12025550102": "home"}


def test_florida_file_without_header_mapped_by_position(db, tmp_path, campaign):
    rows = [
        ["100234567", "Lee", "Ann", "305", "5550101", "FL", "33101"],
        ["100234568", "Ray", "Bob", "786", "555-0102", "FL", "33130-1234"],
        ["100234569", "Oh", "Cy", "954", "5550103", "FL", "33301"],
    ]
    path = write_file(tmp_path, "FL_extract.txt", rows, delimiter="\t")

    def change(mapping):
        assert mapping["columns"][3] == {"field": "phone_area_code", "slot": 1}
        assert mapping["columns"][4] == {"field": "phone", "slot": 1, "type": "unknown"}
        mapping["columns"][:3] = [
            {"field": "external_id"},
            {"field": "last_name"},
            {"field": "first_name"},
        ]
        mapping["id_system"] = "voterfile"

    list_id, report = import_path(path, [campaign.id], change)

    assert db.session.get(PeopleList, list_id).header is None
    assert report["rows_read"] == 3  # row 1 is data
    numbers = dict(
        db.session.execute(
            select(ExternalId.value, Phone.number).join(
                Phone, Phone.person_id == ExternalId.person_id
            )
        ).all()
    )
    assert numbers == {
        "100234567": "+13055550101",
        "100234568": "+17865550102",
        "100234569": "+19545550103",
    }
    bob = db.session.scalar(select(Person).where(Person.first_name == "Bob"))
    address = db.session.scalar(select(Address).where(Address.person_id == bob.id))
    assert (address.region, address.postcode, address.time_zone) == (
        "FL",
        "33130-1234",
        "America/New_York",
    )
    assert (
        db.session.scalar(select(CampaignTarget.zone_key).where(CampaignTarget.person_id == bob.id))
        == "America/New_York|FL"
    )


def test_uk_numbers_that_lost_their_leading_zero_with_region_gb(db, tmp_path):
    rows = [
        ["Name", "Phone", "Postcode"],
        ["Ann Lee", "1314960000", "EH1 1YZ"],
        ["Bob Ray", "07911 123456", "EH2 2AB"],
        ["Cy Oh", "+44 (0)20 7946 0000", ""],
    ]
    path = write_file(tmp_path, "uk.csv", rows)

    def change(mapping):
        assert mapping["columns"][0] == {"field": "full_name"}
        mapping["region"] = "GB"

    import_path(path, change=change)

    numbers = dict(db.session.execute(select(Person.first_name, Phone.number).join(Phone)).all())
    assert numbers == {"Ann": "+441314960000", "Bob": "+447911123456", "Cy": "+442079460000"}
    assert set(db.session.scalars(select(Phone.time_zones))) >= {"Europe/London"}
    assert set(db.session.scalars(select(Address.country))) == {"GB"}


# --- matching the store ----------------------------------------------------------------------

MATCH_HEADER = ["VanID", "FirstName", "LastName", "Phone", "CellPhone", "Email"]


def test_matching_existing_people(db, tmp_path):
    by_id = supporters.create_person("Ann", "Lee")
    supporters.add_external_id(by_id, "VAN", "1001")
    by_phone = supporters.create_person("Bob", "Ray")
    supporters.add_phone(by_phone, "+12025550102")
    by_email = supporters.create_person("Cy", "Oh")
    supporters.add_email(by_email, "cy@example.org")
    household = supporters.create_person("Di", "Fox")
    supporters.add_phone(household, "+12025550104")
    single_holder = supporters.create_person("Ed", "Kim")
    supporters.add_phone(single_holder, "+12025550105")
    db.session.commit()
    before = count(db, Person)
    rows = [
        MATCH_HEADER,
        ["1001", "Annie", "Lee-Smith", "3125550101", "", ""],  # id wins over a new name
        ["", "BOB", "ray", "202-555-0102", "312-555-0102", ""],  # phone + same name
        ["", "Cy", "Oh", "3125550103", "", "CY@example.org"],  # email + same name
        ["", "Al", "Fox", "2025550104", "", ""],  # shared phone, other name: a new person
        ["", "", "", "2025550105", "3125550105", ""],  # no name, the phone's single holder
        ["", "Bob", "Ray", "3125550199", "", "bob@example.org"],  # nothing known: new person
    ]
    path = write_file(tmp_path, "match.csv", rows)

    _, report = import_path(path, change=lambda m: m.update(id_system="van"))

    assert count(db, Person) == before + 2
    assert report["people_created"] == 2
    assert report["people_updated"] == 4
    assert phones_of(db, by_id.id) == {"+13125550101": "unknown"}
    assert phones_of(db, by_phone.id) == {"+12025550102": "unknown", "+13125550102": "mobile"}
    assert phones_of(db, by_email.id) == {"+13125550103": "unknown"}
    assert phones_of(db, single_holder.id) == {
        "+12025550105": "unknown",
        "+13125550105": "mobile",
    }
    assert db.session.scalars(
        select(Email.address).where(Email.person_id == by_email.id)
    ).all() == ["cy@example.org"]
    db.session.refresh(by_id)
    assert (by_id.first_name, by_id.last_name) == ("Ann", "Lee")  # names are not overwritten
    [al] = people_named(db, "Al", "Fox")
    assert phones_of(db, al.id) == {"+12025550104": "unknown"}
    assert phones_of(db, household.id) == {"+12025550104": "unknown"}
    assert len(people_named(db, "Bob", "Ray")) == 2


def test_duplicates_inside_the_file_are_merged_across_batches(db, tmp_path, monkeypatch, campaign):
    monkeypatch.setattr(importer, "BATCH_ROWS", 3)
    rows = [VAN_HEADER, van_row("7", "Ann", "Lee", home="2025550101", Party="D")]
    rows += [van_row(str(100 + i), f"P{i}", "Filler", home=f"31255501{i:02d}") for i in range(7)]
    rows += [van_row("7", "Ann", "Lee", cell="3125550177", Party="R", Email="ann@example.org")]
    # Same phone and name, no id, in one batch: one person too.
    rows += [
        van_row("", "Eve", "Ng", home="2025550188"),
        van_row("", "eve", "NG", cell="2025550188", work="3125550188"),
    ]
    path = write_file(tmp_path, "dupes.csv", [VAN_HEADER, *rows[1:]])

    list_id, report = import_path(path, [campaign.id])

    ann = person_by_van(db, "7")
    assert count(db, ExternalId, ExternalId.value == "7") == 1
    assert phones_of(db, ann.id) == {"+12025550101": "home", "+13125550177": "mobile"}
    party = db.session.scalar(select(CustomField.value).where(CustomField.person_id == ann.id))
    assert party == "R"  # the later row's value
    assert count(db, Email, Email.person_id == ann.id) == 1
    assert len(people_named(db, "Eve", "Ng")) == 1
    assert count(db, Person) == 1 + 7 + 1
    assert count(db, ListMember, ListMember.list_id == list_id) == 9
    assert count(db, CampaignTarget, CampaignTarget.person_id == ann.id) == 1
    assert count(db, CampaignTarget) == 9
    assert report["people_created"] == 9
    assert report["people_merged"] == 2
    assert report["queued"] == 9


def test_a_duplicate_in_a_later_batch_is_not_reported_as_already_queued(
    db, tmp_path, monkeypatch, campaign
):
    monkeypatch.setattr(importer, "BATCH_ROWS", 2)
    rows = [
        van_row("7", "Ann", "Lee", home="2025550101"),
        van_row("8", "Bob", "Ray", home="2025550102"),
        van_row("7", "Ann", "Lee", cell="3125550177"),
    ]
    path = write_file(tmp_path, "dupes.csv", [VAN_HEADER, *rows])

    _, report = import_path(path, [campaign.id])

    assert count(db, CampaignTarget) == 2
    assert report["queued"] == 2
    assert report["already_queued"] == 0
    assert report["campaigns"] == [{"id": campaign.id, "added": 2, "already": 0}]


def test_a_nameless_row_does_not_merge_two_named_people_sharing_a_phone(db, tmp_path):
    rows = [
        VAN_HEADER,
        van_row("", "", "", home="2025550101"),
        van_row("", "Ann", "Lee", home="2025550101"),
        van_row("", "Bob", "Lee", home="2025550101"),
    ]
    path = write_file(tmp_path, "household.csv", rows)

    import_path(path)

    assert len(people_named(db, "Ann", "Lee")) == 1
    assert len(people_named(db, "Bob", "Lee")) == 1


def test_a_stored_number_of_unknown_type_takes_the_type_the_file_gives(db, tmp_path):
    known = supporters.create_person("Ann", "Lee")
    supporters.add_phone(known, DC)  # type unknown
    typed = supporters.create_person("Bob", "Ray")
    supporters.add_phone(typed, "+13125550102", type="work")
    db.session.commit()
    rows = [
        VAN_HEADER,
        van_row("", "Ann", "Lee", home="2025550101"),
        van_row("", "Bob", "Ray", cell="3125550102"),
    ]

    import_path(write_file(tmp_path, "types.csv", rows))

    assert phones_of(db, known.id) == {DC: "home"}
    assert phones_of(db, typed.id) == {"+13125550102": "work"}  # a known type stays


def test_a_household_sharing_a_landline_stays_two_people(db, tmp_path):
    rows = [
        VAN_HEADER,
        van_row("", "Ann", "Lee", home="2025550101"),
        van_row("", "Bob", "Lee", home="2025550101"),
        van_row("", "", "", home="2025550101", cell="3125550101"),
    ]
    path = write_file(tmp_path, "household.csv", rows)

    import_path(path)

    [ann], [bob] = people_named(db, "Ann", "Lee"), people_named(db, "Bob", "Lee")
    assert phones_of(db, ann.id) == {DC: "home"}
    assert phones_of(db, bob.id) == {DC: "home"}
    # The nameless row could be either of them: it stays a person of its own, as the store's
    # matching does for a nameless row whose number two people hold.
    [nameless] = people_named(db, "", "")
    assert set(phones_of(db, nameless.id)) == {DC, "+13125550101"}
    assert count(db, Person) == 3


def test_a_new_address_from_a_list_becomes_the_primary_one(db, tmp_path):
    ann = supporters.create_person("Ann", "Lee")
    supporters.add_external_id(ann, "van", "1001")
    supporters.add_phone(ann, DC)
    supporters.add_address(ann, line1="1 Old Rd", region="NY", postcode="10001", country="US")
    db.session.commit()
    rows = [VAN_HEADER, van_row("1001", "Ann", "Lee", home=DC, Address="12 Main St", State="TN")]
    path = write_file(tmp_path, "moved.csv", rows)

    import_path(path)

    primary = db.session.scalars(
        select(Address.line1).where(Address.person_id == ann.id, Address.is_primary.is_(True))
    ).all()
    assert primary == ["12 Main St"]


# --- do not call -----------------------------------------------------------------------------

DNC_HEADER = ["VanID", "FirstName", "LastName", "Phone", "State", "Zip", "DoNotCall"]


def test_do_not_call_in_the_file_flags_the_person_and_keeps_them_off_the_call_list(
    db, tmp_path, campaign, staff
):
    rows = [
        DNC_HEADER,
        ["1", "Ann", "Lee", "2025550101", "", "", "Y"],
        ["2", "Bob", "Ray", "(nobody)", "", "", "yes"],  # no usable phone, but an id: kept
        ["3", "Cy", "Oh", "2025550103", "", "", ""],
    ]
    path = write_file(tmp_path, "dnc.csv", rows)

    list_id, report = import_path(path, [campaign.id], user=staff)

    ann, bob, cy = (person_by_van(db, v) for v in "123")
    assert ann.do_not_call and bob.do_not_call and not cy.do_not_call
    assert phones_of(db, ann.id) == {"+12025550101": "unknown"}  # kept, just not called
    flags = db.session.scalars(select(Activity).where(Activity.kind == "flag")).all()
    assert sorted(a.person_id for a in flags) == sorted([ann.id, bob.id])
    assert {a.module for a in flags} == {"lists"}
    assert {a.actor_user_id for a in flags} == {staff.id}
    assert flags[0].payload["flags"] == ["do_not_call"]
    assert "dnc" in flags[0].payload["reason"] and "row " in flags[0].payload["reason"]
    assert db.session.scalars(select(CampaignTarget.person_id)).all() == [cy.id]
    assert count(db, ListMember, ListMember.list_id == list_id) == 3
    assert report["flagged_do_not_call"] == 2
    assert report["do_not_call_skipped"] == 2
    assert report["queued"] == 1


def test_numbers_on_the_do_not_call_list_and_flagged_people_are_not_queued(db, tmp_path, campaign):
    supporters.add_to_do_not_call("+12025550101", "asked", "calling")
    flagged = supporters.create_person("Bob", "Ray", do_not_call=True)
    supporters.add_phone(flagged, "+12025550102")
    deceased = supporters.create_person("Cy", "Oh", deceased=True)
    supporters.add_phone(deceased, "+12025550103")
    db.session.commit()
    rows = [
        DNC_HEADER,
        ["1", "Ann", "Lee", "2025550101", "", "", ""],  # the number is listed
        ["2", "Bob", "Ray", "2025550102", "", "", ""],  # the person is flagged
        ["3", "Cy", "Oh", "2025550103", "", "", ""],  # deceased
        ["4", "Di", "Fox", "2025550104", "", "", ""],
    ]
    path = write_file(tmp_path, "dnc.csv", rows)

    _, report = import_path(path, [campaign.id])

    ann = person_by_van(db, "1")
    assert phones_of(db, ann.id) == {"+12025550101": "unknown"}  # stored, not called
    assert not ann.do_not_call  # the number is listed, not the person
    assert person_by_van(db, "2").id == flagged.id
    queued = db.session.scalars(select(CampaignTarget.person_id)).all()
    assert queued == [person_by_van(db, "4").id]
    assert report["do_not_call_skipped"] == 2
    assert report["not_callable"] == 1
    assert report["flagged_do_not_call"] == 0


def test_do_not_contact_flags_email_too_and_is_recorded_once(db, tmp_path, campaign):
    rows = [
        ["nationbuilder_id", "first_name", "last_name", "phone_number", "email", "do_not_contact"],
        ["9", "Ann", "Lee", "2025550101", "ann@example.org", "true"],
    ]
    path = write_file(tmp_path, "nb.csv", rows)

    import_path(path, [campaign.id])

    person = db.session.scalar(select(Person))
    assert person.do_not_call and person.do_not_email
    flags = db.session.scalars(select(Activity).where(Activity.kind == "flag")).all()
    assert [a.payload["flags"] for a in flags] == [["do_not_call", "do_not_email"]]
    assert count(db, CampaignTarget) == 0


def test_reimporting_do_not_contact_records_no_new_flag(db, tmp_path):
    rows = [
        ["nationbuilder_id", "first_name", "last_name", "phone_number", "do_not_contact"],
        ["9", "Ann", "Lee", "2025550101", "true"],
    ]
    path = write_file(tmp_path, "nb.csv", rows)
    import_path(path)
    assert count(db, Activity) == 1

    import_path(path)

    assert count(db, Activity) == 1


# --- call lists ------------------------------------------------------------------------------


def test_call_list_rows_get_zone_keys_from_address_then_phones(db, tmp_path, campaign):
    rows = [
        DNC_HEADER,
        ["1", "Ann", "Lee", "2025550101", "TN", "37201", ""],  # Nashville ZIP, DC phone
        ["2", "Bob", "Ray", "865-555-0102", "TN", "", ""],  # TN only; a Knoxville phone
        ["3", "Cy", "Oh", "3125550103", "", "", ""],  # no address: the phone's zone and state
        ["4", "Di", "Fox", "6155550104", "tn", "", ""],  # TN only; a Nashville phone
    ]
    path = write_file(tmp_path, "zones.csv", rows)

    import_path(path, [campaign.id])

    keys = dict(
        db.session.execute(
            select(ExternalId.value, CampaignTarget.zone_key).join(
                CampaignTarget, CampaignTarget.person_id == ExternalId.person_id
            )
        ).all()
    )
    assert keys == {
        "1": "America/Chicago|TN",
        "2": "America/New_York|TN",
        "3": "America/Chicago|IL",
        "4": "America/Chicago|TN",
    }
    targets = db.session.scalars(select(CampaignTarget)).all()
    assert {(t.campaign_id, str(t.status), t.attempts) for t in targets} == {
        (campaign.id, "queued", 0)
    }


def test_one_list_feeds_two_campaigns(db, tmp_path, campaign, staff):
    from phonebank.campaigns.services import create_campaign

    other = create_campaign("Turnout", staff)
    already = supporters.create_person("Ann", "Lee")
    supporters.add_external_id(already, "van", "1001")
    supporters.add_phone(already, "+12025550101")
    db.session.add(CampaignTarget(campaign_id=other.id, person_id=already.id, zone_key="x|"))
    db.session.commit()
    rows = [VAN_HEADER, van_row("1001", "Ann", "Lee", home=DC), van_row("1002", home=CHICAGO)]
    path = write_file(tmp_path, "two.csv", rows)

    list_id, report = import_path(path, [campaign.id, other.id])

    pairs = set(db.session.execute(select(CampaignTarget.campaign_id, CampaignTarget.person_id)))
    new = person_by_van(db, "1002")
    assert pairs == {
        (campaign.id, already.id),
        (campaign.id, new.id),
        (other.id, already.id),
        (other.id, new.id),
    }
    # The row that was there already is left as it was.
    assert (
        db.session.scalar(
            select(CampaignTarget.zone_key).where(
                CampaignTarget.campaign_id == other.id, CampaignTarget.person_id == already.id
            )
        )
        == "x|"
    )
    fed = {
        lc.campaign_id: (lc.added, lc.already)
        for lc in db.session.scalars(select(ListCampaign).where(ListCampaign.list_id == list_id))
    }
    assert fed == {campaign.id: (2, 0), other.id: (1, 1)}
    assert report["queued"] == 3
    assert report["already_queued"] == 1


def test_people_already_in_the_store_are_queued_on_a_new_campaign(db, tmp_path, campaign):
    # Over 50 people, so PostgreSQL takes the scratch-table path for their call-list rows.
    first = [VAN_HEADER] + [
        van_row(str(i), f"P{i}", "Lee", home=f"202555{i:04d}", State="TN", ZipOrPostal="37201")
        for i in range(60)
    ]
    import_path(write_file(tmp_path, "first.csv", first))
    assert count(db, CampaignTarget) == 0
    # The same people, by id, from a file without addresses.
    second = [["VanID", "Phone"]] + [[str(i), f"202555{i:04d}"] for i in range(60)]

    list_id, report = import_path(write_file(tmp_path, "second.csv", second), [campaign.id])

    assert report["people_updated"] == 60
    assert report["queued"] == 60
    assert report["already_queued"] == 0
    keys = set(db.session.scalars(select(CampaignTarget.zone_key)))
    assert keys == {"America/Chicago|TN"}  # the store's address, not the DC phones
    assert count(db, CampaignTarget, CampaignTarget.campaign_id == campaign.id) == 60
    assert count(db, ListMember, ListMember.list_id == list_id) == 60
    assert count(db, Person) == 60


def test_a_person_whose_only_number_is_marked_bad_is_not_queued_again(db, tmp_path, campaign):
    ann = supporters.create_person("Ann", "Lee")
    supporters.add_external_id(ann, "van", "1")
    phone = supporters.add_phone(ann, DC)
    supporters.mark_phone_bad(phone, "wrong number", module="calling")
    db.session.commit()
    rows = [VAN_HEADER, van_row("1", "Ann", "Lee", home=DC)]

    _, report = import_path(write_file(tmp_path, "again.csv", rows), [campaign.id])

    assert count(db, CampaignTarget) == 0
    assert report["queued"] == 0


def test_importing_the_same_file_again_adds_nothing(db, tmp_path, campaign):
    # Over 50 people, so PostgreSQL takes the scratch-table path for the second run's upserts.
    rows = [VAN_HEADER + ["Tags"], *(r + ["donor, volunteer"] for r in VAN_ROWS)]
    rows += [
        van_row(
            "",
            f"P{i}",
            "Ng",
            home=f"312555{i:04d}",
            cell=f"202555{i:04d}",
            Email=f"p{i}@example.org",
            Address=f"{i} Elm St",
            ZipOrPostal="20001",
            Party="D" if i % 2 else "R",
        )
        + ["donor"]
        for i in range(60)
    ]
    path = write_file(tmp_path, "van.csv", rows)

    def tag(mapping):
        mapping["list_tag"] = "Spring canvass"

    first_id, first = import_path(path, [campaign.id], tag)
    after_first = table_counts(db)
    assert after_first["people"] == 63
    assert after_first["phones"] == 2 + 1 + 1 + 120
    assert after_first["emails"] == 61
    assert after_first["addresses"] == 2 + 60
    assert after_first["custom_fields"] == 2 + 60
    assert after_first["person_tags"] == 3 * 3 + 60 * 2  # + the list's tag for everyone
    assert after_first["campaign_targets"] == 63
    assert first["people_created"] == 63

    second_id, second = import_path(path, [campaign.id], tag)

    after_second = table_counts(db)
    assert count(db, ListMember, ListMember.list_id == second_id) == 63
    after_second["list_members"] -= 63
    assert after_second == after_first
    assert second["people_created"] == 0
    assert second["people_updated"] == 63
    assert second["phones_added"] == 0
    assert second["phones_duplicate"] == second["phones_valid"] == 124
    assert second["emails_added"] == 0
    assert second["queued"] == 0
    assert second["already_queued"] == 63
    assert count(db, Tag) == 3
    assert (
        db.session.get(PeopleList, first_id).mapping
        == db.session.get(PeopleList, second_id).mapping
    )


def test_a_changed_value_in_a_file_imported_again_updates_the_custom_field(db, tmp_path):
    rows = [VAN_HEADER] + [van_row(str(i), home=f"312555{i:04d}", Party="D") for i in range(60)]
    import_path(write_file(tmp_path, "one.csv", rows))
    rows[5][12] = "R"
    rows[6][12] = ""  # an empty cell does not clear what the store has

    import_path(write_file(tmp_path, "two.csv", rows))

    values = dict(
        db.session.execute(
            select(ExternalId.value, CustomField.value).join(
                CustomField, CustomField.person_id == ExternalId.person_id
            )
        ).all()
    )
    assert len(values) == 60
    assert values["4"] == "R"
    assert values["5"] == "D"
    assert count(db, CustomField) == 60


# --- all or nothing --------------------------------------------------------------------------


def many_rows(n: int) -> list[list[str]]:
    return [VAN_HEADER] + [
        van_row(str(5000 + i), f"P{i}", "Lee", home=f"202555{i:04d}") for i in range(n)
    ]


def nothing_from(db, list_id: int) -> None:
    assert count(db, Person) == 0
    assert count(db, Phone) == 0
    assert count(db, ListMember) == 0
    assert count(db, ListReject) == 0
    assert count(db, CampaignTarget) == 0
    assert count(db, ListCampaign) == 0
    assert db.session.get(PeopleList, list_id).report is None


def test_cancel_keeps_nothing_and_the_list_can_be_imported_again(
    db, tmp_path, upload_dir, campaign, monkeypatch
):
    monkeypatch.setattr(importer, "BATCH_ROWS", 3)
    path = write_file(tmp_path, "big.csv", many_rows(10))
    plist = services.store_path(path)
    services.confirm(plist, {**plist.mapping}, [campaign.id])
    db.session.commit()
    list_id = plist.id
    cancel_file = upload_dir / f"{plist.stored_name}.cancel"
    cancel_file.touch()  # what request_cancel does for a running import

    with pytest.raises(ImportCancelled):
        services.run_with_files(list_id)

    db.session.expire_all()
    plist = db.session.get(PeopleList, list_id)
    assert plist.status == ListStatus.CANCELLED
    assert "nothing" in plist.error
    nothing_from(db, list_id)
    assert sorted(p.name for p in upload_dir.iterdir()) == [plist.stored_name]

    again = services.reimport(plist, None)
    db.session.commit()
    report = services.run_with_files(again.id)
    assert report["people_created"] == 10
    assert count(db, CampaignTarget) == 10


def test_should_cancel_at_the_end_keeps_nothing(db, tmp_path, campaign):
    path = write_file(tmp_path, "small.csv", many_rows(3))
    plist = services.store_path(path)
    services.confirm(plist, plist.mapping, [campaign.id])
    db.session.commit()
    asked = []

    def should_cancel():
        asked.append(1)
        return len(asked) > 1  # not at the first batch: when all is written

    with pytest.raises(ImportCancelled):
        importer.run_import(plist.id, should_cancel=should_cancel)

    assert db.session.get(PeopleList, plist.id).status == ListStatus.CANCELLED
    nothing_from(db, plist.id)


def test_an_error_in_a_later_batch_keeps_nothing(db, tmp_path, campaign, monkeypatch):
    monkeypatch.setattr(importer, "BATCH_ROWS", 3)
    real_write = BulkWriter.write
    calls = []

    def failing_write(self, records):
        calls.append(len(records))
        if len(calls) > 1:
            raise RuntimeError("the disk is on fire")
        return real_write(self, records)

    monkeypatch.setattr(BulkWriter, "write", failing_write)
    rows = many_rows(8)
    rows.insert(2, van_row("1", "Bad", "Row", home="12"))  # a reject in the first batch
    path = write_file(tmp_path, "big.csv", rows)
    plist = services.store_path(path)
    services.confirm(plist, plist.mapping, [campaign.id])
    db.session.commit()
    list_id = plist.id

    with pytest.raises(RuntimeError, match="on fire"):
        services.run_with_files(list_id)

    assert len(calls) == 2
    db.session.expire_all()
    plist = db.session.get(PeopleList, list_id)
    assert plist.status == ListStatus.FAILED
    assert "nothing from it was kept" in plist.error
    assert "RuntimeError" in plist.error
    nothing_from(db, list_id)


def test_a_campaign_deleted_before_the_import_runs_fails_it(db, tmp_path, campaign):
    path = write_file(tmp_path, "small.csv", many_rows(2))
    plist = services.store_path(path)
    services.confirm(plist, plist.mapping, [campaign.id])
    db.session.delete(campaign)
    db.session.commit()

    with pytest.raises(ListFileError):
        services.run_with_files(plist.id)

    plist = db.session.get(PeopleList, plist.id)
    assert plist.status == ListStatus.FAILED
    assert "no longer exists" in plist.error
    assert count(db, Person) == 0


# --- refused files and mappings ------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (bytes(range(256)) * 64, ""),
        (b"\x00\x01\x02\xff\xfe" * 5000 + b"\x89PNG\r\n", ""),
    ],
    ids=["empty", "binary", "garbage"],
)
def test_refused_files_leave_nothing_behind(db, tmp_path, upload_dir, content, message):
    path = tmp_path / "upload.csv"
    path.write_bytes(content)

    with pytest.raises(ListFileError) as refused:
        services.store_path(path)

    assert message in str(refused.value).lower()
    db.session.commit()
    assert count(db, PeopleList) == 0
    assert list(upload_dir.iterdir()) == []


def test_a_file_over_the_size_limit_is_refused(database_url, tmp_path):
    app = make_app(database_url, UPLOAD_DIR=str(tmp_path / "small-uploads"), MAX_UPLOAD_MB=1)
    with app.app_context():
        from phonebank.extensions import db

        try:
            path = write_file(tmp_path, "big.csv", many_rows(30_000))
            assert path.stat().st_size > 1024 * 1024
            with pytest.raises(ListFileError, match="1 MB limit"):
                services.store_path(path)
            db.session.commit()
            assert count(db, PeopleList) == 0
            assert list((tmp_path / "small-uploads").iterdir()) == []
        finally:
            db.session.remove()
            db.engine.dispose()


def test_a_mapping_without_a_phone_column_is_refused_and_the_list_waits(db, tmp_path):
    path = write_file(tmp_path, "van.csv", [VAN_HEADER, *VAN_ROWS])
    plist = services.store_path(path)
    db.session.commit()
    mapping = dict(plist.mapping)
    mapping["columns"] = [
        {"field": "ignore"} if c["field"].startswith("phone") else c for c in mapping["columns"]
    ]

    with pytest.raises(MappingError, match="Phone number"):
        services.confirm(plist, mapping, [])

    db.session.rollback()
    plist = db.session.get(PeopleList, plist.id)
    assert plist.status == ListStatus.UPLOADED
    assert plist.mapping["columns"][8]["field"] == "phone"  # the suggestion is kept


def test_a_saved_mapping_is_offered_for_the_same_headers(db, tmp_path):
    path = write_file(tmp_path, "van.csv", [VAN_HEADER, *VAN_ROWS])
    mine = {}

    def change(mapping):
        mapping["columns"][12] = {"field": "custom", "name": "Party code"}
        mine.update(mapping)

    import_path(path, change=change)
    other = write_file(
        tmp_path, "again.csv", [[h.lower() for h in VAN_HEADER], VAN_ROWS[0]], delimiter="\t"
    )
    plist = services.store_path(other)
    assert plist.mapping["reused"] is True
    assert plist.mapping["columns"][12] == {"field": "custom", "name": "Party code"}


def test_rejects_csv_has_the_reason_and_the_original_cells(db, tmp_path):
    path = write_file(tmp_path, "van.csv", [VAN_HEADER, *VAN_ROWS])
    list_id, _ = import_path(path)

    text = "".join(services.rejects_csv(db.session.get(PeopleList, list_id)))

    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["row", "reason", *VAN_HEADER]
    assert len(rows) == 2
    number, reason, *cells = rows[1]
    assert number == "5"
    assert cells == VAN_ROWS[3]
    assert "HomePhone “555-0104”: too few digits" in reason
    assert "CellPhone “not known”: not a phone number" in reason


# --- a killed import process -----------------------------------------------------------------


AREAS = ("202", "312", "615")


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_killed_import_process_keeps_nothing_and_is_marked_failed(postgres_url, tmp_path):
    upload_dir = tmp_path / "uploads"
    app = make_app(postgres_url, UPLOAD_DIR=str(upload_dir), IMPORT_RUNNER="subprocess")
    rows = [VAN_HEADER] + [
        van_row(str(i), f"P{i}", "Lee", home=f"{AREAS[i % 3]}555{i % 10_000:04d}")
        for i in range(150_000)
    ]
    path = write_file(tmp_path, "big.csv", rows)
    with app.app_context():
        from phonebank.extensions import db

        child = None
        try:
            plist = services.store_path(path)
            services.confirm(plist, plist.mapping, [])
            db.session.commit()
            list_id = plist.id
            progress_file = upload_dir / f"{plist.stored_name}.progress"
            services.start(plist)
            child = services._children[list_id]

            def rows_done():
                assert child.poll() is None, "the import ended before it could be killed"
                try:
                    return json.loads(progress_file.read_text())["rows"]
                except (OSError, ValueError, KeyError):
                    return 0

            wait_for(rows_done, 60, "the child's progress")
            child.kill()
            child.wait(timeout=30)

            db.session.expire_all()
            assert db.session.get(PeopleList, list_id).status == ListStatus.RUNNING
            source = f"list:{list_id}"
            assert count(db, Phone, Phone.source == source) == 0
            assert count(db, Person) == 0
            assert count(db, ListMember) == 0

            # Its progress is fresh: only the exit of the child says it died.
            assert services.recover_stale() == [list_id]
            db.session.expire_all()
            plist = db.session.get(PeopleList, list_id)
            assert plist.status == ListStatus.FAILED
            assert "nothing from it was kept" in plist.error
            assert list_id not in services._children
        finally:
            if child is not None and child.poll() is None:
                child.kill()
                child.wait()
            services._children.clear()
            db.session.remove()
            db.engine.dispose()


def test_recover_stale_fails_an_import_whose_child_has_exited(db, tmp_path, upload_dir):
    path = write_file(tmp_path, "small.csv", many_rows(2))
    plist = services.store_path(path)
    services.confirm(plist, plist.mapping, [])
    plist.status = ListStatus.RUNNING
    db.session.commit()
    services.write_progress(upload_dir / f"{plist.stored_name}.progress", importer.Progress(rows=1))
    dead = subprocess.Popen([sys.executable, "-c", "pass"], env=dict(os.environ))
    dead.wait()
    services._children[plist.id] = dead
    try:
        assert services.recover_stale() == [plist.id]
    finally:
        services._children.pop(plist.id, None)

    db.session.expire_all()
    assert db.session.get(PeopleList, plist.id).status == ListStatus.FAILED


def test_recover_stale_fails_a_running_import_without_progress_for_two_minutes(
    db, tmp_path, upload_dir, monkeypatch
):
    path = write_file(tmp_path, "small.csv", many_rows(2))
    plist = services.store_path(path)
    services.confirm(plist, plist.mapping, [])
    plist.status = ListStatus.RUNNING
    db.session.commit()
    progress = upload_dir / f"{plist.stored_name}.progress"
    services.write_progress(progress, importer.Progress(rows=1))

    assert services.recover_stale() == []  # it reported just now
    monkeypatch.setattr(services, "STALE_SECONDS", -1)  # as if two minutes had passed
    assert services.recover_stale() == [plist.id]

    plist = db.session.get(PeopleList, plist.id)
    assert plist.status == ListStatus.FAILED
    assert "nothing from it was kept" in plist.error
