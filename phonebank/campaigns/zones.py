"""Where a callee may be: the one derivation of a person's zone key, for list imports and for
people added to a campaign from the store alike.

A zone key (``campaigns/hours.py``) lists every IANA zone the person may be in and the US
states whose rules apply; a call is allowed only when it is allowed in all of them, so every
step here widens when in doubt and never narrows on a guess:

- **A US postal code** names one zone. **A state alone** names every zone the state spans,
  narrowed by the phones' zones only where their clocks agree (never by zone name: the
  ``America/North_Dakota/Center`` of a 605 number keeps Central time, as ``America/Chicago``
  does); where address and phones disagree altogether, both are kept.
- Numbers' zones come from ``supporters/zones.py`` (split area codes take every zone they span;
  toll-free and other non-geographic numbers none).
- **State rules** come from a US address; with no address, from the states of the person's US
  numbers (a Florida number alone gets Florida's rules).
- A person with no zone at all is never queued.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from functools import cache

from phonebank.campaigns.hours import make_zone_key, zone_info
from phonebank.supporters.zones import address_state, address_zones, number_state, outside_us

# --- clocks --------------------------------------------------------------------------------

_SAMPLE_START = datetime(2025, 1, 1, 12, tzinfo=UTC)
_SAMPLE_DAYS = 3 * 366


@cache
def clock_of(zone: str) -> tuple:
    """A zone's clock over three years: its UTC offset at the start and every change after
    (to the minute). Two zones whose clocks always agree have the same one, whatever their
    names."""
    info = zone_info(zone)
    if info is None:
        return ()

    def offset(moment: datetime) -> timedelta | None:
        return moment.astimezone(info).utcoffset()

    day, minute = timedelta(days=1), timedelta(minutes=1)
    changes: list = [offset(_SAMPLE_START)]
    before = changes[0]
    for n in range(1, _SAMPLE_DAYS):
        moment = _SAMPLE_START + day * n
        now = offset(moment)
        if now == before:
            continue
        low, high = moment - day, moment  # the change lies in (low, high]: bisect to a minute
        while high - low > minute:
            middle = low + (high - low) / 2
            low, high = (low, middle) if offset(middle) == now else (middle, high)
        changes.append((high.replace(second=0, microsecond=0), now))
        before = now
    return tuple(changes)


def narrow_by_clock(address: Iterable[str], phones: Iterable[str]) -> set[str]:
    """The address's zones that keep a clock one of the phones' zones keeps (and those
    phones' zones); both sets whole where no clock is common to them."""
    address, phones = set(address), set(phones)
    common = {clock_of(z) for z in address} & {clock_of(z) for z in phones}
    narrowed = {z for z in address | phones if clock_of(z) in common}
    return narrowed or address | phones


# --- the zone key --------------------------------------------------------------------------


def callee_zone_key(
    address: tuple[str, str, str, str] | None,
    numbers: Iterable[tuple[str, Iterable[str]]],
) -> str:
    """The zone key of a person from their primary address, as (stored time zone, region,
    postcode, country) or None, and their good phones as (E.164, stored zones)."""
    numbers = [(n, tuple(z)) for n, z in numbers]
    phone_zones = {zone for _, zones in numbers for zone in zones}
    if address is not None:
        time_zone, region, postcode, country = address
        place = {time_zone} if time_zone else set(address_zones(region, postcode, country))
    else:
        place = set()
    if len(place) == 1:
        zones = place
    elif place:
        zones = narrow_by_clock(place, phone_zones) if phone_zones else place
    else:
        zones = phone_zones
    if address is not None and (state := address_state(address[1], address[3])):
        states = {state}
    elif address is not None and outside_us(address[3]):
        states = set()  # a non-US address: no US state's rules, whatever the numbers
    else:
        states = {s for s in (number_state(n) for n, _ in numbers) if s}
    return make_zone_key(sorted(zones), " ".join(sorted(states)))


NO_TIME_ZONE = "no_time_zone"  # a target's done_reason: no knowable local time


def has_zone(key: str) -> bool:
    """Whether a zone key names any zone (a person without one is never queued)."""
    return bool(key.partition("|")[0].strip())
