"""Staff's work on the do-not-call list: find entries, add numbers in bulk, see each entry's
history. The list itself is the supporter store's (``supporters.add_to_do_not_call`` and
``remove_from_do_not_call``); the queue reads it at every claim and again before each dial, so
a change takes effect before the next call anywhere."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field

from flask import current_app
from sqlalchemy import func, or_, select

from phonebank.extensions import db
from phonebank.models import DoNotCallChange, DoNotCallNumber, Person, Phone, User
from phonebank.supporters import services as supporters

MAX_NUMBERS = 50_000  # one paste or file
SPLIT = re.compile(r"[\n;,\t]+")


@dataclass
class AddResult:
    added: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    invalid: list[tuple[str, str]] = field(default_factory=list)  # (as given, why)


def numbers_from_text(text: str) -> list[str]:
    """Numbers from pasted text: one per line, or separated by commas, semicolons or tabs."""
    return [part.strip() for part in SPLIT.split(text or "") if part.strip()]


def numbers_from_file(data: bytes) -> list[str]:
    """Numbers from an uploaded CSV or text file: the first cell of each row that has digits
    (a header row is skipped by that rule)."""
    text = data.decode("utf-8-sig", errors="replace")
    found = []
    for row in csv.reader(io.StringIO(text)):
        cell = next((c for c in row if c.strip()), "")
        if any(ch.isdigit() for ch in cell):
            found.append(cell.strip())
    return found


def add_numbers(raw: list[str], reason: str, by: User) -> AddResult:
    """Put numbers on the list (in the organisation's default region when they have no
    country code); says which were added, which were there already, which are not numbers."""
    if len(raw) > MAX_NUMBERS:
        raise supporters.SupporterError(f"at most {MAX_NUMBERS:,} numbers at a time")
    region = current_app.config["DEFAULT_REGION"]
    result = AddResult()
    seen = set()
    for text in raw:
        try:
            number = supporters.normalize_phone(text, region)
        except supporters.SupporterError as exc:
            result.invalid.append((text, str(exc)))
            continue
        if number in seen:
            continue
        seen.add(number)
        if db.session.get(DoNotCallNumber, number) is not None:
            result.already.append(number)
            continue
        supporters.add_to_do_not_call(
            number, reason=reason or "added by staff", source="staff", by=by
        )
        result.added.append(number)
    return result


def search(query: str, limit: int = 200) -> list[dict]:
    """Entries whose number contains the digits given, or held by a person of that name."""
    entries = select(DoNotCallNumber, User.name).outerjoin(
        User, User.id == DoNotCallNumber.added_by_id
    )
    query = (query or "").strip()
    if query:
        digits = re.sub(r"\D", "", query)
        held_by = (
            select(Phone.number)
            .join(Person, Person.id == Phone.person_id)
            .where(func.lower(Person.first_name + " " + Person.last_name).contains(query.lower()))
        )
        conditions = [DoNotCallNumber.number.in_(held_by)]
        if digits:
            conditions.append(DoNotCallNumber.number.contains(digits))
        entries = entries.where(or_(*conditions))
    rows = db.session.execute(entries.order_by(DoNotCallNumber.added_at.desc()).limit(limit)).all()
    numbers = [entry.number for entry, _ in rows]
    holders: dict[str, list[str]] = {}
    if numbers:
        for number, first, last in db.session.execute(
            select(Phone.number, Person.first_name, Person.last_name)
            .join(Person, Person.id == Phone.person_id)
            .where(Phone.number.in_(numbers))
        ):
            holders.setdefault(number, []).append(f"{first} {last}".strip())
    return [
        {"entry": entry, "added_by": name, "people": holders.get(entry.number, [])}
        for entry, name in rows
    ]


def flagged_people(query: str, limit: int = 50) -> list[Person]:
    """People flagged do-not-call whose name matches (every module honours the flag)."""
    query = (query or "").strip()
    if not query:
        return []
    return list(
        db.session.scalars(
            select(Person)
            .where(
                Person.do_not_call.is_(True),
                Person.merged_into_id.is_(None),
                func.lower(Person.first_name + " " + Person.last_name).contains(query.lower()),
            )
            .order_by(Person.last_name, Person.first_name)
            .limit(limit)
        )
    )


def history(limit: int = 100) -> list[tuple[DoNotCallChange, str | None]]:
    return list(
        db.session.execute(
            select(DoNotCallChange, User.name)
            .outerjoin(User, User.id == DoNotCallChange.by_id)
            .order_by(DoNotCallChange.id.desc())
            .limit(limit)
        ).all()
    )


def count() -> int:
    return db.session.scalar(select(func.count()).select_from(DoNotCallNumber)) or 0
