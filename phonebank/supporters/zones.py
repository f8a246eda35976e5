"""Where a person's numbers and addresses place them: zones and US states, for the store.

- **A North American number** takes phonenumbers' zones for its exchange; where phonenumbers
  knows only the area code's default and the area code spans several zones (270, 850, 423, ...),
  it takes all of them.
- A number whose zone cannot be known (international freephone, toll-free, premium rate, a
  span of more than ``MAX_ZONES`` zones) gives no zone.
- An address outside the US is never read as a US state; a number's state is its area code's.

``campaigns/zones.py`` turns these into the zone key the calling hours use.
"""

from __future__ import annotations

from functools import cache, lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import PhoneNumberType
from phonenumbers import timezone as pn_timezone

from phonebank.supporters.area_codes import AREA_CODE_STATES

MAX_ZONES = 6
NOT_GEOGRAPHIC = {
    PhoneNumberType.TOLL_FREE,
    PhoneNumberType.PREMIUM_RATE,
    PhoneNumberType.SHARED_COST,
    PhoneNumberType.UAN,
    PhoneNumberType.PERSONAL_NUMBER,
    PhoneNumberType.PAGER,
    PhoneNumberType.VOICEMAIL,
}
US_STATE_NAMES = {
    "Alabama": "AL", "Alaska": "AK", "Arizona": "AZ", "Arkansas": "AR", "California": "CA",
    "Colorado": "CO", "Connecticut": "CT", "Delaware": "DE", "District of Columbia": "DC",
    "Washington D.C.": "DC", "Washington DC": "DC", "Florida": "FL", "Georgia": "GA",
    "Hawaii": "HI", "Idaho": "ID", "Illinois": "IL", "Indiana": "IN", "Iowa": "IA",
    "Kansas": "KS", "Kentucky": "KY", "Louisiana": "LA", "Maine": "ME", "Maryland": "MD",
    "Massachusetts": "MA", "Michigan": "MI", "Minnesota": "MN", "Mississippi": "MS",
    "Missouri": "MO", "Montana": "MT", "Nebraska": "NE", "Nevada": "NV", "New Hampshire": "NH",
    "New Jersey": "NJ", "New Mexico": "NM", "New York": "NY", "North Carolina": "NC",
    "North Dakota": "ND", "Ohio": "OH", "Oklahoma": "OK", "Oregon": "OR", "Pennsylvania": "PA",
    "Rhode Island": "RI", "South Carolina": "SC", "South Dakota": "SD", "Tennessee": "TN",
    "Texas": "TX", "Utah": "UT", "Vermont": "VT", "Virginia": "VA", "Washington": "WA",
    "West Virginia": "WV", "Wisconsin": "WI", "Wyoming": "WY",
}  # fmt: skip
US_STATES = frozenset(US_STATE_NAMES.values())
TERRITORIES = frozenset({"PR", "GU", "VI", "AS", "MP"})  # their own zones, no state rules


# --- numbers -------------------------------------------------------------------------------


@cache
def _area_code_zones() -> dict[str, frozenset[str]]:
    """Every zone phonenumbers lists anywhere in each North American area code."""
    from phonenumbers.tzdata import TIMEZONE_DATA

    spans: dict[str, set[str]] = {}
    for prefix, zones in TIMEZONE_DATA.items():
        if prefix.startswith("1") and len(prefix) >= 4:
            spans.setdefault(prefix[1:4], set()).update(z for z in zones if z != "Etc/Unknown")
    return {npa: frozenset(zones) for npa, zones in spans.items()}


@lru_cache(maxsize=65536)
def _nanp_zones(first_digits: str) -> tuple[str, ...]:
    """Zones of a +1 number from its first six national digits (area code and exchange)."""
    from phonenumbers.tzdata import TIMEZONE_DATA

    digits = "1" + first_digits
    for length in range(len(digits), 4, -1):  # an exchange-level entry decides
        found = TIMEZONE_DATA.get(digits[:length])
        if found:
            return tuple(sorted(z for z in found if z != "Etc/Unknown"))
    return tuple(sorted(_area_code_zones().get(first_digits[:3], ())))


def number_zones(number: str) -> tuple[str, ...]:
    """Candidate IANA zones of an E.164 number; () when its zone cannot be known."""
    try:
        parsed = phonenumbers.parse(number)
    except phonenumbers.NumberParseException:
        return ()
    if phonenumbers.number_type(parsed) in NOT_GEOGRAPHIC:
        return ()
    if parsed.country_code == 1:
        zones = _nanp_zones(str(parsed.national_number)[:6])
    else:
        found = pn_timezone.time_zones_for_number(parsed)
        zones = tuple(sorted(z for z in found if z != "Etc/Unknown"))
    if len(zones) > MAX_ZONES or not all(known_zone(z) for z in zones):
        return ()
    return zones


def number_state(number: str) -> str:
    """The US state of a number's area code ("FL" for +1 305 ...), "" when none or unsure."""
    if not number.startswith("+1") or len(number) < 5:
        return ""
    return AREA_CODE_STATES.get(number[2:5], "")


@cache
def known_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def address_state(region: str, country: str) -> str:
    """The US state of an address, or "" (a region outside the US is never a US state)."""
    region, country = (region or "").strip().upper(), (country or "").strip().upper()
    return region if country in ("US", "") and region in US_STATES else ""


def outside_us(country: str) -> bool:
    return (country or "").strip().upper() not in ("US", "")


# --- addresses -----------------------------------------------------------------------------


@cache
def _us_zip_zones() -> tuple[dict[str, str], dict[str, tuple[str, ...]]]:
    """ZIP code -> zone and state -> zones, from the zipcodes package's data.

    Read state by state: asking for every ZIP code at once builds 42,000 dicts and costs a
    short-lived 150 MB, which a big import can't spare.
    """
    import zipcodes

    by_zip: dict[str, str] = {}
    by_state: dict[str, tuple[str, ...]] = {}
    for state in sorted(US_STATES | TERRITORIES):
        zones = set()
        for row in zipcodes.filter_by(state=state):
            zone = row.get("timezone") or ""
            if "/" in zone and known_zone(zone):
                by_zip[row["zip_code"]] = zone
                zones.add(zone)
        if zones:
            by_state[state] = tuple(sorted(zones))
    return by_zip, by_state


def address_zones(state: str, postcode: str, country: str) -> tuple[str, ...]:
    """Candidate zones from a US address: the ZIP code's zone, else the state's zones."""
    if country not in ("", "US"):
        return ()
    by_zip, by_state = _us_zip_zones()
    zip5 = postcode.strip()[:5]
    if len(zip5) == 5 and zip5 in by_zip:
        return (by_zip[zip5],)
    return by_state.get(state.strip().upper(), ())
