"""People in the API: the store's records in OSDI's vocabulary, and writes through the store's
services (never around them)."""

from __future__ import annotations

from typing import Any

from flask import current_app
from sqlalchemy import Integer, any_, bindparam, select, update
from sqlalchemy.dialects.postgresql import ARRAY

from phonebank.extensions import db
from phonebank.models import (
    Address,
    Campaign,
    CampaignTarget,
    CustomField,
    Email,
    EmailStatus,
    ExternalId,
    Person,
    PersonTag,
    Phone,
    PhoneType,
    Tag,
)
from phonebank.supporters import services as supporters
from phonebank.supporters.services import PERSON_FLAGS, SupporterError


class ApiError(Exception):
    """An answer other than success: HTTP status, a short title and what to do about it."""

    def __init__(self, status: int, detail: str, title: str | None = None, **headers: str):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.title = title
        self.headers = headers


def person_json(person: Person) -> dict[str, Any]:
    return people_json([person.id])[0]


def people_json(ids: list[int]) -> list[dict[str, Any]]:
    """People by id, in the order given, in two plain queries (the people, then everything
    hanging off them), with no ORM objects on the way."""
    if not ids:
        return []
    connection = db.session.connection()  # plain rows: no ORM layer on the hot path
    pg = connection.dialect.name == "postgresql"  # ids as one array there
    people = {
        row.id: row
        for row in connection.execute(
            select(
                Person.id,
                Person.version,
                Person.first_name,
                Person.last_name,
                Person.merged_into_id,
                Person.created_at,
                Person.updated_at,
                *(getattr(Person, name) for name in PERSON_FLAGS),
            ).where(
                Person.id == any_(bindparam("ids", type_=ARRAY(Integer)))
                if pg
                else Person.id.in_(ids)
            ),
            {"ids": list(ids)} if pg else {},
        )
    }
    held: dict[str, dict[int, list]] = {
        key: {pid: [] for pid in people}
        for key in ("ids", "phones", "emails", "addresses", "tags", "fields")
    }
    query = _children_query(connection.dialect.name)
    for row in connection.execute(query, {"ids": list(people)}):
        held[row.kind][row.person_id].append(row)
    for rows in (r for by_person in held.values() for r in by_person.values()):
        rows.sort(key=lambda r: (r.ord_int, r.ord_text))
    answer = []
    for pid in ids:
        p = people.get(pid)
        if p is None:
            continue
        answer.append(
            {
                "id": p.id,
                "version": p.version,
                "given_name": p.first_name,
                "family_name": p.last_name,
                "identifiers": [f"phonebank:{p.id}"] + [f"{r.a}:{r.b}" for r in held["ids"][pid]],
                "phone_numbers": [
                    {
                        "number": r.a,
                        "number_type": r.b,
                        "status": r.c,
                        "primary": i == 0,
                    }
                    for i, r in enumerate(held["phones"][pid])
                ],
                "email_addresses": [
                    {"address": r.a, "status": r.b, "primary": i == 0}
                    for i, r in enumerate(held["emails"][pid])
                ],
                "postal_addresses": [
                    {
                        "address_lines": [line for line in (r.a, r.b) if line],
                        "locality": r.c,
                        "region": r.d,
                        "postal_code": r.e,
                        "country": r.f,
                        "time_zone": r.g,
                        "primary": r.h == "1",
                    }
                    for r in held["addresses"][pid]
                ],
                "custom_fields": {r.a: r.b for r in held["fields"][pid]},
                "tags": [r.a for r in held["tags"][pid]],
                "flags": {name: bool(getattr(p, name)) for name in PERSON_FLAGS},
                "merged_into": p.merged_into_id,
                "created_date": p.created_at.isoformat(),
                "modified_date": p.updated_at.isoformat(),
            }
        )
    return answer


_CHILDREN: dict[str, Any] = {}


def _children_query(dialect: str):
    """Everything hanging off a set of people in one round trip: one UNION ALL branch per
    table, each row ``(kind, person_id, ord_int, ord_text, a … h)`` as text. On PostgreSQL the
    ids travel as one array (``= ANY``), not as a hundred placeholders per branch."""
    if dialect in _CHILDREN:
        return _CHILDREN[dialect]
    from sqlalchemy import String, cast, literal, null, union_all

    if dialect == "postgresql":
        ids = bindparam("ids", type_=ARRAY(Integer))

        def among(column):
            return column == any_(ids)
    else:
        ids = bindparam("ids", expanding=True)

        def among(column):
            return column.in_(ids)

    def branch(kind, person_id, ord_int, ord_text, *values, source=None, where=None):
        texts = [cast(v, String) for v in values] + [null()] * (8 - len(values))
        columns = [
            literal(kind).label("kind"),
            person_id.label("person_id"),
            ord_int.label("ord_int"),
            cast(ord_text, String).label("ord_text"),
            *(t.label(name) for t, name in zip(texts, "abcdefgh", strict=True)),
        ]
        query = select(*columns)
        if source is not None:
            query = query.select_from(source)
        return query.where(among(person_id))

    flag = cast(Address.is_primary, Integer)
    _CHILDREN[dialect] = union_all(
        branch("ids", ExternalId.person_id, ExternalId.id, literal(""),
               ExternalId.system, ExternalId.value),
        branch("phones", Phone.person_id, Phone.id, literal(""),
               Phone.number, Phone.type, Phone.status),
        branch("emails", Email.person_id, Email.id, literal(""), Email.address, Email.status),
        branch("addresses", Address.person_id, Address.id, literal(""), Address.line1,
               Address.line2, Address.city, Address.region, Address.postcode, Address.country,
               Address.time_zone, flag),
        branch("tags", PersonTag.person_id, literal(0), Tag.name, Tag.name,
               source=PersonTag.__table__.join(Tag.__table__, Tag.id == PersonTag.tag_id)),
        branch("fields", CustomField.person_id, literal(0), CustomField.name,
               CustomField.name, CustomField.value),
    )  # fmt: skip
    return _CHILDREN[dialect]


# --- parsing what integrations send ----------------------------------------------------------


def _list(data: dict, name: str) -> list:
    value = data.get(name, [])
    if not isinstance(value, list):
        raise ApiError(422, f"{name} must be a list.")
    return value


def _text(data: dict, name: str, limit: int) -> str | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ApiError(422, f"{name} must be a string.")
    if len(value.strip()) > limit:
        raise ApiError(422, f"{name} is longer than {limit} characters.")
    return value


def parse_person(data: Any) -> dict[str, Any]:
    """Validate a person body; returns its parts in the store's terms (nothing written)."""
    if not isinstance(data, dict):
        raise ApiError(400, "Send a JSON object.")
    known = {
        "given_name",
        "family_name",
        "identifiers",
        "phone_numbers",
        "email_addresses",
        "postal_addresses",
        "custom_fields",
        "tags",
        "flags",
        "campaigns",
    }
    unknown = sorted(set(data) - known)
    if unknown:
        raise ApiError(422, f"Unknown field(s): {', '.join(unknown)}.")
    region = current_app.config.get("DEFAULT_REGION", "US")
    parsed: dict[str, Any] = {
        "first_name": _text(data, "given_name", 100),
        "last_name": _text(data, "family_name", 100),
        "external_ids": [],
        "phones": [],
        "emails": [],
        "addresses": [],
        "custom_fields": {},
        "tags": [],
        "flags": {},
        "campaigns": [],
    }
    for ident in _list(data, "identifiers"):
        if not isinstance(ident, str) or ":" not in ident:
            raise ApiError(422, 'Identifiers are "system:value", e.g. "van:123456".')
        system, value = ident.split(":", 1)
        if system.strip().lower() == "phonebank":
            continue  # phonebank's own id: not stored as an external id
        if not system.strip() or not value.strip():
            raise ApiError(422, f"Identifier {ident!r} needs a system and a value.")
        parsed["external_ids"].append((system.strip().lower()[:40], value.strip()[:100]))
    for phone in _list(data, "phone_numbers"):
        if not isinstance(phone, dict) or not isinstance(phone.get("number"), str):
            raise ApiError(422, 'Each phone number is {"number": "...", "number_type": "..."}.')
        try:
            number = supporters.normalize_phone(phone["number"], region)
        except SupporterError as exc:
            raise ApiError(422, f"Phone number {phone['number']!r}: {exc}") from exc
        kind = phone.get("number_type", "unknown")
        if kind not in {t.value for t in PhoneType}:
            choices = ", ".join(t.value for t in PhoneType)
            raise ApiError(422, f"number_type is one of {choices}.")
        parsed["phones"].append((number, PhoneType(kind)))
    for email in _list(data, "email_addresses"):
        if not isinstance(email, dict) or not isinstance(email.get("address"), str):
            raise ApiError(422, 'Each email address is {"address": "..."}.')
        try:
            address = supporters.normalize_email(email["address"])
        except SupporterError as exc:
            raise ApiError(422, f"Email address {email['address']!r}: {exc}") from exc
        status = email.get("status")
        if status is not None and status not in {s.value for s in EmailStatus}:
            raise ApiError(422, "An email status is subscribed, unsubscribed or bouncing.")
        parsed["emails"].append((address, EmailStatus(status) if status else None))
    for address in _list(data, "postal_addresses"):
        if not isinstance(address, dict):
            raise ApiError(422, "Each postal address is an object.")
        lines = address.get("address_lines", [])
        if not isinstance(lines, list) or not all(isinstance(x, str) for x in lines):
            raise ApiError(422, "address_lines is a list of strings.")
        parsed["addresses"].append(
            {
                "line1": lines[0] if lines else "",
                "line2": ", ".join(lines[1:]),
                "city": str(address.get("locality", "")),
                "region": str(address.get("region", "")),
                "postcode": str(address.get("postal_code", "")),
                "country": str(address.get("country", "")),
            }
        )
    fields = data.get("custom_fields", {})
    if not isinstance(fields, dict) or not all(
        isinstance(v, str | int | float) for v in fields.values()
    ):
        raise ApiError(422, "custom_fields is an object of names to text values.")
    parsed["custom_fields"] = {str(k): str(v) for k, v in fields.items()}
    tags = _list(data, "tags")
    if not all(isinstance(t, str) and t.strip() for t in tags):
        raise ApiError(422, "tags is a list of tag names.")
    parsed["tags"] = tags
    flags = data.get("flags", {})
    if not isinstance(flags, dict) or set(flags) - set(PERSON_FLAGS):
        raise ApiError(422, f"flags may hold {', '.join(PERSON_FLAGS)} (true or false).")
    if not all(isinstance(v, bool) for v in flags.values()):
        raise ApiError(422, "Flags are true or false.")
    parsed["flags"] = flags
    campaigns = _list(data, "campaigns")
    if not all(isinstance(c, int) and not isinstance(c, bool) for c in campaigns):
        raise ApiError(422, "campaigns is a list of campaign ids.")
    parsed["campaigns"] = campaigns
    return parsed


# --- writing ---------------------------------------------------------------------------------


def create_or_match(parsed: dict[str, Any], *, module: str, allowed_campaign: int | None):
    """Match by the store's rules or create; then apply the rest. Returns (person, matched_by)."""
    first, last = parsed["first_name"] or "", parsed["last_name"] or ""
    person, matched_by = supporters.match_person(
        first,
        last,
        external_ids=parsed["external_ids"],
        numbers=[n for n, _ in parsed["phones"]],
        emails=[a for a, _ in parsed["emails"]],
    )
    if person is None:
        person = supporters.create_person(first, last)
    else:
        person = supporters.get_person(person.id)
        if not person.first_name and not person.last_name and (first or last):
            supporters.update_person(person, first_name=first, last_name=last)
    apply(person, {**parsed, "first_name": None, "last_name": None}, module, allowed_campaign)
    return person, matched_by


def lock_version(person: Person, expected: int) -> None:
    """Hold the person's row (until commit) if it is still at ``expected``; else 412."""
    held = db.session.execute(
        update(Person)
        .where(Person.id == person.id, Person.version == expected)
        .values(version=Person.version)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not held:
        db.session.rollback()
        raise ApiError(
            412,
            "The person changed since you read them: GET them again and re-apply your change.",
            title="Precondition failed",
        )


def apply(person: Person, parsed: dict[str, Any], module: str, allowed_campaign: int | None):
    """Apply a parsed body to a person through the store's services."""
    try:
        names = {
            k: v
            for k, v in (("first_name", parsed["first_name"]), ("last_name", parsed["last_name"]))
            if v is not None
        }
        flags = parsed["flags"]
        if flags.get("do_not_call") is False and person.do_not_call:
            raise ApiError(422, "A do-not-call request cannot be withdrawn through the API.")
        raised = {k: True for k, v in flags.items() if v}
        lowered = {k: False for k, v in flags.items() if not v and k != "do_not_call"}
        if names or lowered:
            supporters.update_person(person, **names, **lowered)
        if raised:
            supporters.set_person_flags(person, module=module, reason="api", **raised)
        for system, value in parsed["external_ids"]:
            supporters.add_external_id(person, system, value)
        for number, kind in parsed["phones"]:
            supporters.add_phone(person, number, kind, source=module)
        for address, status in parsed["emails"]:
            email = supporters.add_email(person, address, source=module)
            if status is not None:
                supporters.set_email_status(email, status, module=module, reason="api")
        for values in parsed["addresses"]:
            supporters.add_address(person, source=module, **values)
        for name, value in parsed["custom_fields"].items():
            supporters.set_custom_field(person, name, value)
        for tag in parsed["tags"]:
            supporters.tag_person(person, tag, source=module)
    except SupporterError as exc:
        db.session.rollback()
        raise ApiError(422, str(exc)) from exc
    if parsed["campaigns"]:
        queue_on_campaigns(person, parsed["campaigns"], allowed_campaign)


def queue_on_campaigns(person: Person, campaign_ids: list[int], allowed: int | None) -> None:
    from phonebank.campaigns import services as campaigns

    for campaign_id in campaign_ids:
        campaign = db.session.get(Campaign, campaign_id)
        if campaign is None or (allowed is not None and campaign_id != allowed):
            db.session.rollback()
            raise ApiError(422, f"There is no campaign {campaign_id} this key may add people to.")
        campaigns.add_people(campaign, [person.id])


def on_campaign(campaign_id: int):
    """SQL condition: the person is on this campaign's call list."""
    return Person.id.in_(
        select(CampaignTarget.person_id).where(CampaignTarget.campaign_id == campaign_id)
    )
