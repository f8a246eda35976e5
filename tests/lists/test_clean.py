"""Cleaning rows: phones to E.164 (the North American fast path checked against phonenumbers),
time zones, address zones, zone keys, and whole rows to records or rejects."""

from __future__ import annotations

import random

import phonenumbers
import pytest
from phonenumbers import timezone as pn_timezone

from phonebank.lists.clean import PhoneCleaner, RowCleaner
from phonebank.lists.mapping import validate
from phonebank.supporters.zones import address_zones, number_zones


def full_parser(text: str, region: str = "US") -> str:
    """What phonenumbers itself makes of a cell: E.164 when valid, else ""."""
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return ""
    if not phonenumbers.is_valid_number(parsed):
        return ""
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def formats(digits: str) -> list[str]:
    a, b, c = digits[:3], digits[3:6], digits[6:]
    return [
        digits,
        f"({a}) {b}-{c}",
        f"{a}-{b}-{c}",
        f"{a}.{b}.{c}",
        f"+1 {a} {b} {c}",
        f"1-{a}-{b}-{c}",
        f"1{digits}",
        f" +1({a}){b}{c} ",
    ]


def random_numbers(rng: random.Random, count: int) -> list[str]:
    """Ten-digit strings: half anything at all, half shaped like NANP numbers (NXX-NXX-XXXX),
    so both valid and invalid numbers are well represented."""
    out = []
    for i in range(count):
        if i % 2:
            out.append(f"{rng.randrange(10**10):010d}")
        else:
            out.append(
                f"{rng.randint(2, 9)}{rng.randrange(100):02d}"
                f"{rng.randint(2, 9)}{rng.randrange(100):02d}{rng.randrange(10**4):04d}"
            )
    return out


# --- the fast path against phonenumbers ------------------------------------------------------


def test_fast_path_agrees_with_phonenumbers_on_random_numbers():
    rng = random.Random(20240601)
    cleaner = PhoneCleaner("US")
    disagreements, valid = [], 0
    for index, digits in enumerate(random_numbers(rng, 20_000)):
        # Every number in its plain form, and one other format in turn.
        for text in {digits, formats(digits)[1 + index % 7]}:
            number, reason = cleaner.clean(text)
            expected = full_parser(text)
            if number != expected or bool(reason) == bool(number):
                disagreements.append((text, number, reason, expected))
            valid += bool(number)
    assert not disagreements[:20], f"{len(disagreements)} disagreements"
    assert valid > 10_000  # the sample really exercised valid numbers


def test_fast_path_agrees_in_every_format_on_a_few_numbers():
    rng = random.Random(7)
    cleaner = PhoneCleaner("US")
    for digits in random_numbers(rng, 500):
        for text in formats(digits):
            assert cleaner.clean(text)[0] == full_parser(text), text


def test_a_gb_cleaner_still_takes_north_american_numbers_with_plus_one():
    cleaner = PhoneCleaner("GB")
    assert cleaner.clean("+1 (202) 555-0101") == ("+12025550101", "")
    assert cleaner.clean("+1 555 768 3292") == ("", "not a valid number")


@pytest.mark.parametrize(
    "text",
    [
        "011 44 20 7946 0000",  # the US international prefix, then a London number
        "011 33 1 23 45 67 89",  # ... then a Paris number
    ],
)
def test_international_prefix_011_from_a_us_list(text):
    expected = full_parser(text)
    assert expected  # phonenumbers reads it
    assert PhoneCleaner("US").clean(text) == (expected, "")


def test_time_zones_from_the_cache_match_phonenumbers():
    """The cache is keyed by area code and exchange: numbers sharing them must share zones."""
    rng = random.Random(99)
    cleaner = PhoneCleaner("US")
    checked = 0
    for _ in range(800):
        prefix = f"{rng.randint(2, 9)}{rng.randrange(100):02d}{rng.randint(2, 9)}"
        prefix += f"{rng.randrange(100):02d}"
        for _ in range(5):
            number, _ = cleaner.clean(prefix + f"{rng.randrange(10**4):04d}")
            if not number:
                continue
            assert cleaner.zones(number) == " ".join(number_zones(number)), number
            # Never fewer zones than phonenumbers gives for a place (more where it only knows
            # the area code's default); none only for numbers not tied to a place.
            found = pn_timezone.time_zones_for_number(phonenumbers.parse(number))
            known = {z for z in found if z != "Etc/Unknown"}
            if len(known) <= 6:  # more: phonenumbers knows only "North America"
                assert known <= set(cleaner.zones(number).split()) or not cleaner.zones(number)
            checked += 1
    assert checked > 2000
    gb = PhoneCleaner("GB")
    assert gb.zones("+441314960000") == "Europe/London"
    assert cleaner.zones("+13125550101") == "America/Chicago"


# --- spreadsheets, split columns, other countries ------------------------------------------


@pytest.mark.parametrize(
    ("text", "area", "country", "region", "expected"),
    [
        ("2125550123.0", "", "", "US", "+12125550123"),  # a number column saved as float
        ("2.125550123E9", "", "", "US", "+12125550123"),  # ... and shown in scientific form
        ("2.125550123e+09", "", "", "US", "+12125550123"),
        ("12125550123.0", "", "", "US", "+12125550123"),
        ("555-0123", "212", "", "US", "+12125550123"),  # area code in its own column
        ("5550123", " 212 ", "", "US", "+12125550123"),
        ("7911 123456", "", "+44", "US", "+447911123456"),  # country-code column
        ("20 7946 0000", "", "0044", "US", "+442079460000"),
        ("2125550123", "", "1", "GB", "+12125550123"),
        ("0131 496 0000", "", "", "GB", "+441314960000"),
        ("+44 (0)131 496 0000", "", "", "GB", "+441314960000"),
        ("+44 (0)131 496 0000", "", "", "US", "+441314960000"),
        ("1314960000", "", "", "GB", "+441314960000"),  # the leading zero lost in a sheet
        ("1314960000.0", "", "", "GB", "+441314960000"),
        ("612345678", "", "", "IT", "+390612345678"),  # Rome: the zero is part of it
        ("06 1234 5678", "", "", "IT", "+390612345678"),
    ],
)
def test_numbers_from_spreadsheets_and_split_columns(text, area, country, region, expected):
    assert PhoneCleaner(region).clean(text, area, country) == (expected, "")


@pytest.mark.parametrize(
    ("text", "region", "reason"),
    [
        ("555-0123", "US", "too few digits"),
        ("12345", "US", "too few digits"),
        ("212-555-01234", "US", "too many digits"),
        ("call me", "US", "not a phone number"),
        ("n/a", "US", "not a phone number"),
        ("555-768-3292", "US", "not a valid number"),  # 555 is no area code
        ("111-555-0123", "US", "not a valid number"),
        ("+1 555 768 3292", "US", "not a valid number"),
        ("+1 202 555", "GB", "too few digits"),
        ("+44 131", "US", "too few digits"),
        ("0131 496 00000 00", "GB", "too many digits"),
    ],
)
def test_reasons_for_unusable_numbers(text, region, reason):
    assert PhoneCleaner(region).clean(text) == ("", reason)


def test_an_empty_cell_is_neither_a_number_nor_a_problem():
    assert PhoneCleaner("US").clean("   ") == ("", "")


# --- address zones and zone keys -----------------------------------------------------------


def test_zip_code_in_a_state_split_between_zones():
    assert address_zones("TN", "37201", "") == ("America/Chicago",)  # Nashville
    assert address_zones("TN", "37902-1234", "US") == ("America/New_York",)  # Knoxville
    assert address_zones("TN", "", "US") == ("America/Chicago", "America/New_York")
    assert address_zones(" tn ", "", "") == ("America/Chicago", "America/New_York")
    assert address_zones("NY", "", "US") == ("America/New_York",)


def test_address_zones_outside_the_us_are_unknown():
    assert address_zones("ON", "M5V 2T6", "CA") == ()
    assert address_zones("", "EH1 1YZ", "GB") == ()
    assert address_zones("", "", "") == ()


# --- whole rows ----------------------------------------------------------------------------

HEADER = [
    "VanID",
    "FirstName",
    "LastName",
    "HomePhone",
    "CellPhone",
    "IsHomePhoneACellExchange",
    "DoNotCall",
    "Email",
    "State",
    "Zip",
    "Tags",
    "Party",
    "Ward",
]


def row_cleaner(region: str = "US") -> RowCleaner:
    columns = [
        {"field": "external_id"},
        {"field": "first_name"},
        {"field": "last_name"},
        {"field": "phone", "slot": 1, "type": "home"},
        {"field": "phone", "slot": 2, "type": "mobile"},
        {"field": "phone_is_cell", "slot": 1},
        {"field": "do_not_call"},
        {"field": "email"},
        {"field": "state"},
        {"field": "postcode"},
        {"field": "tags"},
        {"field": "custom", "name": "Party"},
        {"field": "custom", "name": "Ward"},
    ]
    mapping = validate({"columns": columns, "region": region, "id_system": "van"}, len(columns))
    return RowCleaner(mapping, HEADER)


def cells(**values) -> list[str]:
    return [str(values.get(name, "")) for name in HEADER]


def test_a_row_with_only_bad_phones_is_rejected_naming_each_column():
    cleaner = row_cleaner()
    record, reason = cleaner.clean(7, cells(VanID="1", HomePhone="555-0123", CellPhone="nope"))
    assert record is None
    assert reason.startswith("no usable phone number: ")
    assert "HomePhone “555-0123”: too few digits" in reason
    assert "CellPhone “nope”: not a phone number" in reason
    assert cleaner.counts.invalid == 2
    assert cleaner.counts.reasons == {"too few digits": 1, "not a phone number": 1}


def test_a_row_without_any_phone_is_rejected():
    assert row_cleaner().clean(2, cells(VanID="1", FirstName="Ann")) == (None, "no phone number")


def test_a_do_not_call_row_without_a_usable_phone_is_kept_when_it_names_someone():
    cleaner = row_cleaner()
    record, reason = cleaner.clean(3, cells(VanID="42", HomePhone="12", DoNotCall="Y"))
    assert reason == ""
    assert record.external_id == "42"
    assert record.do_not_call is True
    assert record.phones == []
    # Without an external id or email there is no one to flag.
    assert cleaner.clean(4, cells(HomePhone="12", DoNotCall="Y"))[0] is None


def test_is_cell_flag_makes_the_phone_mobile_and_bad_numbers_are_skipped():
    record, reason = row_cleaner().clean(
        5,
        cells(
            FirstName=" Ann ",
            LastName="Lee",
            HomePhone="(202) 555-0101",
            CellPhone="bad",
            IsHomePhoneACellExchange="1",
            Email="Ann.Lee@Example.ORG",
        ),
    )
    assert reason == ""
    assert record.phones == [("+12025550101", "mobile", "America/New_York")]
    assert (record.first_name, record.last_name) == ("Ann", "Lee")
    assert record.email == "ann.lee@example.org"


def test_the_same_number_twice_in_one_row_is_kept_once():
    record, _ = row_cleaner().clean(6, cells(HomePhone="202-555-0101", CellPhone="+1 202 555 0101"))
    assert record.phones == [("+12025550101", "home", "America/New_York")]


def test_tags_split_on_commas_semicolons_and_bars_and_custom_fields_are_kept():
    record, _ = row_cleaner().clean(
        8,
        cells(
            HomePhone="3125550101",
            Tags="volunteer, donor;  yard sign |  | phone bank",
            Party="D",
            Ward="",
        ),
    )
    assert record.tags == ["volunteer", "donor", "yard sign", "phone bank"]
    assert record.custom == [("Party", "D")]  # an empty cell is not stored


def test_address_zones_come_with_the_record():
    record, _ = row_cleaner().clean(9, cells(HomePhone="6155550101", State="TN", Zip="37201"))
    assert record.address == ("", "", "", "TN", "37201", "US")
    assert record.address_zones == ("America/Chicago",)


def test_a_full_name_column_is_split_at_the_last_space():
    columns = [{"field": "full_name"}, {"field": "phone", "slot": 1}]
    mapping = validate({"columns": columns}, 2)
    cleaner = RowCleaner(mapping, None)
    record, _ = cleaner.clean(2, ["Mary Ann Lee", "2025550101"])
    assert (record.first_name, record.last_name) == ("Mary Ann", "Lee")
    record, _ = cleaner.clean(3, ["Cher", "2025550102"])
    assert (record.first_name, record.last_name) == ("Cher", "")
