"""Fixtures for list imports: an app whose uploads go to a temporary folder, staff, a campaign,
and helpers that write list files and run an import the way the upload page does."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

import pytest
from sqlalchemy import func, select

from phonebank.models import (
    Activity,
    Address,
    CampaignTarget,
    CustomField,
    Email,
    ExternalId,
    ListMember,
    Person,
    PersonTag,
    Phone,
    Role,
)
from tests import factories
from tests.conftest import make_app

VAN_HEADER = [
    "VanID",
    "FirstName",
    "LastName",
    "Address",
    "City",
    "State",
    "ZipOrPostal",
    "Email",
    "HomePhone",
    "CellPhone",
    "WorkPhone",
    "IsHomePhoneACellExchange",
    "Party",
]

# Valid numbers (phonenumbers agrees) with known zones.
DC = "+12025550101"  # America/New_York
CHICAGO = "+13125550101"  # America/Chicago


@pytest.fixture
def upload_dir(tmp_path) -> Path:
    return tmp_path / "uploads"


@pytest.fixture
def list_app(database_url, upload_dir):
    """The app on the database matrix; imports run in-process (IMPORT_RUNNER=worker)."""
    app = make_app(
        database_url,
        WTF_CSRF_ENABLED=False,
        UPLOAD_DIR=str(upload_dir),
        IMPORT_RUNNER="worker",
    )
    with app.app_context():
        yield app
        from phonebank.extensions import db

        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def db(list_app):
    from phonebank.extensions import db

    return db


@pytest.fixture
def staff(db):
    made = factories.user(Role.STAFF, email="staff@example.org")
    db.session.commit()
    return made


@pytest.fixture
def campaign(db, staff):
    from phonebank.campaigns.services import create_campaign

    made = create_campaign("Levy calls", staff)
    db.session.commit()
    return made


def csv_text(rows: Sequence[Sequence[str]], delimiter: str = ",", newline: str = "\n") -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator=newline)
    writer.writerows(rows)
    return buffer.getvalue()


def write_file(folder: Path, name: str, rows, *, encoding="utf-8", **options) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(csv_text(rows, **options).encode(encoding))
    return path


def van_row(van_id="", first="", last="", home="", cell="", work="", **more) -> list[str]:
    values = {
        "VanID": van_id,
        "FirstName": first,
        "LastName": last,
        "HomePhone": home,
        "CellPhone": cell,
        "WorkPhone": work,
    }
    values.update({key: str(value) for key, value in more.items()})
    return [values.get(column, "") for column in VAN_HEADER]


def import_path(path, campaign_ids=(), change=None, user=None) -> tuple[int, dict]:
    """store_path -> confirm (the suggested mapping, changed by ``change``) -> run in-process.

    Returns (list id, report)."""
    from phonebank.extensions import db
    from phonebank.lists import services

    plist = services.store_path(path, user=user)
    mapping = dict(plist.mapping)
    mapping.pop("reused", None)
    if change is not None:
        mapping = change(mapping) or mapping
    services.confirm(plist, mapping, list(campaign_ids))
    db.session.commit()
    list_id = plist.id
    report = services.run_with_files(list_id)
    return list_id, report


def count(db, model, *where) -> int:
    query = select(func.count()).select_from(model)
    for condition in where:
        query = query.where(condition)
    return db.session.scalar(query)


STORE_TABLES = (
    Person,
    Phone,
    Email,
    Address,
    ExternalId,
    CustomField,
    PersonTag,
    Activity,
    CampaignTarget,
)


def table_counts(db) -> dict[str, int]:
    return {model.__tablename__: count(db, model) for model in (*STORE_TABLES, ListMember)}


def phones_of(db, person_id: int) -> dict[str, str]:
    """number -> type of one person's phones."""
    return {
        number: str(kind)
        for number, kind in db.session.execute(
            select(Phone.number, Phone.type).where(Phone.person_id == person_id)
        )
    }


def people_named(db, first: str, last: str) -> list[Person]:
    return list(
        db.session.scalars(
            select(Person)
            .where(Person.first_name == first, Person.last_name == last)
            .order_by(Person.id)
        )
    )


def person_by_van(db, van_id: str) -> Person:
    person_id = db.session.scalar(
        select(ExternalId.person_id).where(ExternalId.system == "van", ExternalId.value == van_id)
    )
    assert person_id is not None, f"no person with VanID {van_id}"
    return db.session.get(Person, person_id)
