"""The shared supporter store's service API: the only code that writes people.

Calling, events, email and list imports all go through these functions, so flags such as
do-not-call take effect for every module at once. Each function changes the session and flushes;
the caller commits once. See docs/supporter-store.md.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import phonenumbers
from sqlalchemy import exists, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import selectinload

from phonebank.extensions import db
from phonebank.models import (
    Activity,
    Address,
    Attendance,
    CustomField,
    DoNotCallChange,
    DoNotCallNumber,
    Email,
    EmailStatus,
    Event,
    ExternalId,
    Person,
    PersonTag,
    Phone,
    PhoneStatus,
    PhoneType,
    RsvpStatus,
    Tag,
    User,
    utcnow,
)
from phonebank.supporters import changes
from phonebank.supporters.zones import number_zones


class SupporterError(ValueError):
    """Input the store refuses; the message says why."""


PERSON_FLAGS = ("do_not_call", "do_not_email", "deceased", "moved")
NAME_LENGTH = 100  # people.first_name / last_name
E164 = re.compile(r"\+[1-9][0-9]{6,14}")


def _require_e164(number: str) -> None:
    if not isinstance(number, str) or not E164.fullmatch(number):
        raise SupporterError("phones are stored in E.164 form; call normalize_phone first")


def _clean_name(name: str) -> str:
    return (name or "").strip()[:NAME_LENGTH]


# --- reading -------------------------------------------------------------------------------


def get_person(person_id: int, follow_merges: bool = True) -> Person | None:
    """The person with this id, or the person they were merged into."""
    person = db.session.get(Person, person_id)
    seen = set()
    while follow_merges and person is not None and person.merged_into_id is not None:
        if person.id in seen:
            raise SupporterError(f"merge loop at person {person.id}")
        seen.add(person.id)
        person = db.session.get(Person, person.merged_into_id)
    return person


def find_person_by_external_id(system: str, value: str) -> Person | None:
    """The person holding this id (system and value normalised as add_external_id stores them)."""
    system, value = system.strip().lower(), str(value).strip()
    row = db.session.scalar(
        select(ExternalId).where(ExternalId.system == system, ExternalId.value == value)
    )
    return get_person(row.person_id) if row else None


def find_people_by_phone(number: str) -> list[Person]:
    """People holding this E.164 number (merged people resolved, no repeats)."""
    ids = db.session.scalars(select(Phone.person_id).where(Phone.number == number))
    return _unique_people(ids)


def find_people_by_email(address: str) -> list[Person]:
    """People holding this address, compared lower-cased (merged people resolved, no repeats)."""
    ids = db.session.scalars(
        select(Email.person_id).where(Email.address == address.strip().lower())
    )
    return _unique_people(ids)


def _unique_people(ids: Iterable[int]) -> list[Person]:
    people: dict[int, Person] = {}
    for person_id in ids:
        person = get_person(person_id)
        if person is not None:
            people.setdefault(person.id, person)
    return list(people.values())


def _survivor(person: Person) -> Person:
    """The record a write should land on: the person, or the one they were merged into."""
    if person.merged_into_id is None:
        return person
    return get_person(person.id)


def _survivor_phone(phone: Phone) -> Phone:
    """The survivor's copy of a number held by a merged person (merges copy phones)."""
    owner = get_person(phone.person_id)
    if owner is None or owner.id == phone.person_id:
        return phone
    copy = db.session.scalar(
        select(Phone).where(Phone.person_id == owner.id, Phone.number == phone.number)
    )
    return copy or phone


def _survivor_email(email: Email) -> Email:
    """The survivor's copy of an address held by a merged person (merges copy emails)."""
    owner = get_person(email.person_id)
    if owner is None or owner.id == email.person_id:
        return email
    copy = db.session.scalar(
        select(Email).where(Email.person_id == owner.id, Email.address == email.address)
    )
    return copy or email


def _merged_into(person_id: int) -> list[int]:
    """This person's id and those of everyone merged into them, directly or in several steps."""
    ids, frontier = [person_id], [person_id]
    while frontier:
        frontier = [
            i
            for i in db.session.scalars(
                select(Person.id).where(Person.merged_into_id.in_(frontier))
            )
            if i not in ids
        ]
        ids.extend(frontier)
    return ids


def history(person: Person, limit: int = 50) -> list[Activity]:
    """Newest first, including activities recorded on people merged into this one."""
    return list(
        db.session.scalars(
            select(Activity)
            .where(Activity.person_id.in_(_merged_into(person.id)))
            .order_by(Activity.occurred_at.desc(), Activity.id.desc())
            .limit(limit)
        )
    )


def load_profile(person_id: int) -> Person | None:
    """A person with phones, emails, addresses, tags and custom fields loaded in one go."""
    return db.session.scalar(
        select(Person)
        .where(Person.id == person_id)
        .options(
            selectinload(Person.phones),
            selectinload(Person.emails),
            selectinload(Person.addresses),
            selectinload(Person.tags),
            selectinload(Person.external_ids),
            selectinload(Person.custom_fields),
        )
    )


def is_number_on_do_not_call(number: str) -> bool:
    """Whether this E.164 number is on the internal do-not-call list."""
    return db.session.scalar(select(exists().where(DoNotCallNumber.number == number)))


def can_call(person: Person, phone: Phone) -> bool:
    """The store's own check: person flags, phone status and the do-not-call list."""
    return (
        person.callable
        and phone.person_id == person.id
        and phone.status == PhoneStatus.OK
        and not is_number_on_do_not_call(phone.number)
    )


# --- normalising ---------------------------------------------------------------------------


def normalize_phone(raw: str, default_region: str = "US") -> str:
    """E.164 form of a phone number, or SupporterError saying why it is unusable."""
    text = (raw or "").strip()
    if not text:
        raise SupporterError("no number given")
    try:
        parsed = phonenumbers.parse(text, default_region.upper())
    except phonenumbers.NumberParseException as exc:
        raise SupporterError(f"not a phone number ({exc.args[0] if exc.args else exc})") from None
    if not phonenumbers.is_possible_number(parsed):
        raise SupporterError("wrong number of digits")
    if not phonenumbers.is_valid_number(parsed):
        raise SupporterError("not a valid number in its region")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def phone_time_zones(number: str) -> list[str]:
    """Candidate IANA zones for an E.164 number (several where the area spans zones; none
    for toll-free and other numbers not tied to a place): ``supporters/zones.py``."""
    try:
        phonenumbers.parse(number)
    except phonenumbers.NumberParseException as exc:
        raise SupporterError(f"not a phone number ({exc.args[0] if exc.args else exc})") from None
    return list(number_zones(number))


def normalize_email(address: str) -> str:
    """The lower-cased, validated form of an address (no DNS lookup), or SupporterError."""
    from email_validator import EmailNotValidError, validate_email

    try:
        return validate_email(address.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise SupporterError(str(exc)) from None


# --- writing people ------------------------------------------------------------------------


def create_person(first_name: str = "", last_name: str = "", **flags: bool) -> Person:
    """A new person, without matching; prefer find_or_create_person when identifiers are known."""
    unknown = set(flags) - set(PERSON_FLAGS)
    if unknown:
        raise SupporterError(f"unknown person flag(s): {', '.join(sorted(unknown))}")
    person = Person(first_name=_clean_name(first_name), last_name=_clean_name(last_name))
    for name, value in flags.items():
        setattr(person, name, bool(value))
    db.session.add(person)
    db.session.flush()
    changes.note(person.id, "name", created=True)
    for name, value in flags.items():
        if value:
            changes.note(person.id, name)
    return person


def find_or_create_person(
    first_name: str = "",
    last_name: str = "",
    email: str | None = None,
    phone: str | None = None,
    external_id: tuple[str, str] | None = None,
    source: str = "",
    default_region: str = "US",
) -> Person:
    """Match by external id, then phone, then email with name; create when nothing matches.

    The identifiers given are added to the person found or created.
    """
    number = normalize_phone(phone, default_region) if phone else None
    address = normalize_email(email) if email else None
    person = None
    if external_id:
        person = find_person_by_external_id(*external_id)
    if person is None and number:
        candidates = find_people_by_phone(number)
        person = _same_name(candidates, first_name, last_name) or (
            candidates[0] if len(candidates) == 1 and not first_name else None
        )
    if person is None and address:
        person = _same_name(find_people_by_email(address), first_name, last_name)
    if person is None:
        person = create_person(first_name, last_name)
    if external_id:
        add_external_id(person, *external_id)
    if number:
        add_phone(person, number, source=source)
    if address:
        add_email(person, address, source=source)
    return person


def match_person(
    first_name: str = "",
    last_name: str = "",
    *,
    external_ids: Iterable[tuple[str, str]] = (),
    numbers: Iterable[str] = (),
    emails: Iterable[str] = (),
) -> tuple[Person | None, str | None]:
    """The store's matching rules, saying which one matched: an external id, then a phone
    number with the same name (or the only holder, when no name is given), then an email
    address with the same name. Numbers are E.164 and emails normalised already."""
    for system, value in external_ids:
        person = find_person_by_external_id(system, value)
        if person is not None:
            return person, "external_id"
    for number in numbers:
        candidates = find_people_by_phone(number)
        person = _same_name(candidates, first_name, last_name) or (
            candidates[0] if len(candidates) == 1 and not (first_name or last_name) else None
        )
        if person is not None:
            return person, "phone"
    for address in emails:
        person = _same_name(find_people_by_email(address), first_name, last_name)
        if person is not None:
            return person, "email"
    return None, None


def _same_name(people: list[Person], first_name: str, last_name: str) -> Person | None:
    first, last = _clean_name(first_name).casefold(), _clean_name(last_name).casefold()
    for person in people:
        if person.first_name.casefold() == first and person.last_name.casefold() == last:
            return person
    return None


def update_person(person: Person, **fields: Any) -> Person:
    """Change names and flags. Clearing do_not_call is refused: opt-outs are never lost.

    A merged person's survivor is changed (and returned).
    """
    person = _survivor(person)
    allowed = {"first_name", "last_name", *PERSON_FLAGS}
    unknown = set(fields) - allowed
    if unknown:
        raise SupporterError(f"cannot set {', '.join(sorted(unknown))} on a person")
    if person.do_not_call and "do_not_call" in fields and not fields["do_not_call"]:
        raise SupporterError("a do-not-call request cannot be withdrawn by another module")
    for name, value in fields.items():
        value = _clean_name(value) if name in ("first_name", "last_name") else bool(value)
        if getattr(person, name) != value:
            setattr(person, name, value)
            changes.note(person.id, "name" if name in ("first_name", "last_name") else name)
    db.session.flush()
    return person


def set_person_flags(
    person: Person,
    *,
    actor: User | None = None,
    module: str,
    reason: str = "",
    campaign_id: int | None = None,
    **flags: bool,
) -> list[str]:
    """Raise person-level flags (do_not_call, deceased, ...) and record who did it and why.

    Given a merged person, the flags land on the person they were merged into.
    """
    person = _survivor(person)
    unknown = set(flags) - set(PERSON_FLAGS)
    if unknown:
        raise SupporterError(f"unknown person flag(s): {', '.join(sorted(unknown))}")
    changed = [name for name, value in flags.items() if value and not getattr(person, name)]
    for name in changed:
        setattr(person, name, True)
        changes.note(person.id, name)
    if changed:
        record_activity(
            person,
            kind="flag",
            module=module,
            actor=actor,
            campaign_id=campaign_id,
            payload={"flags": changed, "reason": reason},
        )
    db.session.flush()
    return changed


def add_external_id(person: Person, system: str, value: str) -> ExternalId:
    """Record this person's id in another system; an id held by someone else is refused."""
    system, value = system.strip().lower(), str(value).strip()
    if not system or not value:
        raise SupporterError("an external id needs a system and a value")
    row = db.session.scalar(
        select(ExternalId).where(ExternalId.system == system, ExternalId.value == value)
    )
    if row is not None:
        if get_person(row.person_id).id != person.id:
            raise SupporterError(f"{system} id {value} already belongs to person {row.person_id}")
        return row
    row = ExternalId(person=person, system=system, value=value)
    db.session.add(row)
    db.session.flush()
    changes.note(person.id, "external_ids")
    return row


def add_phone(
    person: Person,
    number: str,
    type: PhoneType = PhoneType.UNKNOWN,
    source: str = "",
    time_zones: list[str] | None = None,
) -> Phone:
    """Add an E.164 number to a person, or return (and refine the type of) the one they have."""
    _require_e164(number)
    phone = db.session.scalar(
        select(Phone).where(Phone.person_id == person.id, Phone.number == number)
    )
    if phone is None:
        zones = time_zones if time_zones is not None else phone_time_zones(number)
        phone = Phone(
            person=person,
            number=number,
            type=PhoneType(type),
            source=source,
            time_zones=" ".join(zones),
        )
        db.session.add(phone)
        changes.note(person.id, "phones")
    elif phone.type == PhoneType.UNKNOWN and type != PhoneType.UNKNOWN:
        phone.type = PhoneType(type)
        changes.note(person.id, "phones")
    db.session.flush()
    return phone


def mark_phone_bad(
    phone: Phone, reason: str, *, actor: User | None = None, module: str, campaign_id=None
) -> None:
    """Mark one person's phone bad (wrong number, disconnected, fax); other phones stay.

    Given a merged person's phone, the survivor's copy of the number is marked.
    """
    phone = _survivor_phone(phone)
    stored_reason = reason[:40]  # phones.status_reason; the activity keeps the full text
    if phone.status != PhoneStatus.BAD or phone.status_reason != stored_reason:
        phone.status = PhoneStatus.BAD
        phone.status_reason = stored_reason
        changes.note(phone.person_id, "phones")
        record_activity(
            phone.person,
            kind="phone_status",
            module=module,
            actor=actor,
            campaign_id=campaign_id,
            payload={"phone_id": phone.id, "status": "bad", "reason": reason},
        )
    db.session.flush()


def add_to_do_not_call(
    number: str, reason: str = "", source: str = "", by: User | None = None
) -> DoNotCallNumber:
    """Put a number on the internal do-not-call list (idempotent; only staff remove numbers).

    Safe when two transactions list the same number at once: the insert skips an existing row
    instead of failing, so neither call's outcome is lost. Each new entry is recorded in the
    list's history (``DoNotCallChange``).
    """
    _require_e164(number)
    row = db.session.get(DoNotCallNumber, number)
    if row is None:
        dialect = db.session.get_bind().dialect.name
        insert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}[dialect]
        added = db.session.execute(
            insert(DoNotCallNumber)
            .values(
                number=number,
                reason=reason[:200],
                source=source[:80],
                added_at=utcnow(),
                added_by_id=by.id if by else None,
            )
            .on_conflict_do_nothing(index_elements=["number"])
        ).rowcount
        if added:
            changes.emit(
                "do_not_call.added",
                None,
                {"number": number, "reason": reason[:200], "source": source[:80]},
            )
            db.session.add(
                DoNotCallChange(
                    number=number,
                    action="added",
                    reason=reason[:200],
                    source=source[:80],
                    by_id=by.id if by else None,
                )
            )
            db.session.flush()
        row = db.session.get(DoNotCallNumber, number)
    return row


def remove_from_do_not_call(number: str, reason: str, by: User) -> bool:
    """Staff take a number off the do-not-call list, saying why (kept in its history).
    Returns False if it was not on the list."""
    reason = (reason or "").strip()
    if not reason:
        raise SupporterError("say why the number may be called again")
    row = db.session.get(DoNotCallNumber, number)
    if row is None:
        return False
    db.session.delete(row)
    changes.emit("do_not_call.removed", None, {"number": number, "reason": reason[:200]})
    db.session.add(
        DoNotCallChange(
            number=number, action="removed", reason=reason[:200], source="staff", by_id=by.id
        )
    )
    db.session.flush()
    return True


def add_email(
    person: Person,
    address: str,
    status: EmailStatus = EmailStatus.SUBSCRIBED,
    source: str = "",
) -> Email:
    """Add an address to a person, or return the one they have (its status is left as it is)."""
    address = normalize_email(address)
    email = db.session.scalar(
        select(Email).where(Email.person_id == person.id, Email.address == address)
    )
    if email is None:
        email = Email(person=person, address=address, status=EmailStatus(status), source=source)
        db.session.add(email)
        db.session.flush()
        changes.note(person.id, "emails")
    return email


def set_email_status(email: Email, status: EmailStatus, *, module: str, reason: str = "") -> None:
    """Unsubscribes and bounces are recorded in the person's history.

    Given a merged person's email, the survivor's copy of the address is changed.
    """
    status = EmailStatus(status)
    email = _survivor_email(email)
    if email.status != status:
        email.status = status
        changes.note(email.person_id, "emails")
        record_activity(
            email.person,
            kind="email_status",
            module=module,
            payload={"email_id": email.id, "status": status.value, "reason": reason},
        )
    db.session.flush()


def add_address(
    person: Person,
    *,
    line1: str = "",
    line2: str = "",
    city: str = "",
    region: str = "",
    postcode: str = "",
    country: str = "",
    time_zone: str = "",
    source: str = "",
) -> Address:
    """Add a postal address; it becomes the primary one. An identical address is reused."""
    values = {
        "line1": line1.strip(),
        "line2": line2.strip(),
        "city": city.strip(),
        "region": region.strip(),
        "postcode": postcode.strip().upper(),
        "country": country.strip().upper()[:2],
    }
    address = next(
        (a for a in person.addresses if all(getattr(a, k) == v for k, v in values.items())), None
    )
    if address is None:
        address = Address(person=person, time_zone=time_zone, source=source, **values)
        db.session.add(address)
        changes.note(person.id, "addresses")
    elif time_zone and not address.time_zone:
        address.time_zone = time_zone
        changes.note(person.id, "addresses")
    for existing in person.addresses:
        existing.is_primary = existing is address
    db.session.flush()
    return address


def tag_person(person: Person, name: str, source: str = "") -> bool:
    """Add a tag (created on first use). Returns False if the person already had it."""
    name = name.strip()
    if not name:
        raise SupporterError("a tag needs a name")
    if len(name) > 80:
        raise SupporterError("tag names are at most 80 characters")
    tag = db.session.scalar(select(Tag).where(Tag.name == name))
    if tag is None:
        tag = Tag(name=name)
        db.session.add(tag)
        db.session.flush()
    if db.session.get(PersonTag, (person.id, tag.id)) is not None:
        return False
    db.session.add(PersonTag(person_id=person.id, tag_id=tag.id, source=source))
    db.session.flush()
    db.session.expire(person, ["tags"])
    changes.emit("tagging.added", person.id, {"tag": name, "source": source})
    return True


def untag_person(person: Person, name: str) -> bool:
    """Remove a tag from a person. Returns False if they did not have it."""
    tag = db.session.scalar(select(Tag).where(Tag.name == name.strip()))
    link = db.session.get(PersonTag, (person.id, tag.id)) if tag else None
    if link is None:
        return False
    db.session.delete(link)
    db.session.flush()
    db.session.expire(person, ["tags"])
    changes.emit("tagging.removed", person.id, {"tag": tag.name})
    return True


def set_custom_field(person: Person, name: str, value: str) -> CustomField:
    """Set one named value on a person, replacing any earlier value."""
    name = name.strip()[:100]
    if not name:
        raise SupporterError("a custom field needs a name")
    field = db.session.scalar(
        select(CustomField).where(CustomField.person_id == person.id, CustomField.name == name)
    )
    if field is None:
        field = CustomField(person=person, name=name, value=str(value))
        db.session.add(field)
        changes.note(person.id, "custom_fields")
    elif field.value != str(value):
        field.value = str(value)
        changes.note(person.id, "custom_fields")
    db.session.flush()
    return field


def record_activity(
    person: Person,
    *,
    kind: str,
    module: str,
    actor: User | None = None,
    campaign_id: int | None = None,
    payload: dict[str, Any] | None = None,
    occurred_at: datetime | None = None,
) -> Activity:
    """Append one entry to the person's history (never updated or deleted afterwards)."""
    activity = Activity(
        person_id=person.id,
        kind=kind,
        module=module,
        actor_user_id=actor.id if actor is not None else None,
        campaign_id=campaign_id,
        payload=payload or {},
        occurred_at=occurred_at or utcnow(),
    )
    db.session.add(activity)
    db.session.flush()
    if kind in ACTIVITY_EVENTS:
        changes.emit(
            ACTIVITY_EVENTS[kind],
            person.id,
            {
                **activity.payload,
                "activity_id": activity.id,
                "module": module,
                "campaign_id": campaign_id,
                "occurred_at": activity.occurred_at.isoformat(),
            },
        )
    return activity


# History entries that are also change events of their own (the others are covered by the
# person.updated event of the change they describe).
ACTIVITY_EVENTS = {
    "call": "canvass.recorded",
    "call_correction": "canvass.corrected",
    "canvass": "canvass.recorded",
    "merge": "person.merged",
    "rsvp": "attendance.recorded",
}


# A merge keeps the stronger of two statuses for the same address: opt-outs are never lost.
EMAIL_STATUS_RANK = {
    EmailStatus.SUBSCRIBED: 0,
    EmailStatus.BOUNCING: 1,
    EmailStatus.UNSUBSCRIBED: 2,
}


def _move_attendances(survivor: Person, duplicate: Person) -> None:
    """Event RSVPs follow the merge; where both answered for one event the later answer wins."""
    theirs = db.session.scalars(select(Attendance).where(Attendance.person_id == duplicate.id))
    for attendance in list(theirs):
        mine = db.session.scalar(
            select(Attendance).where(
                Attendance.event_id == attendance.event_id, Attendance.person_id == survivor.id
            )
        )
        if mine is None:
            attendance.person_id = survivor.id
            continue
        if attendance.updated_at > mine.updated_at:
            mine.status, mine.source = attendance.status, attendance.source
        db.session.delete(attendance)
    db.session.flush()


def merge_people(survivor: Person, duplicate: Person, *, module: str) -> Person:
    """Fold ``duplicate`` into ``survivor``: contact points and tags move, flags combine.

    The duplicate row stays (``merged_into_id``) so its history and external ids still resolve.
    """
    if survivor.id == duplicate.id:
        return survivor
    if duplicate.merged_into_id is not None or survivor.merged_into_id is not None:
        raise SupporterError("merge into the surviving record, not into an already merged one")
    for phone in list(duplicate.phones):
        kept = add_phone(survivor, phone.number, phone.type, phone.source, phone.time_zones.split())
        if phone.status == PhoneStatus.BAD and kept.status != PhoneStatus.BAD:
            mark_phone_bad(kept, phone.status_reason or "", module=module)
    for email in list(duplicate.emails):
        kept = add_email(survivor, email.address, email.status, email.source)
        if EMAIL_STATUS_RANK[email.status] > EMAIL_STATUS_RANK[kept.status]:
            set_email_status(kept, email.status, module=module, reason=f"merge:{duplicate.id}")
    has_primary = any(a.is_primary for a in survivor.addresses)
    for address in list(duplicate.addresses):
        address.person = survivor
        if has_primary:
            address.is_primary = False
        has_primary = has_primary or address.is_primary
    _move_attendances(survivor, duplicate)
    for ext in list(duplicate.external_ids):
        ext.person = survivor
    for tag in list(duplicate.tags):
        tag_person(survivor, tag.name, source=f"merge:{duplicate.id}")
    for field in list(duplicate.custom_fields):
        if not any(f.name == field.name for f in survivor.custom_fields):
            set_custom_field(survivor, field.name, field.value)
    for name in PERSON_FLAGS:
        if getattr(duplicate, name):
            setattr(survivor, name, True)
    duplicate.merged_into_id = survivor.id
    changes.touch(duplicate.id)
    record_activity(survivor, kind="merge", module=module, payload={"merged": duplicate.id})
    db.session.flush()
    return survivor


# --- events and attendances ----------------------------------------------------------------


def create_event(
    title: str,
    starts_at: datetime,
    *,
    ends_at: datetime | None = None,
    place: str = "",
    postcode: str = "",
    time_zone: str = "",
    capacity: int | None = None,
) -> Event:
    """A new event that RSVPs can be recorded against (times are UTC-aware)."""
    if not title.strip():
        raise SupporterError("an event needs a title")
    if len(title.strip()) > 200:
        raise SupporterError("event titles are at most 200 characters")
    for moment in (starts_at, ends_at):
        if moment is not None and moment.tzinfo is None:
            raise SupporterError("event times need a time zone (give UTC-aware datetimes)")
    if ends_at is not None and ends_at < starts_at:
        raise SupporterError("an event cannot end before it starts")
    if capacity is not None and capacity < 0:
        raise SupporterError("an event's capacity cannot be negative")
    event = Event(
        title=title.strip(),
        starts_at=starts_at,
        ends_at=ends_at,
        place=place.strip(),
        postcode=postcode.strip().upper(),
        time_zone=time_zone,
        capacity=capacity,
    )
    db.session.add(event)
    db.session.flush()
    changes.emit("event.created", None, {"event_id": event.id, "title": event.title})
    return event


def record_rsvp(
    person: Person,
    event: Event,
    status: RsvpStatus,
    *,
    module: str,
    actor: User | None = None,
    campaign_id: int | None = None,
) -> Attendance:
    """Create or update a person's attendance at an event and note it in their history.

    Given a merged person, the RSVP is recorded for the person they were merged into.
    """
    status = RsvpStatus(status)
    person = _survivor(person)
    attendance = db.session.scalar(
        select(Attendance).where(Attendance.event_id == event.id, Attendance.person_id == person.id)
    )
    if attendance is None:
        attendance = Attendance(event=event, person_id=person.id, status=status, source=module)
        db.session.add(attendance)
    elif attendance.status != status:
        attendance.status = status
        attendance.source = module
    else:
        return attendance
    record_activity(
        person,
        kind="rsvp",
        module=module,
        actor=actor,
        campaign_id=campaign_id,
        payload={"event_id": event.id, "event": event.title, "status": status.value},
    )
    db.session.flush()
    return attendance
