"""The area-code table agrees with phonenumbers' geocoding data for every US area code."""

import phonenumbers
from phonenumbers import geocoder

from phonebank.supporters.area_codes import AREA_CODE_STATES
from phonebank.supporters.zones import US_STATE_NAMES, US_STATES


def test_the_table_is_phonenumbers_own():
    expected = {}
    for npa in range(200, 1000):
        number = phonenumbers.parse(f"+1{npa}5550100")
        if phonenumbers.region_code_for_number(number) != "US":
            continue
        place = geocoder.description_for_number(number, "en")
        _, _, code = place.rpartition(", ")
        state = code if code in US_STATES else US_STATE_NAMES.get(place, "")
        if state:
            expected[str(npa)] = state
    assert AREA_CODE_STATES == expected
