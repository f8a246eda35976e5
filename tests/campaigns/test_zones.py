"""Where a callee may be, and when that lets them be called: the zone key's derivation
(campaigns/zones.py, supporters/zones.py) at the edges of the law's windows and across DST."""

from datetime import UTC, datetime

import pytest

from phonebank.campaigns.hours import CampaignWindow, allowed_at, max_calls_per_24h
from phonebank.campaigns.zones import callee_zone_key, clock_of, has_zone, narrow_by_clock
from phonebank.supporters.zones import address_state, number_state, number_zones

ALWAYS = CampaignWindow()


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def key_for(address, *numbers: str) -> str:
    """A person's key with these stored numbers (their zones as the store computes them)."""
    return callee_zone_key(address, [(n, number_zones(n)) for n in numbers])


# --- numbers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "zones"),
    [
        # Split area codes: an exchange phonenumbers does not list takes every zone in the code.
        ("+12705550123", {"America/Chicago", "America/New_York"}),  # western/eastern Kentucky
        ("+18505550123", {"America/Chicago", "America/New_York"}),  # Florida panhandle
        ("+14235550123", {"America/Chicago", "America/New_York"}),  # east Tennessee
        ("+16055550123", {"America/Chicago", "America/Denver", "America/North_Dakota/Center"}),
        # A listed exchange decides.
        ("+12702020123", {"America/Chicago"}),
        ("+12125550123", {"America/New_York"}),
        ("+442079460000", {"Europe/London"}),
        # No place, no zone: toll-free, international freephone.
        ("+18005550123", set()),
        ("+80012345678", set()),
    ],
)
def test_number_zones(number, zones):
    assert set(number_zones(number)) == zones


@pytest.mark.parametrize(
    ("number", "state"),
    [
        ("+13055550123", "FL"),
        ("+14055550123", "OK"),
        ("+12125550123", "NY"),
        ("+12705550123", "KY"),
        ("+18005550123", ""),  # toll-free: no state
        ("+17875550123", ""),  # Puerto Rico is not a state
        ("+442079460000", ""),
    ],
)
def test_number_state(number, state):
    assert number_state(number) == state


def test_regions_outside_the_us_are_never_us_states():
    assert address_state("OK", "US") == "OK"
    assert address_state("ok", "") == "OK"
    assert address_state("OK", "GB") == ""
    assert address_state("CA", "CA") == ""  # Canada, not California
    assert address_state("Kent", "GB") == ""


# --- clocks, not names ---------------------------------------------------------------------


def test_zones_are_compared_by_their_clocks():
    assert clock_of("America/North_Dakota/Center") == clock_of("America/Chicago")
    assert clock_of("America/Indiana/Indianapolis") == clock_of("America/New_York")
    assert clock_of("America/Phoenix") != clock_of("America/Denver")  # no DST in Arizona
    # The names in common would be Denver alone; the clocks in common are Central and Mountain.
    narrowed = narrow_by_clock(
        {"America/Chicago", "America/Denver"}, {"America/Denver", "America/North_Dakota/Center"}
    )
    assert {clock_of(z) for z in narrowed} == {
        clock_of("America/Chicago"),
        clock_of("America/Denver"),
    }
    # Nothing in common: both sets are kept.
    assert narrow_by_clock({"America/Boise"}, {"America/New_York"}) == {
        "America/Boise",
        "America/New_York",
    }


# --- the zone key and the window -----------------------------------------------------------

# (what, address (time zone, region, postcode, country) or None, numbers, [(UTC time, allowed)])
CASES = [
    (
        "SD without a ZIP and a 605 number: Sioux Falls (Central) is possible",
        ("", "SD", "", "US"),
        ["+16055550123"],
        [("2026-06-10T02:30", False), ("2026-06-10T01:59", True), ("2026-06-09T14:00", True)],
    ),
    (
        "ID without a ZIP and a 212 number: Idaho's zones stay (05:30 PDT is refused)",
        ("", "ID", "", "US"),
        ["+12125550123"],
        [("2026-06-10T12:30", False), ("2026-06-10T15:00", True), ("2026-06-11T00:59", True)],
    ),
    (
        "a 270 number alone: western Kentucky is Central, and Kentucky's 10 am start applies",
        None,
        ["+12705550123"],
        # 10:00 EDT = 09:00 CDT: too early in the west; 11:00 CDT = 12:00 EDT fine.
        [("2026-06-10T14:00", False), ("2026-06-10T15:00", True), ("2026-06-11T01:00", False)],
    ),
    (
        "an 850 number alone: the panhandle is Central; Florida's 8 pm end",
        None,
        ["+18505550123"],
        # 19:59 EDT is 18:59 CDT: allowed; 20:00 EDT is Florida's end.
        [("2026-06-10T23:59", True), ("2026-06-11T00:00", False), ("2026-06-10T12:59", False)],
    ),
    (
        "a Florida number alone gets Florida's rules",
        None,
        ["+13055550123"],
        [("2026-06-10T23:59", True), ("2026-06-11T00:00", False)],
    ),
    (
        "a UK address is never a US state, whatever its region says",
        ("", "OK", "SW1A 1AA", "GB"),
        ["+442079460000"],
        [("2026-06-10T07:00", True), ("2026-06-10T06:59", False), ("2026-06-10T19:59", True)],
    ),
    (
        "a Louisville ZIP decides the zone; Kentucky's window",
        ("", "KY", "40202", "US"),
        ["+12705550123"],
        [("2026-06-10T13:59", False), ("2026-06-10T14:00", True), ("2026-06-11T00:59", True)],
    ),
    (
        "spring forward: Colorado moves to MDT on 8 March, Arizona stays on MST",
        None,
        ["+14805550123", "+19705550123"],
        [
            ("2026-03-07T14:59", False),
            ("2026-03-07T15:00", True),
            ("2026-03-08T03:00", True),  # 20:00 MST in both, the evening before
            ("2026-03-09T02:59", True),  # 20:59 MDT in Denver
            ("2026-03-09T03:00", False),  # 21:00 MDT in Denver, though 20:00 in Phoenix
        ],
    ),
    (
        "fall back in New York: 8 am is 12:00 UTC on 31 October, 13:00 UTC on 1 November",
        ("", "NY", "10001", "US"),
        ["+12125550123"],
        [
            ("2026-10-31T11:59", False),
            ("2026-10-31T12:00", True),
            ("2026-11-01T12:59", False),
            ("2026-11-01T13:00", True),
        ],
    ),
]


@pytest.mark.parametrize(("what", "address", "numbers", "times"), CASES, ids=[c[0] for c in CASES])
def test_window_edges(what, address, numbers, times):
    key = key_for(address, *numbers)
    assert has_zone(key), key
    for moment, allowed in times:
        assert allowed_at(at(moment), key, ALWAYS) is allowed, (what, key, moment)


def test_no_knowable_zone_means_no_zone():
    assert not has_zone(key_for(None, "+18005550123"))
    assert not has_zone(key_for(None))
    assert has_zone(key_for(("", "TN", "", "US")))  # the state's zones


def test_florida_and_oklahoma_limits_apply_from_the_number_or_the_address():
    assert max_calls_per_24h(key_for(None, "+13055550123")) == 3
    assert max_calls_per_24h(key_for(("", "NY", "10001", "US"), "+13055550123")) is None
    assert max_calls_per_24h(key_for(None, "+12125550123", "+14055550123")) == 3
