"""Column mappings: suggestions from the headers of real exports (or from the values of a file
without headers), validation of what staff confirm, and header signatures."""

from __future__ import annotations

import pytest

from phonebank.lists.mapping import FIELDS, MappingError, header_signature, suggest, validate


def suggested(header: list[str]) -> tuple[dict, dict[str, dict]]:
    mapping = suggest(header, [], len(header))
    assert len(mapping["columns"]) == len(header)
    return mapping, dict(zip(header, mapping["columns"], strict=True))


def phone(slot: int = 1, kind: str = "unknown") -> dict:
    return {"field": "phone", "slot": slot, "type": kind}


# --- suggestions from headers ----------------------------------------------------------------


def test_van_export():
    header = [
        "VanID",
        "FirstName",
        "LastName",
        "Address",
        "City",
        "State",
        "ZipOrPostal",
        "Email",
        "HomePhone",
        "HomePhoneDialingPrefix",
        "IsHomePhoneACellExchange",
        "CellPhone",
        "CellPhoneDialingPrefix",
        "WorkPhone",
        "Party",
    ]
    mapping, by_name = suggested(header)

    assert mapping["id_system"] == "van"
    assert mapping["region"] == "US"
    assert by_name["VanID"] == {"field": "external_id"}  # the system moved to the mapping
    assert by_name["FirstName"] == {"field": "first_name"}
    assert by_name["LastName"] == {"field": "last_name"}
    assert by_name["Address"] == {"field": "address1"}
    assert by_name["City"] == {"field": "city"}
    assert by_name["State"] == {"field": "state"}
    assert by_name["ZipOrPostal"] == {"field": "postcode"}
    assert by_name["Email"] == {"field": "email"}
    assert by_name["HomePhone"] == phone(1, "home")
    assert by_name["HomePhoneDialingPrefix"] == {"field": "phone_country_code", "slot": 1}
    assert by_name["IsHomePhoneACellExchange"] == {"field": "phone_is_cell", "slot": 1}
    assert by_name["CellPhone"] == phone(2, "mobile")
    assert by_name["CellPhoneDialingPrefix"] == {"field": "phone_country_code", "slot": 2}
    assert by_name["WorkPhone"] == phone(3, "work")
    assert by_name["Party"] == {"field": "custom", "name": "Party"}
    # What is suggested can be confirmed as it is.
    assert validate(mapping, len(header))["columns"] == mapping["columns"]


def test_van_cell_exchange_column_before_its_phone_joins_the_home_slot():
    header = ["VanID", "IsHomePhoneACellExchange", "CellPhone", "HomePhone"]
    _, by_name = suggested(header)
    assert by_name["CellPhone"] == phone(1, "mobile")
    assert by_name["HomePhone"] == phone(2, "home")
    assert by_name["IsHomePhoneACellExchange"] == {"field": "phone_is_cell", "slot": 2}


def test_nationbuilder_export():
    header = [
        "nationbuilder_id",
        "first_name",
        "last_name",
        "email",
        "phone_number",
        "mobile_number",
        "work_phone_number",
        "primary_address1",
        "primary_city",
        "primary_state",
        "primary_zip",
        "do_not_call",
        "do_not_contact",
        "tag_list",
    ]
    mapping, by_name = suggested(header)

    assert mapping["id_system"] == "nationbuilder"
    assert by_name["nationbuilder_id"] == {"field": "external_id"}
    assert by_name["phone_number"] == phone(1, "unknown")
    assert by_name["mobile_number"] == phone(2, "mobile")
    assert by_name["work_phone_number"] == phone(3, "work")
    assert by_name["primary_address1"] == {"field": "address1"}
    assert by_name["primary_city"] == {"field": "city"}
    assert by_name["primary_state"] == {"field": "state"}
    assert by_name["primary_zip"] == {"field": "postcode"}
    assert by_name["do_not_call"] == {"field": "do_not_call"}
    assert by_name["do_not_contact"] == {"field": "do_not_contact"}
    assert by_name["tag_list"] == {"field": "tags"}
    validate(mapping, len(header))


def test_action_network_export():
    header = [
        "first_name",
        "last_name",
        "email",
        "can2_phone",
        "zip_code",
        "can2_state_abbreviated",
        "can2_user_city",
        "can2_user_address",
    ]
    mapping, by_name = suggested(header)

    assert by_name["can2_phone"] == phone(1, "unknown")
    assert by_name["zip_code"] == {"field": "postcode"}
    assert by_name["can2_state_abbreviated"] == {"field": "state"}
    assert by_name["can2_user_city"] == {"field": "city"}
    assert by_name["can2_user_address"] == {"field": "address1"}
    assert by_name["email"] == {"field": "email"}
    assert mapping["id_system"] == "other"  # no id column
    validate(mapping, len(header))


def test_north_carolina_voter_file():
    header = ["county_desc", "ncid", "last_name", "first_name", "zip_code", "full_phone_number"]
    mapping, by_name = suggested(header)

    assert mapping["id_system"] == "voterfile"
    assert by_name["ncid"] == {"field": "external_id"}
    assert by_name["full_phone_number"] == phone(1, "unknown")
    assert by_name["zip_code"] == {"field": "postcode"}
    assert by_name["county_desc"] == {"field": "custom", "name": "county_desc"}


@pytest.mark.parametrize(
    ("header", "system"),
    [("an_id", "actionnetwork"), ("myvoters_vanid", "van"), ("mycampaign_vanid", "van")],
)
def test_aliases_written_with_underscores_are_recognised(header, system):
    mapping, by_name = suggested([header, "phone"])
    assert by_name[header] == {"field": "external_id"}
    assert mapping["id_system"] == system


def test_unknown_headers_become_custom_fields_named_after_the_header():
    header = ["Phone", "  Precinct ", "Favourite colour", ""]
    _, by_name = suggested(header)
    assert by_name["  Precinct "] == {"field": "custom", "name": "Precinct"}
    assert by_name["Favourite colour"] == {"field": "custom", "name": "Favourite colour"}
    assert by_name[""] == {"field": "custom", "name": "Column 4"}


def test_header_words_guess_email_and_phone_columns():
    _, by_name = suggested(["Supporter Email Address 2", "Grandma's home phone", "Pager phone"])
    assert by_name["Supporter Email Address 2"] == {"field": "email"}
    assert by_name["Grandma's home phone"] == phone(1, "home")
    assert by_name["Pager phone"] == phone(2, "unknown")


# --- suggestions from values (no header) ---------------------------------------------------


def test_florida_file_without_header_is_mapped_by_content():
    # Florida's voter extract: no header row, the phone split into area code and number.
    sample = [
        ["100234567", "Lee", "Ann", "305", "5550101", "FL", "33101", "ann@example.org"],
        ["100234568", "Ray", "Bob", "786", "555-0102", "FL", "33130-1234", ""],
        ["100234569", "Oh", "Cy", "954", "5550103", "FL", "33301", "cy@example.org"],
        ["100234570", "Fox", "Di", "", "", "FL", "33302", ""],
    ]
    mapping = suggest(None, sample, 8)
    columns = mapping["columns"]

    assert columns[3] == {"field": "phone_area_code", "slot": 1}
    assert columns[4] == phone(1, "unknown")
    assert columns[5] == {"field": "state"}
    assert columns[6] == {"field": "postcode"}
    assert columns[7] == {"field": "email"}
    assert columns[1] == {"field": "custom", "name": "Column 2"}
    validate(mapping, 8)


def test_whole_phone_numbers_without_header_get_a_slot_each():
    sample = [["Ann", "(202) 555-0101", "312-555-0101"], ["Bob", "202.555.0102", "3125550102"]]
    columns = suggest(None, sample, 3)["columns"]
    assert columns[1] == phone(1)
    assert columns[2] == phone(2)


# --- validate ------------------------------------------------------------------------------


def good() -> dict:
    return {
        "columns": [
            {"field": "external_id"},
            {"field": "first_name"},
            phone(1, "home"),
            {"field": "phone_is_cell", "slot": 1},
            {"field": "custom", "name": "Party"},
        ],
        "region": "us",
        "id_system": "VAN",
    }


def test_validate_cleans_a_good_mapping():
    clean = validate(good(), 5)
    assert clean["region"] == "US"
    assert clean["id_system"] == "van"
    assert clean["columns"][2] == phone(1, "home")


def test_validate_refuses_a_mapping_without_a_phone_column():
    mapping = good()
    mapping["columns"][2] = {"field": "ignore"}
    mapping["columns"][3] = {"field": "ignore"}
    with pytest.raises(MappingError, match="Phone"):
        validate(mapping, 5)


@pytest.mark.parametrize("field", ["first_name", "email", "postcode", "external_id"])
def test_validate_refuses_the_same_single_field_twice(field):
    mapping = good()
    mapping["columns"][0] = {"field": field}
    mapping["columns"][4] = {"field": field}
    label = next(f.label for f in FIELDS if f.key == field)
    with pytest.raises(MappingError, match=f"Only one column can be “{label}”"):
        validate(mapping, 5)


def test_validate_refuses_a_slot_without_a_phone():
    mapping = good()
    mapping["columns"][3] = {"field": "phone_is_cell", "slot": 2}
    with pytest.raises(MappingError, match="phone slot 2, which has no phone number"):
        validate(mapping, 5)


def test_validate_refuses_two_phones_in_one_slot():
    mapping = good()
    mapping["columns"][3] = phone(1, "mobile")
    with pytest.raises(MappingError, match="share a slot"):
        validate(mapping, 5)


def test_validate_refuses_duplicate_custom_names_whatever_their_case():
    mapping = good()
    mapping["columns"][0] = {"field": "custom", "name": "party "}
    with pytest.raises(MappingError, match="same name"):
        validate(mapping, 5)


@pytest.mark.parametrize("region", ["XX", "USA", "UK"])
def test_validate_refuses_an_unknown_region(region):
    mapping = good()
    mapping["region"] = region
    with pytest.raises(MappingError, match="country code"):
        validate(mapping, 5)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda m: m.update(columns=m["columns"][:4]), "4 columns; the file has 5"),
        (lambda m: m["columns"].__setitem__(0, {"field": "shoe_size"}), "Column 1"),
        (lambda m: m["columns"].__setitem__(4, {"field": "custom", "name": " "}), "name"),
        (lambda m: m["columns"].__setitem__(2, phone(10)), "slot must be 1–9"),
        (lambda m: m["columns"].__setitem__(2, phone(1, "fax")), "phone type"),
        (lambda m: m.update(id_system="van id!"), "letters, digits"),
        (lambda m: m.pop("columns"), "missing"),
    ],
)
def test_validate_names_other_problems(change, message):
    mapping = good()
    change(mapping)
    with pytest.raises(MappingError, match=message):
        validate(mapping, 5)


# --- header signatures ---------------------------------------------------------------------


def test_header_signature_ignores_case_spacing_and_punctuation():
    a = header_signature(["VanID", "First Name", "Home Phone"], 3)
    assert a == header_signature(["vanid", " first_name ", "HOME-PHONE"], 3)
    assert a != header_signature(["VanID", "First Name", "Cell Phone"], 3)
    assert a != header_signature(["First Name", "VanID", "Home Phone"], 3)


def test_header_signature_without_header_is_by_width():
    assert header_signature(None, 5) == header_signature([], 5)
    assert header_signature(None, 5) != header_signature(None, 6)
