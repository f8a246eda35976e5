"""Cleaning one row of a list file: phones to E.164, time zones, flags, tags, custom fields.

Pure functions and small caches, no database. Phones go through ``phonenumbers``; numbers of
the North American plan (country code 1, by far the most common in US lists) take a fast path
that applies phonenumbers' own metadata patterns directly, so a million-row voter file does not
spend a minute in the parser. tests/lists/test_clean.py checks the fast path against the full
parser on random numbers.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache

import phonenumbers
from phonenumbers.phonenumberutil import COUNTRY_CODE_TO_REGION_CODE, PhoneMetadata

from phonebank.supporters.zones import address_zones, number_zones

TRUE_WORDS = frozenset("1 y yes true t x on dnc do not call".split()) | {"do not call"}
TAG_SPLIT = re.compile(r"\s*[,;|]\s*")
EMAIL = re.compile(r"[^@\s,;<>]+@[^@\s,;<>]+\.[A-Za-z]{2,}")
DIAL_CHARS = re.compile(r"[\s().\-/]")
SPREADSHEET_FLOAT = re.compile(r"([0-9]+)\.0*")
SCIENTIFIC = re.compile(r"[0-9](?:\.[0-9]+)?[eE]\+?[0-9]{1,2}")
NAME_LENGTH = 100
# A number whose callee's local time cannot be known could never be called inside the law's
# hours: it is refused at import rather than left waiting "outside hours" for ever.
NO_TIME_ZONE = "no time zone can be known for it (toll-free or not tied to a place)"


def is_true(value: str) -> bool:
    return value.strip().casefold() in TRUE_WORDS


# --- phones --------------------------------------------------------------------------------


@cache
def _nanp_pattern() -> re.Pattern[str]:
    """A national number valid in any North American region, per phonenumbers' metadata."""
    parts = []
    for region in COUNTRY_CODE_TO_REGION_CODE[1]:
        meta = PhoneMetadata.metadata_for_region(region)
        kinds = [
            desc.national_number_pattern
            for desc in (
                meta.fixed_line,
                meta.mobile,
                meta.toll_free,
                meta.premium_rate,
                meta.shared_cost,
                meta.personal_number,
                meta.voip,
                meta.pager,
                meta.uan,
                meta.voicemail,
            )
            if desc is not None and desc.national_number_pattern
        ]
        general = meta.general_desc.national_number_pattern
        parts.append(f"(?=(?:{general})$)(?:{'|'.join(kinds)})")
    return re.compile("(?:" + "|".join(f"(?:{p})" for p in parts) + ")")


@cache
def _whole_area_codes() -> frozenset[str]:
    """US and Canadian area codes whose numbers all share one zone list.

    That holds where phonenumbers' time zone data has one entry for the whole area code, the
    area code belongs to the US or Canada (whose mobile and fixed-line numbers share a pattern,
    so every valid number is geographic), and no other North American region claims it.
    """
    from phonenumbers.tzdata import TIMEZONE_DATA

    us, ca = PhoneMetadata.metadata_for_region("US"), PhoneMetadata.metadata_for_region("CA")
    if any(
        m.fixed_line.national_number_pattern != m.mobile.national_number_pattern for m in (us, ca)
    ):
        return frozenset()
    split = {k[1:4] for k in TIMEZONE_DATA if k.startswith("1") and len(k) > 4}
    others = [
        re.compile(meta.leading_digits)
        for region in COUNTRY_CODE_TO_REGION_CODE[1]
        if (meta := PhoneMetadata.metadata_for_region(region)).leading_digits
    ]
    return frozenset(
        k[1:4]
        for k in TIMEZONE_DATA
        if len(k) == 4
        and k.startswith("1")
        and k[1:4] not in split
        and not any(p.match(k[1:4]) for p in others)
    )


class PhoneCleaner:
    """Turns the raw text of a phone cell into E.164, or says why it can't."""

    def __init__(self, region: str = "US"):
        self.region = region.upper()
        self.country_code = phonenumbers.country_code_for_region(self.region)
        self.nanp = self.country_code == 1
        self._valid_nanp = _nanp_pattern().fullmatch
        self._zone_cache: dict[str, str] = {}

    def clean(self, raw: str, area_code: str = "", country_code: str = "") -> tuple[str, str]:
        """(E.164, "") for a usable number, ("", reason) otherwise; ("", "") for an empty cell."""
        text = raw.strip()
        if not text:
            return "", ""
        if SPREADSHEET_FLOAT.fullmatch(text):
            text = text.split(".", 1)[0]
        elif SCIENTIFIC.fullmatch(text):
            text = str(int(float(text)))
        area = area_code.strip()
        if area and not text.startswith("+"):
            text = area + " " + text
        prefix = country_code.strip().lstrip("+")
        if prefix.startswith("00"):
            prefix = prefix[2:]
        if prefix.isdigit() and not text.startswith("+"):
            number, reason = self._full(f"+{prefix} {text}")
            if number or int(prefix) == self.country_code:
                return (number, reason) if number else self._dispatch(text)
            return number, reason
        return self._dispatch(text)

    def _dispatch(self, text: str) -> tuple[str, str]:
        digits = DIAL_CHARS.sub("", text)
        # Only plain ASCII digits take the fast path; "011 …" (dialing abroad from North
        # America), letters and other scripts' digits go to the full parser.
        if (self.nanp or digits.startswith("+1")) and digits.isascii():
            if digits.startswith("+"):
                if digits[1:].isdigit() and digits.startswith("+1"):
                    return self._nanp(digits[2:], len(digits) - 1)
            elif digits.isdigit() and not digits.startswith("011"):
                if len(digits) == 11 and digits[0] == "1":
                    return self._nanp(digits[1:], 11)
                if self.nanp:
                    return self._nanp(digits, len(digits))
        return self._full(text)

    def _nanp(self, national: str, length: int) -> tuple[str, str]:
        if len(national) < 10:
            return "", "too few digits"
        if len(national) > 10:
            return "", "too many digits"
        if self._valid_nanp(national):
            return "+1" + national, ""
        return "", "not a valid number"

    def _full(self, text: str) -> tuple[str, str]:
        try:
            parsed = phonenumbers.parse(text, self.region)
        except phonenumbers.NumberParseException:
            return "", "not a phone number"
        if not phonenumbers.is_valid_number(parsed):
            # A spreadsheet that stored the number as a number dropped its leading zero.
            digits = DIAL_CHARS.sub("", text)
            if digits.isdigit() and not digits.startswith("0"):
                number, _ = self._full("0" + digits)
                if number:
                    return number, ""
            if not phonenumbers.is_possible_number(parsed):
                length = len(str(parsed.national_number))
                short = phonenumbers.is_possible_number_with_reason(parsed) in (
                    phonenumbers.ValidationResult.TOO_SHORT,
                    phonenumbers.ValidationResult.INVALID_LENGTH,
                )
                return "", ("too few digits" if short and length < 10 else "too many digits")
            return "", "not a valid number"
        return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164), ""

    def zones(self, number: str) -> str:
        """Candidate IANA zones of an E.164 number, space separated ("" when unknown).

        North American zones depend on at most the first six national digits (area code and
        exchange, in phonenumbers' time zone data and number types), so they are cached by them,
        or by the area code alone where that decides (``_whole_area_codes``).
        """
        if number.startswith("+1"):
            key = number[:5] if number[2:5] in _whole_area_codes() else number[:8]
        else:
            key = number
        zones = self._zone_cache.get(key)
        if zones is None:
            zones = " ".join(number_zones(number))
            if len(self._zone_cache) > 50_000:
                self._zone_cache.clear()
            self._zone_cache[key] = zones
        return zones


# --- rows ----------------------------------------------------------------------------------


@dataclass(slots=True)
class Record:
    """One cleaned row."""

    row_number: int
    external_id: str = ""
    first_name: str = ""
    last_name: str = ""
    email: str = ""
    phones: list[tuple[str, str, str]] = field(default_factory=list)  # (e164, type, zones)
    address: tuple[str, str, str, str, str, str] | None = None  # line1, line2, city, region,
    # postcode, country
    address_zones: tuple[str, ...] = ()
    do_not_call: bool = False
    do_not_contact: bool = False
    tags: list[str] = field(default_factory=list)
    custom: list[tuple[str, str]] = field(default_factory=list)

    @property
    def name_key(self) -> str:
        first, last = self.first_name.casefold(), self.last_name.casefold()
        return f"{first}\x1f{last}" if (first or last) else ""


@dataclass
class PhoneCounts:
    valid: int = 0
    invalid: int = 0
    reasons: dict[str, int] = field(default_factory=dict)


class RowCleaner:
    """Applies a validated mapping (lists/mapping.py) to the cells of one row."""

    def __init__(self, mapping: dict, header: Sequence[str] | None):
        self.region = mapping["region"]
        self.list_tag = mapping.get("list_tag") or ""
        self.phones = PhoneCleaner(self.region)
        self.counts = PhoneCounts()
        columns = mapping["columns"]
        names = list(header or [])

        def col(field_name: str) -> int | None:
            return next((i for i, c in enumerate(columns) if c["field"] == field_name), None)

        self.c_ext, self.c_first, self.c_last = (
            col("external_id"),
            col("first_name"),
            col("last_name"),
        )
        self.c_full, self.c_email = col("full_name"), col("email")
        self.c_addr = [
            col(f) for f in ("address1", "address2", "city", "state", "postcode", "country")
        ]
        self.c_dnc, self.c_dncontact, self.c_tags = (
            col("do_not_call"),
            col("do_not_contact"),
            col("tags"),
        )
        self.c_custom = [(i, c["name"]) for i, c in enumerate(columns) if c["field"] == "custom"]
        self.slots = []  # (label, number col, type, area col, country col, is-cell col)
        for index, column in enumerate(columns):
            if column["field"] != "phone":
                continue
            slot = column["slot"]

            def sib(kind: str, slot=slot) -> int | None:
                return next(
                    (i for i, c in enumerate(columns) if c["field"] == kind and c["slot"] == slot),
                    None,
                )

            label = (
                names[index].strip()
                if index < len(names) and names[index].strip()
                else (f"Column {index + 1}")
            )
            self.slots.append(
                (
                    label,
                    index,
                    column["type"],
                    sib("phone_area_code"),
                    sib("phone_country_code"),
                    sib("phone_is_cell"),
                )
            )

    def clean(self, number: int, cells: list[str]) -> tuple[Record | None, str]:
        """(record, "") for a row to import, (None, reason) for a rejected row."""
        width = len(cells)

        def get(index: int | None) -> str:
            return cells[index].strip() if index is not None and index < width else ""

        record = Record(number)
        record.external_id = get(self.c_ext)[:100]
        first, last = get(self.c_first), get(self.c_last)
        if not (first or last) and self.c_full is not None:
            first, _, last = get(self.c_full).rpartition(" ")
            if not first:
                first, last = last, ""
        record.first_name, record.last_name = first[:NAME_LENGTH], last[:NAME_LENGTH]
        email = get(self.c_email)
        if email and EMAIL.fullmatch(email):
            record.email = email.lower()[:254]
        problems, seen, counts = [], set(), self.counts
        for label, index, kind, area, prefix, is_cell in self.slots:
            raw = get(index)
            if not raw:
                continue
            e164, reason = self.phones.clean(raw, get(area), get(prefix))
            if not e164:
                counts.invalid += 1
                counts.reasons[reason] = counts.reasons.get(reason, 0) + 1
                problems.append(f"{label} “{raw}”: {reason}")
                continue
            zones = self.phones.zones(e164)
            if not zones:  # toll-free, premium rate, international freephone, ...
                reason = NO_TIME_ZONE
                counts.invalid += 1
                counts.reasons[reason] = counts.reasons.get(reason, 0) + 1
                problems.append(f"{label} “{raw}”: {reason}")
                continue
            counts.valid += 1
            if e164 in seen:
                continue
            seen.add(e164)
            if is_cell is not None and is_true(get(is_cell)):
                kind = "mobile"
            record.phones.append((e164, kind, zones))
        record.do_not_call = self.c_dnc is not None and is_true(get(self.c_dnc))
        record.do_not_contact = self.c_dncontact is not None and is_true(get(self.c_dncontact))
        if not record.phones:
            opted_out = record.do_not_call or record.do_not_contact
            if not (opted_out and (record.external_id or record.email)):
                if problems:
                    return None, "no usable phone number: " + "; ".join(problems)
                return None, "no phone number"
        line1, line2, city, region, postcode, country = (get(i) for i in self.c_addr)
        if any((line1, line2, city, region, postcode)):
            country = country.upper()[:2] if len(country) == 2 else self.region
            record.address = (
                line1[:200],
                line2[:200],
                city[:100],
                region[:100],
                postcode.upper()[:20],
                country,
            )
            record.address_zones = address_zones(region, postcode, country)
        if self.c_tags is not None:
            record.tags = [t[:80] for t in TAG_SPLIT.split(get(self.c_tags)) if t]
        if self.list_tag:
            record.tags.append(self.list_tag)
        for index, name in self.c_custom:
            value = get(index)
            if value:
                record.custom.append((name, value))
        return record, ""
