"""Column mappings: which column of a list file holds which field of a person.

A mapping is plain JSON, stored with the list and saved for reuse by header signature::

    {"columns": [{"field": "external_id"}, {"field": "first_name"},
                 {"field": "phone", "slot": 1, "type": "home"},
                 {"field": "phone_is_cell", "slot": 1},
                 {"field": "custom", "name": "Party"}, {"field": "ignore"}, ...],
     "region": "US", "id_system": "van"}

One entry per column, by position (files without a header are mapped by position too). Phones
are grouped in *slots*: a slot's number can come from one column or from an area-code column
plus a number column, with an optional country-code and "is a cell" column beside it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import phonenumbers


class MappingError(ValueError):
    """A mapping phonebank cannot import with; the message says what to change."""


@dataclass(frozen=True)
class Field:
    key: str
    label: str
    group: str
    slotted: bool = False  # belongs to a phone slot


FIELDS = [
    Field("ignore", "Don't import", "Other"),
    Field("custom", "Keep as a custom field", "Other"),
    Field("external_id", "External ID", "Person"),
    Field("first_name", "First name", "Person"),
    Field("last_name", "Last name", "Person"),
    Field("full_name", "Full name", "Person"),
    Field("phone", "Phone number", "Phone", slotted=True),
    Field("phone_area_code", "Phone area code", "Phone", slotted=True),
    Field("phone_country_code", "Phone country code", "Phone", slotted=True),
    Field("phone_is_cell", "Phone is a cell (yes/no)", "Phone", slotted=True),
    Field("email", "Email", "Contact"),
    Field("address1", "Address line 1", "Address"),
    Field("address2", "Address line 2", "Address"),
    Field("city", "City", "Address"),
    Field("state", "State / region", "Address"),
    Field("postcode", "ZIP / postcode", "Address"),
    Field("country", "Country", "Address"),
    Field("do_not_call", "Do not call (yes/no)", "Flags"),
    Field("do_not_contact", "Do not contact (yes/no)", "Flags"),
    Field("tags", "Tags (comma separated)", "Flags"),
]
FIELD_KEYS = {f.key for f in FIELDS}
SLOTTED = {f.key for f in FIELDS if f.slotted}
SINGLE = {"external_id", "first_name", "last_name", "full_name", "email", "address1"}
SINGLE |= {"address2", "city", "state", "postcode", "country", "do_not_call", "do_not_contact"}
PHONE_TYPES = ("unknown", "home", "mobile", "work")
MAX_SLOTS = 9
ID_SYSTEMS = {
    "van": "NGP VAN (VanID)",
    "nationbuilder": "NationBuilder",
    "actionnetwork": "Action Network",
    "voterfile": "State voter file",
    "other": "Other",
}
REGIONS = sorted(phonenumbers.SUPPORTED_REGIONS)


def _key(header: str) -> str:
    return re.sub(r"[^a-z0-9]", "", header.lower())


# Known headers (compared lower-case, letters and digits only) -> (field, extra settings).
ALIASES: dict[str, tuple[str, dict[str, Any]]] = {}


def _alias(field: str, names: str, **extra: Any) -> None:
    for name in names.split():
        ALIASES[_key(name)] = (field, extra)


_alias("external_id", "vanid van_id myvoters_vanid mycampaign_vanid", system="van")
_alias("external_id", "nationbuilderid nationbuilder_id nbid", system="nationbuilder")
_alias("external_id", "actionnetworkid an_id", system="actionnetwork")
_alias(
    "external_id",
    "voterid voter_id ncid voterregistrationnumber voterregistrationid statevoterid "
    "stateid sosvoterid voterfileid regnum registrationnumber",
    system="voterfile",
)
_alias("external_id", "externalid external_id id personid contactid", system="other")
_alias("first_name", "firstname first fname givenname forename namefirst first_name")
_alias("last_name", "lastname last lname surname familyname namelast last_name")
_alias("full_name", "name fullname full_name contactname displayname")
_alias("phone", "phone phonenumber phone_number telephone tel telephonenumber can2phone")
_alias("phone", "primaryphone preferredphone fullphonenumber daytimephonenumber dayphone")
_alias("phone", "homephone homephonenumber landline landlinephone", type="home")
_alias("phone", "cellphone cell mobile mobilephone mobilenumber cellphonenumber", type="mobile")
_alias("phone", "wirelessphone mobile_number cellularphone", type="mobile")
_alias("phone", "workphone workphonenumber businessphone officephone", type="work")
_alias("phone_area_code", "areacode phoneareacode daytimeareacode dayareacode")
_alias("email", "email emailaddress email1 email_address primaryemail personalemail")
_alias("address1", "address address1 addressline1 street streetaddress primaryaddress1")
_alias("address1", "can2useraddress residenceaddress resaddress mailingaddress address_1")
_alias("address1", "residentialaddress1 regaddress registrationaddress line1")
_alias("address2", "address2 addressline2 primaryaddress2 apt apartment unit line2")
_alias("city", "city primarycity can2usercity town residencecity rescity mailingcity")
_alias("state", "state primarystate can2stateabbreviated stateabbreviation st region")
_alias("state", "province county_state statecode mailingstate residencestate resstate")
_alias("postcode", "zip zipcode ziporpostal postcode postalcode primaryzip zip5 zip_code")
_alias("postcode", "can2userzip mailingzip residencezip reszip zipcode5 postal")
_alias("country", "country countrycode primarycountrycode can2usercountry")
_alias("do_not_call", "donotcall dnc nocall donotphone")
_alias("do_not_contact", "donotcontact nocontact")
_alias("tags", "tags taglist tag_list tag")


def header_signature(header: Sequence[str] | None, width: int) -> str:
    """Files with the same headers (or the same width, without headers) share a mapping."""
    text = "\x1f".join(_key(h) for h in header) if header else f"no header:{width}"
    return hashlib.sha256(text.encode()).hexdigest()


# --- suggesting ----------------------------------------------------------------------------

_PHONE_SIBLING = re.compile(
    r"^(?:is)?(?P<stem>.*?phone(?:number)?)(?P<kind>dialingprefix|countrycode|areacode|"
    r"acellexchange|iscell|cellexchange)$"
)


def suggest(header: Sequence[str] | None, sample: Sequence[Sequence[str]], width: int) -> dict:
    """A mapping from known header names, or from the look of the values when there is none."""
    if header:
        columns = _suggest_by_name(list(header) + [""] * (width - len(header)))
    else:
        columns = _suggest_by_content(sample, width)
    mapping = {"columns": columns, "region": "US", "id_system": "other"}
    systems = [c.pop("system") for c in columns if "system" in c]
    if systems:
        mapping["id_system"] = systems[0]
    return mapping


def _suggest_by_name(header: list[str]) -> list[dict]:
    columns: list[dict] = []
    phone_slots: dict[str, int] = {}  # header key of a phone column -> slot
    for name in header:
        key = _key(name)
        field, extra = ALIASES.get(key, (None, {}))
        if field is None:
            field, extra = _guess_from_words(key)
        column: dict[str, Any] = {"field": field or "custom"}
        if column["field"] == "custom":
            column["name"] = name.strip() or f"Column {len(columns) + 1}"
        if column["field"] == "phone":
            phone_slots[key] = len(phone_slots) + 1
            column.update(slot=phone_slots[key], type=extra.get("type", "unknown"))
        elif column["field"] == "external_id":
            column["system"] = extra.get("system", "other")
        columns.append(column)
    # Siblings (VAN's HomePhoneDialingPrefix, IsHomePhoneACellExchange, ...) join their phone.
    for index, name in enumerate(header):
        key = _key(name)
        match = _PHONE_SIBLING.match(key)
        kind = match["kind"] if match else ("areacode" if "areacode" in key else "")
        if not kind or columns[index]["field"] == "phone":
            continue
        slot = _slot_for_sibling(match["stem"] if match else key, phone_slots, index, header)
        if slot is None:
            continue
        field = {
            "dialingprefix": "phone_country_code",
            "countrycode": "phone_country_code",
            "areacode": "phone_area_code",
        }.get(kind, "phone_is_cell")
        columns[index] = {"field": field, "slot": slot}
    return columns


def _guess_from_words(key: str) -> tuple[str | None, dict]:
    if "email" in key:
        return "email", {}
    if key.endswith("phone") or key.endswith("phonenumber"):
        kind = "mobile" if ("cell" in key or "mobile" in key) else "unknown"
        kind = "home" if "home" in key else "work" if "work" in key else kind
        return "phone", {"type": kind}
    return None, {}


def _slot_for_sibling(stem: str, slots: dict[str, int], index: int, header: list[str]):
    for phone_key, slot in slots.items():
        if stem and (phone_key.startswith(stem) or stem.startswith(phone_key)):
            return slot
    # "Daytime Area Code" beside "Daytime Phone Number": the nearest phone column after it.
    for later in header[index + 1 :]:
        if _key(later) in slots:
            return slots[_key(later)]
    return next(iter(slots.values()), None)


_LOOKS = {
    "email": re.compile(r"[^@\s]+@[^@\s]+\.[a-z]{2,}", re.I),
    "phone": re.compile(r"[+(]?[0-9][0-9 ().\-]{8,18}[0-9]"),
    "area": re.compile(r"[2-9][0-9]{2}"),
    "local": re.compile(r"[2-9][0-9]{2}[ \-.]?[0-9]{4}"),
    "zip": re.compile(r"[0-9]{5}(?:-[0-9]{4})?"),
}
US_STATES = set(
    "AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV "
    "NH NJ NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY PR GU VI AS MP".split()
)


def _suggest_by_content(sample: Sequence[Sequence[str]], width: int) -> list[dict]:
    def share(index: int, test) -> float:
        values = [row[index].strip() for row in sample if index < len(row) and row[index].strip()]
        return sum(1 for v in values if test(v)) / len(values) if values else 0.0

    columns: list[dict] = []
    slot = 0
    for index in range(width):
        if share(index, _LOOKS["email"].fullmatch) > 0.6:
            columns.append({"field": "email"})
        elif share(index, _LOOKS["phone"].fullmatch) > 0.6:
            slot += 1
            columns.append({"field": "phone", "slot": slot, "type": "unknown"})
        elif (
            index + 1 < width
            and share(index, _LOOKS["area"].fullmatch) > 0.6
            and share(index + 1, _LOOKS["local"].fullmatch) > 0.6
        ):
            slot += 1
            columns.append({"field": "phone_area_code", "slot": slot})
        elif columns and columns[-1]["field"] == "phone_area_code" and "number" not in columns[-1]:
            columns.append({"field": "phone", "slot": slot, "type": "unknown"})
            columns[-2]["number"] = True
        elif share(index, lambda v: v.upper() in US_STATES) > 0.8:
            columns.append({"field": "state"})
        elif share(index, _LOOKS["zip"].fullmatch) > 0.8:
            columns.append({"field": "postcode"})
        else:
            columns.append({"field": "custom", "name": f"Column {index + 1}"})
    for column in columns:
        column.pop("number", None)
    return columns


# --- validating ----------------------------------------------------------------------------


def validate(mapping: Any, width: int) -> dict:
    """The mapping, cleaned; MappingError naming the first problem staff must fix."""
    if not isinstance(mapping, dict) or not isinstance(mapping.get("columns"), list):
        raise MappingError("The column mapping is missing.")
    raw_columns = mapping["columns"]
    if len(raw_columns) != width:
        raise MappingError(f"The mapping has {len(raw_columns)} columns; the file has {width}.")
    region = str(mapping.get("region") or "US").upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise MappingError(f"{region} is not a country code phonebank knows (e.g. US, GB, CA).")
    system = str(mapping.get("id_system") or "other").strip().lower()[:40]
    if not re.fullmatch(r"[a-z0-9_\-]+", system):
        raise MappingError("The external ID system may use letters, digits, - and _ only.")
    tag = re.sub(r"\s+", " ", str(mapping.get("list_tag") or "")).strip()[:80]
    columns, seen = [], set()
    for index, raw in enumerate(raw_columns, start=1):
        column = _clean_column(raw, index)
        field = column["field"]
        if field in SINGLE:
            if field in seen:
                label = next(f.label for f in FIELDS if f.key == field)
                raise MappingError(f"Only one column can be “{label}” (column {index} is too).")
            seen.add(field)
        columns.append(column)
    _check_slots(columns)
    custom_names = [c["name"].casefold() for c in columns if c["field"] == "custom"]
    if len(custom_names) != len(set(custom_names)):
        raise MappingError("Two custom fields have the same name; rename one of them.")
    return {"columns": columns, "region": region, "id_system": system, "list_tag": tag}


def _clean_column(raw: Any, index: int) -> dict:
    if not isinstance(raw, dict) or raw.get("field") not in FIELD_KEYS:
        raise MappingError(f"Column {index}: choose what it holds.")
    field = raw["field"]
    column: dict[str, Any] = {"field": field}
    if field in SLOTTED:
        try:
            slot = int(raw.get("slot") or 1)
        except (TypeError, ValueError):
            raise MappingError(f"Column {index}: the phone number slot must be 1–9.") from None
        if not 1 <= slot <= MAX_SLOTS:
            raise MappingError(f"Column {index}: the phone number slot must be 1–9.")
        column["slot"] = slot
    if field == "phone":
        kind = str(raw.get("type") or "unknown")
        if kind not in PHONE_TYPES:
            raise MappingError(f"Column {index}: the phone type must be one of {PHONE_TYPES}.")
        column["type"] = kind
    if field == "custom":
        name = re.sub(r"\s+", " ", str(raw.get("name") or "")).strip()[:100]
        if not name:
            raise MappingError(f"Column {index}: give the custom field a name.")
        column["name"] = name
    return column


def _check_slots(columns: list[dict]) -> None:
    phones = [c["slot"] for c in columns if c["field"] == "phone"]
    if not phones:
        raise MappingError(
            "No column is mapped to “Phone number”: map at least one, or this list has no one "
            "to call."
        )
    if len(phones) != len(set(phones)):
        raise MappingError("Two phone number columns share a slot; give each its own slot.")
    for column in columns:
        if column["field"] in SLOTTED and column["slot"] not in phones:
            label = next(f.label for f in FIELDS if f.key == column["field"])
            raise MappingError(
                f"“{label}” is set for phone slot {column['slot']}, which has no phone number "
                "column."
            )
        if column["field"] in SLOTTED and column["field"] != "phone":
            same = [c for c in columns if c["field"] == column["field"]]
            if len([c for c in same if c["slot"] == column["slot"]]) > 1:
                raise MappingError(
                    f"Phone slot {column['slot']} has two {column['field']} columns."
                )


def describe(mapping: dict, header: Sequence[str] | None) -> list[tuple[str, str]]:
    """(column name, what it is imported as) for the list page."""
    labels = {f.key: f.label for f in FIELDS}
    rows = []
    for index, column in enumerate(mapping["columns"]):
        name = header[index] if header and index < len(header) else f"Column {index + 1}"
        text = labels[column["field"]]
        if column["field"] == "custom":
            text = f"Custom field “{column['name']}”"
        elif column["field"] == "phone":
            text = f"Phone {column['slot']} ({column['type']})"
        elif column["field"] in SLOTTED:
            text = f"{labels[column['field']]} for phone {column['slot']}"
        elif column["field"] == "external_id":
            text = f"External ID ({ID_SYSTEMS.get(mapping['id_system'], mapping['id_system'])})"
        rows.append((name, text))
    return rows
