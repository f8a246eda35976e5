"""A person's zone key is the same whether they arrive by list import or are added to a
campaign from the store, and it keeps every call inside the law's window (the table of cases
in tests/campaigns/test_zones.py, on both paths and both databases)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from phonebank.campaigns import services as campaigns
from phonebank.campaigns.hours import CampaignWindow, allowed_at
from phonebank.models import CampaignTarget, ExternalId
from phonebank.supporters import services as supporters
from tests.campaigns.test_zones import CASES, at, key_for
from tests.lists.conftest import import_path, write_file

HEADER = ["VanID", "FirstName", "LastName", "Phone", "State", "ZipOrPostal", "Country"]


def test_import_and_add_people_give_the_same_safe_key(db, tmp_path, campaign, staff):
    rows = [HEADER]
    for index, (_, address, numbers, _) in enumerate(CASES):
        _, region, postcode, country = address or ("", "", "", "")
        rows.append([f"Z{index}", f"Zed{index}", "Zone", numbers[0], region, postcode, country])
    path = write_file(tmp_path, "zones.csv", rows)
    # Only the first number of each case fits in one column; the cases' further numbers are
    # added to the imported people afterwards, the way a second list would.
    import_path(path, [campaign.id])
    imported = dict(
        db.session.execute(
            select(ExternalId.value, CampaignTarget.zone_key).join(
                CampaignTarget, CampaignTarget.person_id == ExternalId.person_id
            )
        ).all()
    )

    other = campaigns.create_campaign("Added from the store", staff)
    added_ids = []
    for index, (_, address, numbers, _) in enumerate(CASES):
        person = supporters.create_person(f"Store{index}", "Zone")
        if address is not None:
            _, region, postcode, country = address
            supporters.add_address(person, region=region, postcode=postcode, country=country)
        for number in numbers:
            supporters.add_phone(person, number)
        added_ids.append(person.id)
    campaigns.add_people(other, added_ids)
    db.session.commit()
    added = {
        person_id: key
        for person_id, key in db.session.execute(
            select(CampaignTarget.person_id, CampaignTarget.zone_key).where(
                CampaignTarget.campaign_id == other.id
            )
        )
    }

    for index, (what, address, numbers, times) in enumerate(CASES):
        expected = key_for(address, *numbers)
        assert added[added_ids[index]] == expected, what
        if len(numbers) == 1:
            assert imported[f"Z{index}"] == expected, what
        for moment, allowed in times:
            assert allowed_at(at(moment), expected, CampaignWindow()) is allowed, (what, moment)


@pytest.mark.parametrize("number", ["+18005550123", "+80012345678"])
def test_numbers_with_no_knowable_zone_are_rejected_with_a_reason(db, tmp_path, campaign, number):
    path = write_file(
        tmp_path, "tollfree.csv", [HEADER, ["T1", "Toll", "Free", number, "NY", "", ""]]
    )
    _, report = import_path(path, [campaign.id])
    assert report["rows_rejected"] == 1
    reasons = report["invalid_reasons"]
    assert any("no time zone" in reason for reason in reasons), reasons
    assert db.session.scalar(select(CampaignTarget.id)) is None
