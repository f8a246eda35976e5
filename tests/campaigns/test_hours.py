"""Calling windows (pure, no database): federal hours in the callee's local time, the stricter
state rules, the campaign's own window and weekday overrides, ambiguous and unknown zones, and
``next_allowed_at``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from phonebank.campaigns.hours import (
    STATE_RULES,
    CampaignWindow,
    allowed_at,
    make_zone_key,
    max_calls_per_24h,
    next_allowed_at,
    parse_zone_key,
    window_for,
)

ANY = CampaignWindow()  # the campaign default: 08:00-21:00, every day

# A week in June 2026, far from any DST change: Wednesday 10th ... Monday 15th.
WED, THU, FRI, SAT, SUN, MON = 10, 11, 12, 13, 14, 15

NEW_YORK = "America/New_York"
CHICAGO = "America/Chicago"
DENVER = "America/Denver"
LOS_ANGELES = "America/Los_Angeles"


def at(zone: str, day: int, hour: int, minute: int = 0, second: int = 0, *, month=6, year=2026):
    """That wall-clock moment in ``zone``, as the UTC instant the code is given."""
    return datetime(year, month, day, hour, minute, second, tzinfo=ZoneInfo(zone)).astimezone(UTC)


def utc(month: int, day: int, hour: int, minute: int = 0, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def key(zone: str, state: str = "") -> str:
    return make_zone_key([zone], state)


def hm(hour: int, minute: int = 0) -> int:
    return hour * 60 + minute


def campaign_window(start=(8, 0), end=(21, 0), weekdays=None) -> CampaignWindow:
    """A CampaignWindow built the way the queue builds it, from a campaign's columns."""
    row = SimpleNamespace(
        window_start=hm(*start), window_end=hm(*end), weekday_windows=weekdays or {}
    )
    return CampaignWindow.from_campaign(row)


# --- federal window ------------------------------------------------------------------------

ZONES = [
    NEW_YORK,
    CHICAGO,
    DENVER,
    "America/Phoenix",  # no DST
    LOS_ANGELES,
    "America/Anchorage",
    "Pacific/Honolulu",
    "Europe/London",
    "Asia/Kolkata",  # +05:30
    "Australia/Adelaide",  # +09:30 (+10:30 in its summer)
]


@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize(
    ("hour", "minute", "expected"),
    [
        (0, 0, False),
        (7, 59, False),
        (8, 0, True),
        (12, 0, True),
        (20, 59, True),
        (21, 0, False),
        (23, 59, False),
    ],
)
def test_federal_window_in_the_callees_local_time(zone, hour, minute, expected):
    assert allowed_at(at(zone, WED, hour, minute), key(zone), ANY) is expected


@pytest.mark.parametrize("zone", [NEW_YORK, "Asia/Kolkata"])
def test_federal_window_edges_to_the_second(zone):
    assert not allowed_at(at(zone, WED, 7, 59, 59), key(zone), ANY)
    assert allowed_at(at(zone, WED, 8, 0, 0), key(zone), ANY)
    assert allowed_at(at(zone, WED, 20, 59, 59), key(zone), ANY)
    assert not allowed_at(at(zone, WED, 21, 0, 0), key(zone), ANY)


@pytest.mark.parametrize("day", [WED, SAT, SUN])
def test_federal_window_applies_every_day_of_the_week(day):
    assert allowed_at(at(NEW_YORK, day, 8), key(NEW_YORK), ANY)
    assert not allowed_at(at(NEW_YORK, day, 7, 59), key(NEW_YORK), ANY)


def test_the_same_instant_is_allowed_in_one_zone_and_not_in_another():
    morning = utc(6, 10, 12, 30)  # 08:30 New York, 05:30 Los Angeles
    assert allowed_at(morning, key(NEW_YORK), ANY)
    assert not allowed_at(morning, key(LOS_ANGELES), ANY)
    evening = utc(6, 11, 1, 30)  # 21:30 New York, 18:30 Los Angeles
    assert not allowed_at(evening, key(NEW_YORK), ANY)
    assert allowed_at(evening, key(LOS_ANGELES), ANY)


def test_the_instant_may_be_expressed_in_any_zone():
    moment = at(NEW_YORK, WED, 8).astimezone(ZoneInfo("Asia/Tokyo"))
    assert allowed_at(moment, key(NEW_YORK), ANY)
    assert not allowed_at(moment - timedelta(minutes=1), key(NEW_YORK), ANY)


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        # Spring forward on Sunday 8 March 2026: New York goes from UTC-5 to UTC-4 at 02:00.
        (utc(3, 7, 12, 30), False),  # Saturday 07:30 EST
        (utc(3, 7, 13, 0), True),  # Saturday 08:00 EST
        (utc(3, 8, 2, 0), False),  # Saturday 21:00 EST
        (utc(3, 8, 11, 59), False),  # Sunday 07:59 EDT
        (utc(3, 8, 12, 0), True),  # Sunday 08:00 EDT (would be 07:00 without the change)
        (utc(3, 9, 0, 59), True),  # Sunday 20:59 EDT
        (utc(3, 9, 1, 0), False),  # Sunday 21:00 EDT (would be 20:00 without the change)
        # Fall back on Sunday 1 November 2026: UTC-4 to UTC-5 at 02:00.
        (utc(10, 31, 12, 0), True),  # Saturday 08:00 EDT
        (utc(11, 1, 12, 0), False),  # Sunday 07:00 EST (would be 08:00 without the change)
        (utc(11, 1, 12, 59), False),  # Sunday 07:59 EST
        (utc(11, 1, 13, 0), True),  # Sunday 08:00 EST
        (utc(11, 2, 1, 59), True),  # Sunday 20:59 EST
        (utc(11, 2, 2, 0), False),  # Sunday 21:00 EST
    ],
)
def test_dst_changes_in_new_york(moment, expected):
    assert allowed_at(moment, key(NEW_YORK), ANY) is expected


def test_dst_changes_in_london():
    # Sunday 29 March 2026: London goes from UTC+0 to UTC+1 at 01:00.
    assert not allowed_at(utc(3, 28, 7, 59), key("Europe/London"), ANY)  # Sat 07:59 GMT
    assert allowed_at(utc(3, 28, 8, 0), key("Europe/London"), ANY)  # Sat 08:00 GMT
    assert not allowed_at(utc(3, 29, 6, 59), key("Europe/London"), ANY)  # Sun 07:59 BST
    assert allowed_at(utc(3, 29, 7, 0), key("Europe/London"), ANY)  # Sun 08:00 BST
    assert not allowed_at(utc(3, 29, 20, 0), key("Europe/London"), ANY)  # Sun 21:00 BST


# --- state rules ---------------------------------------------------------------------------


def test_the_state_rules_on_record():
    assert set(STATE_RULES) == {"KY", "RI", "AL", "LA", "MS", "FL", "OK"}


@pytest.mark.parametrize("day", [WED, SAT, SUN])
def test_kentucky_from_ten_every_day(day):
    zone = key(NEW_YORK, "KY")
    assert not allowed_at(at(NEW_YORK, day, 8), zone, ANY)
    assert not allowed_at(at(NEW_YORK, day, 9, 59), zone, ANY)
    assert allowed_at(at(NEW_YORK, day, 10), zone, ANY)
    assert allowed_at(at(NEW_YORK, day, 20, 59), zone, ANY)
    assert not allowed_at(at(NEW_YORK, day, 21), zone, ANY)


def test_kentucky_in_central_time_uses_central_time():
    # Western Kentucky (Paducah, Bowling Green) is on Central time.
    zone = key(CHICAGO, "KY")
    assert not allowed_at(at(CHICAGO, WED, 9, 59), zone, ANY)
    assert allowed_at(at(CHICAGO, WED, 10), zone, ANY)
    assert not allowed_at(at(NEW_YORK, WED, 10, 30), zone, ANY)  # 09:30 in Paducah


@pytest.mark.parametrize("day", [WED, THU, FRI, MON])
def test_rhode_island_weekdays_nine_to_six(day):
    zone = key(NEW_YORK, "RI")
    assert not allowed_at(at(NEW_YORK, day, 8, 59), zone, ANY)
    assert allowed_at(at(NEW_YORK, day, 9), zone, ANY)
    assert allowed_at(at(NEW_YORK, day, 17, 59), zone, ANY)
    assert not allowed_at(at(NEW_YORK, day, 18), zone, ANY)
    assert not allowed_at(at(NEW_YORK, day, 20), zone, ANY)


def test_rhode_island_saturday_ten_to_five():
    zone = key(NEW_YORK, "RI")
    assert not allowed_at(at(NEW_YORK, SAT, 9), zone, ANY)
    assert not allowed_at(at(NEW_YORK, SAT, 9, 59), zone, ANY)
    assert allowed_at(at(NEW_YORK, SAT, 10), zone, ANY)
    assert allowed_at(at(NEW_YORK, SAT, 16, 59), zone, ANY)
    assert not allowed_at(at(NEW_YORK, SAT, 17), zone, ANY)


def test_rhode_island_never_on_sunday():
    zone = key(NEW_YORK, "RI")
    for hour in range(24):
        assert not allowed_at(at(NEW_YORK, SUN, hour), zone, ANY), hour
    assert window_for(6, "RI", ANY) is None


@pytest.mark.parametrize(("state", "zone"), [("AL", CHICAGO), ("LA", CHICAGO), ("MS", CHICAGO)])
def test_alabama_louisiana_mississippi_never_on_sunday(state, zone):
    zk = key(zone, state)
    for hour in range(24):
        assert not allowed_at(at(zone, SUN, hour), zk, ANY), hour
    for day in (SAT, MON):
        assert not allowed_at(at(zone, day, 7, 59), zk, ANY)
        assert allowed_at(at(zone, day, 8), zk, ANY)
        assert allowed_at(at(zone, day, 20, 59), zk, ANY)
        assert not allowed_at(at(zone, day, 21), zk, ANY)


def test_sunday_is_the_callees_sunday():
    # 23:30 UTC on Saturday is 18:30 Saturday in Alabama: allowed, though UTC says Saturday too;
    # 01:30 UTC on Monday is 20:30 Sunday in Alabama: refused, though UTC says Monday.
    zk = key(CHICAGO, "AL")
    assert allowed_at(utc(6, 13, 23, 30), zk, ANY)
    assert not allowed_at(utc(6, 15, 1, 30), zk, ANY)
    assert allowed_at(utc(6, 15, 13, 0), zk, ANY)  # Monday 08:00 CDT


@pytest.mark.parametrize(("state", "zone"), [("FL", NEW_YORK), ("FL", CHICAGO), ("OK", CHICAGO)])
@pytest.mark.parametrize("day", [WED, SUN])
def test_florida_and_oklahoma_eight_to_eight(state, zone, day):
    zk = key(zone, state)
    assert not allowed_at(at(zone, day, 7, 59), zk, ANY)
    assert allowed_at(at(zone, day, 8), zk, ANY)
    assert allowed_at(at(zone, day, 19, 59), zk, ANY)
    assert not allowed_at(at(zone, day, 20), zk, ANY)
    assert not allowed_at(at(zone, day, 20, 59), zk, ANY)


def test_three_calls_in_24_hours_only_in_florida_and_oklahoma():
    assert max_calls_per_24h(key(NEW_YORK, "FL")) == 3
    assert max_calls_per_24h(key(CHICAGO, "OK")) == 3
    assert max_calls_per_24h("America/Chicago|ok") == 3  # state case does not matter
    for state in ("", "NY", "KY", "RI", "AL", "TX"):
        assert max_calls_per_24h(key(CHICAGO, state)) is None


@pytest.mark.parametrize("state", ["", "NY", "TX", "CA", "ZZ"])
def test_other_states_get_the_federal_window(state):
    zk = key(LOS_ANGELES, state)
    for day in (WED, SUN):
        assert not allowed_at(at(LOS_ANGELES, day, 7, 59), zk, ANY)
        assert allowed_at(at(LOS_ANGELES, day, 8), zk, ANY)
        assert allowed_at(at(LOS_ANGELES, day, 20, 59), zk, ANY)
        assert not allowed_at(at(LOS_ANGELES, day, 21), zk, ANY)


def test_state_in_the_key_is_case_insensitive():
    assert parse_zone_key("America/New_York|ri") == (["America/New_York"], "RI")
    assert not allowed_at(at(NEW_YORK, SUN, 12), "America/New_York|ri", ANY)
    assert make_zone_key([NEW_YORK], "ri") == "America/New_York|RI"


# --- the campaign's window -----------------------------------------------------------------


def test_campaign_window_narrows_the_day():
    window = campaign_window(start=(10, 0), end=(18, 0))
    zk = key(NEW_YORK)
    assert not allowed_at(at(NEW_YORK, WED, 9, 59), zk, window)
    assert allowed_at(at(NEW_YORK, WED, 10), zk, window)
    assert allowed_at(at(NEW_YORK, WED, 17, 59), zk, window)
    assert not allowed_at(at(NEW_YORK, WED, 18), zk, window)


def test_campaign_window_never_widens_the_law():
    window = campaign_window(start=(6, 0), end=(23, 30))
    zk = key(NEW_YORK)
    assert not allowed_at(at(NEW_YORK, WED, 7, 30), zk, window)
    assert not allowed_at(at(NEW_YORK, WED, 21, 30), zk, window)
    assert window_for(2, "", window) == (hm(8), hm(21))
    assert window_for(2, "KY", window) == (hm(10), hm(21))
    assert window_for(2, "FL", window) == (hm(8), hm(20))


def test_campaign_window_and_state_rule_intersect():
    assert window_for(2, "KY", campaign_window((9, 0), (12, 0))) == (hm(10), hm(12))
    assert window_for(2, "RI", campaign_window((17, 0), (20, 0))) == (hm(17), hm(18))
    assert window_for(5, "RI", campaign_window((17, 0), (20, 0))) is None  # Sat ends at 17:00
    assert window_for(2, "FL", campaign_window((20, 0), (21, 0))) is None
    assert window_for(2, "FL", campaign_window((19, 50), (21, 0))) == (hm(19, 50), hm(20))


def test_weekday_override_no_calls_on_sunday():
    window = campaign_window(weekdays={"6": None})
    zk = key(NEW_YORK)
    for hour in range(24):
        assert not allowed_at(at(NEW_YORK, SUN, hour), zk, window), hour
    assert allowed_at(at(NEW_YORK, SAT, 12), zk, window)
    assert allowed_at(at(NEW_YORK, MON, 8), zk, window)


def test_weekday_override_replaces_that_days_window_only():
    window = campaign_window(start=(17, 0), end=(21, 0), weekdays={"5": [600, 840]})
    zk = key(NEW_YORK)
    # Saturday: 10:00-14:00 instead of the evening.
    assert not allowed_at(at(NEW_YORK, SAT, 9, 59), zk, window)
    assert allowed_at(at(NEW_YORK, SAT, 10), zk, window)
    assert allowed_at(at(NEW_YORK, SAT, 13, 59), zk, window)
    assert not allowed_at(at(NEW_YORK, SAT, 14), zk, window)
    assert not allowed_at(at(NEW_YORK, SAT, 18), zk, window)
    # Other days keep the campaign's own window.
    assert not allowed_at(at(NEW_YORK, WED, 12), zk, window)
    assert allowed_at(at(NEW_YORK, WED, 17), zk, window)
    assert allowed_at(at(NEW_YORK, SUN, 20, 59), zk, window)


def test_weekday_override_is_still_bounded_by_law_and_state():
    window = campaign_window(weekdays={"0": [360, 1380], "6": [600, 1200]})
    assert window_for(0, "", window) == (hm(8), hm(21))
    assert window_for(0, "RI", window) == (hm(9), hm(18))
    assert window_for(6, "RI", window) is None  # the state says no Sunday calls
    assert window_for(6, "AL", window) is None


def test_from_campaign_without_overrides_uses_the_daily_window():
    window = campaign_window(start=(9, 30), end=(19, 0))
    assert window.weekdays is None
    assert [window.for_weekday(d) for d in range(7)] == [(570, 1140)] * 7


def test_from_campaign_with_overrides_lists_every_day():
    window = campaign_window(start=(9, 0), end=(20, 0), weekdays={"6": None, "2": [600, 660]})
    assert window.weekdays == (
        (540, 1200),
        (540, 1200),
        (600, 660),
        (540, 1200),
        (540, 1200),
        (540, 1200),
        None,
    )


# --- zones ---------------------------------------------------------------------------------


def test_zone_key_round_trip():
    zk = make_zone_key([NEW_YORK, CHICAGO, NEW_YORK], "tn")
    assert zk == "America/Chicago America/New_York|TN"
    assert parse_zone_key(zk) == ([CHICAGO, NEW_YORK], "TN")
    assert parse_zone_key("America/Chicago") == ([CHICAGO], "")


def test_ambiguous_zone_allowed_only_when_allowed_in_every_candidate():
    zk = "America/New_York America/Chicago|TN"
    # The morning: Central time opens an hour after Eastern.
    assert not allowed_at(at(NEW_YORK, WED, 8, 30), zk, ANY)  # 07:30 Central
    assert not allowed_at(at(NEW_YORK, WED, 8, 59), zk, ANY)
    assert allowed_at(at(NEW_YORK, WED, 9), zk, ANY)  # 08:00 Central
    # The evening: Eastern closes an hour before Central.
    assert allowed_at(at(NEW_YORK, WED, 20, 59), zk, ANY)
    assert not allowed_at(at(NEW_YORK, WED, 21), zk, ANY)  # 20:00 Central, 21:00 Eastern


def test_ambiguous_zone_with_a_state_rule():
    zk = make_zone_key([DENVER, CHICAGO], "OK")  # 8-20 in both
    assert not allowed_at(at(CHICAGO, WED, 8, 30), zk, ANY)  # 07:30 Mountain
    assert allowed_at(at(CHICAGO, WED, 9), zk, ANY)
    assert allowed_at(at(CHICAGO, WED, 19, 59), zk, ANY)
    assert not allowed_at(at(CHICAGO, WED, 20), zk, ANY)


def test_ambiguous_zone_across_sunday_midnight():
    # A Sunday-free state where one candidate zone is already on Sunday is refused.
    zk = make_zone_key(["Pacific/Honolulu", "Pacific/Kiritimati"], "")  # UTC-10 and UTC+14
    moment = at("Pacific/Honolulu", SAT, 12)  # Sunday 12:00 in Kiritimati, Saturday in Honolulu
    assert allowed_at(moment, zk, ANY)
    assert not allowed_at(moment, zk, campaign_window(weekdays={"6": None}))


@pytest.mark.parametrize(
    "zone_key",
    [
        "",
        "|",
        "|NY",
        "   |NY",
        "Not/A_Zone|",
        "America/New_York Not/A_Zone|NY",
        "Etc/Unknown|",
        "America/New_York/..|",
    ],
)
def test_unknown_or_empty_zone_is_never_allowed(zone_key):
    for hour in range(0, 24, 3):
        assert not allowed_at(utc(6, 10, hour), zone_key, ANY)
    assert next_allowed_at(utc(6, 10, 12), zone_key, ANY) is None


# --- next_allowed_at -----------------------------------------------------------------------


def test_next_allowed_at_is_now_when_allowed_now():
    now = at(NEW_YORK, WED, 12, 34, 56)
    assert next_allowed_at(now, key(NEW_YORK), ANY) == now


def test_next_allowed_at_kentucky_half_past_nine_is_ten():
    now = at(NEW_YORK, WED, 9, 30)
    assert next_allowed_at(now, key(NEW_YORK, "KY"), ANY) == at(NEW_YORK, WED, 10)


def test_next_allowed_at_rhode_island_sunday_is_monday_nine():
    now = at(NEW_YORK, SUN, 12)
    assert next_allowed_at(now, key(NEW_YORK, "RI"), ANY) == at(NEW_YORK, MON, 9)


def test_next_allowed_at_rhode_island_saturday_evening_is_monday_nine():
    now = at(NEW_YORK, SAT, 17, 0)
    assert next_allowed_at(now, key(NEW_YORK, "RI"), ANY) == at(NEW_YORK, MON, 9)


def test_next_allowed_at_rhode_island_friday_evening_is_saturday_ten():
    now = at(NEW_YORK, FRI, 18, 0)
    assert next_allowed_at(now, key(NEW_YORK, "RI"), ANY) == at(NEW_YORK, SAT, 10)


def test_next_allowed_at_after_nine_pm_is_eight_next_morning():
    now = at(NEW_YORK, WED, 21, 0)
    assert next_allowed_at(now, key(NEW_YORK), ANY) == at(NEW_YORK, THU, 8)
    now = at(NEW_YORK, WED, 23, 59, 59)
    assert next_allowed_at(now, key(NEW_YORK), ANY) == at(NEW_YORK, THU, 8)


def test_next_allowed_at_seconds_before_the_window():
    now = at(NEW_YORK, WED, 7, 59, 30)
    assert next_allowed_at(now, key(NEW_YORK), ANY) == at(NEW_YORK, WED, 8)


def test_next_allowed_at_alabama_saturday_night_is_monday_eight():
    now = at(CHICAGO, SAT, 21, 30)
    assert next_allowed_at(now, key(CHICAGO, "AL"), ANY) == at(CHICAGO, MON, 8)


def test_next_allowed_at_ambiguous_zone_waits_for_the_later_zone():
    now = at(NEW_YORK, WED, 7, 0)
    zk = make_zone_key([NEW_YORK, CHICAGO], "")
    assert next_allowed_at(now, zk, ANY) == at(CHICAGO, WED, 8)


def test_next_allowed_at_odd_minute_campaign_window():
    now = at(NEW_YORK, WED, 6, 0)
    window = campaign_window(start=(10, 7), end=(12, 0))
    assert next_allowed_at(now, key(NEW_YORK), window) == at(NEW_YORK, WED, 10, 7)


def test_next_allowed_at_half_hour_zone():
    now = at("Asia/Kolkata", WED, 3, 10)
    assert next_allowed_at(now, key("Asia/Kolkata"), ANY) == at("Asia/Kolkata", WED, 8)


def test_next_allowed_at_across_spring_forward():
    now = utc(3, 8, 6, 0)  # Sunday 01:00 EST; 08:00 that day is EDT
    assert next_allowed_at(now, key(NEW_YORK), ANY) == utc(3, 8, 12, 0)


def test_next_allowed_at_across_fall_back():
    now = utc(11, 1, 5, 0)  # Sunday 01:00 EDT; 08:00 that day is EST
    assert next_allowed_at(now, key(NEW_YORK), ANY) == utc(11, 1, 13, 0)


def test_next_allowed_at_skips_days_the_campaign_does_not_call():
    window = campaign_window(weekdays={"5": None, "6": None})
    now = at(NEW_YORK, FRI, 21, 0)
    assert next_allowed_at(now, key(NEW_YORK), window) == at(NEW_YORK, MON, 8)


def test_next_allowed_at_never_within_the_horizon():
    closed = campaign_window(weekdays={str(d): None for d in range(7)})
    assert next_allowed_at(at(NEW_YORK, WED, 12), key(NEW_YORK), closed) is None
    # Rhode Island on a campaign that calls only on Sundays.
    sundays = campaign_window(weekdays={str(d): None for d in range(6)})
    assert next_allowed_at(at(NEW_YORK, WED, 12), key(NEW_YORK, "RI"), sundays) is None


def test_next_allowed_at_finds_a_window_shorter_than_a_quarter_hour():
    # Florida stops at 20:00; a campaign calling from 19:50 leaves a ten-minute window.
    window = campaign_window(start=(19, 50), end=(21, 0))
    zk = key(NEW_YORK, "FL")
    for minute in (0, 3, 7, 11):
        now = at(NEW_YORK, WED, 19, minute)
        assert next_allowed_at(now, zk, window) == at(NEW_YORK, WED, 19, 50), minute


@pytest.mark.parametrize(
    ("zone_key", "window"),
    [
        (key(NEW_YORK), ANY),
        (key(NEW_YORK, "KY"), ANY),
        (key(NEW_YORK, "RI"), ANY),
        (key(CHICAGO, "AL"), ANY),
        (key(NEW_YORK, "FL"), campaign_window((9, 15), (19, 45), {"6": None})),
        (make_zone_key([NEW_YORK, CHICAGO, DENVER], "TN"), ANY),
        (key("Asia/Kolkata"), campaign_window((10, 10), (17, 20))),
    ],
)
def test_next_allowed_at_is_the_first_allowed_minute(zone_key, window):
    """Brute force over a week: next_allowed_at is allowed and the minute before it is not."""
    start = at(NEW_YORK, WED, 0, 0)
    for step in range(0, 7 * 24 * 60, 97):  # an awkward stride hits many phases
        now = start + timedelta(minutes=step)
        found = next_allowed_at(now, zone_key, window)
        assert found is not None
        assert found >= now
        assert allowed_at(found, zone_key, window)
        if found != now:
            assert found.second == 0 and found.microsecond == 0
            before = found - timedelta(minutes=1)
            assert before < now or not allowed_at(before, zone_key, window), (now, found)
