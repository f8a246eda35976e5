"""When a person may be called: the callee's local time, the law, the state and the campaign.

Pure functions, no database. A person's *zone key* is their candidate IANA zones and the US
states whose rules apply, ``"America/Chicago America/New_York|TN"`` (``campaigns/zones.py``
derives it); with several zones or states a time is allowed only if it is allowed in every one
of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# 47 CFR 64.1200(c)(1): no calls before 8 am or after 9 pm at the called party's location.
FEDERAL_START = 8 * 60
FEDERAL_END = 21 * 60


@dataclass(frozen=True)
class StateRule:
    """A stricter state window: (start, end) minutes per weekday (0 = Monday), None = no calls."""

    windows: tuple[tuple[int, int] | None, ...]
    max_calls_per_24h: int | None = None


def _week(weekday: tuple[int, int] | None, saturday=..., sunday=...) -> tuple:
    saturday = weekday if saturday is ... else saturday
    sunday = weekday if sunday is ... else sunday
    return (weekday,) * 5 + (saturday, sunday)


STATE_RULES: dict[str, StateRule] = {
    # Kentucky: 10 am to 9 pm.
    "KY": StateRule(_week((10 * 60, 21 * 60))),
    # Rhode Island: 9 am to 6 pm on weekdays, 10 am to 5 pm Saturday, no Sundays.
    "RI": StateRule(_week((9 * 60, 18 * 60), saturday=(10 * 60, 17 * 60), sunday=None)),
    # Alabama, Louisiana, Mississippi: no Sunday calls.
    "AL": StateRule(_week((8 * 60, 21 * 60), sunday=None)),
    "LA": StateRule(_week((8 * 60, 21 * 60), sunday=None)),
    "MS": StateRule(_week((8 * 60, 21 * 60), sunday=None)),
    # Florida and Oklahoma: 8 am to 8 pm, at most 3 calls in 24 hours.
    "FL": StateRule(_week((8 * 60, 20 * 60)), max_calls_per_24h=3),
    "OK": StateRule(_week((8 * 60, 20 * 60)), max_calls_per_24h=3),
}


@dataclass(frozen=True)
class CampaignWindow:
    """A campaign's own window: daily [start, end) plus per-weekday overrides."""

    start: int = FEDERAL_START
    end: int = FEDERAL_END
    weekdays: tuple[tuple[int, int] | None, ...] | None = None  # 7 entries when set

    @classmethod
    def from_campaign(cls, campaign) -> CampaignWindow:
        overrides = campaign.weekday_windows or {}
        weekdays = None
        if overrides:
            base = (campaign.window_start, campaign.window_end)
            days = []
            for day in range(7):
                if str(day) in overrides:
                    value = overrides[str(day)]
                    days.append(tuple(value) if value else None)
                else:
                    days.append(base)
            weekdays = tuple(days)
        return cls(campaign.window_start, campaign.window_end, weekdays)

    def for_weekday(self, weekday: int) -> tuple[int, int] | None:
        if self.weekdays is not None:
            return self.weekdays[weekday]
        return (self.start, self.end)


def parse_zone_key(key: str) -> tuple[list[str], str]:
    """(zones, states): the states space separated, e.g. ``"FL GA"`` ("" for none)."""
    zones, _, states = key.partition("|")
    return zones.split(), states.upper()


def make_zone_key(zones: list[str], states: str = "") -> str:
    return (
        " ".join(sorted(set(zones))) + "|" + " ".join(sorted(set((states or "").upper().split())))
    )


@lru_cache(maxsize=512)
def zone_info(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def window_for(local_weekday: int, states: str, campaign: CampaignWindow) -> tuple[int, int] | None:
    """The allowed [start, end) minutes on that local weekday, or None for no calls."""
    start, end = FEDERAL_START, FEDERAL_END
    for state in states.split():
        rule = STATE_RULES.get(state)
        if rule is None:
            continue
        day = rule.windows[local_weekday]
        if day is None:
            return None
        start, end = max(start, day[0]), min(end, day[1])
    own = campaign.for_weekday(local_weekday)
    if own is None:
        return None
    start, end = max(start, own[0]), min(end, own[1])
    return (start, end) if start < end else None


def allowed_at(now_utc: datetime, zone_key: str, campaign: CampaignWindow) -> bool:
    """Whether a call may be placed now to a person with this zone key.

    No known zone at all means no call: phonebank never guesses a callee's local time.
    """
    zones, state = parse_zone_key(zone_key)
    infos = [zone_info(z) for z in zones]
    if not infos or any(info is None for info in infos):
        return False
    for info in infos:
        local = now_utc.astimezone(info)
        window = window_for(local.weekday(), state, campaign)
        minute = local.hour * 60 + local.minute
        if window is None or not window[0] <= minute < window[1]:
            return False
    return True


def next_allowed_at(
    now_utc: datetime, zone_key: str, campaign: CampaignWindow, horizon_days: int = 8
) -> datetime | None:
    """The first moment from now when a call is allowed, or None within the horizon.

    Windows open at the start of some zone's local window, so those are the only candidates.
    """
    if allowed_at(now_utc, zone_key, campaign):
        return now_utc
    zones, state = parse_zone_key(zone_key)
    infos = [zone_info(z) for z in zones]
    if not infos or any(info is None for info in infos):
        return None
    candidates = set()
    for info in infos:
        today = now_utc.astimezone(info).date()
        for offset in range(horizon_days + 1):
            day = today + timedelta(days=offset)
            window = window_for(day.weekday(), state, campaign)
            if window is None:
                continue
            local = datetime(day.year, day.month, day.day, tzinfo=info) + timedelta(
                minutes=window[0]
            )
            candidate = local.astimezone(now_utc.tzinfo)
            if candidate > now_utc:
                candidates.add(candidate)
    for candidate in sorted(candidates):
        if allowed_at(candidate, zone_key, campaign):
            return candidate
    return None


def max_calls_per_24h(zone_key: str) -> int | None:
    """The strictest state limit on calls to this person in 24 hours (FL, OK), if any."""
    _, states = parse_zone_key(zone_key)
    limits = [
        rule.max_calls_per_24h
        for state in states.split()
        if (rule := STATE_RULES.get(state)) and rule.max_calls_per_24h is not None
    ]
    return min(limits) if limits else None
