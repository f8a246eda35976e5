"""``flask lists import``, ``lists run`` and ``lists worker --once``, through click's runner."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from phonebank.lists import services
from phonebank.models import CampaignTarget, ExternalId, ListStatus, PeopleList, Person, Phone
from tests.lists.conftest import VAN_HEADER, count, person_by_van, van_row, write_file

REPORT_KEYS = {
    "rows_read",
    "rows_imported",
    "rows_rejected",
    "people_created",
    "people_updated",
    "people_merged",
    "phones_valid",
    "phones_invalid",
    "phones_duplicate",
    "phones_added",
    "invalid_reasons",
    "emails_added",
    "flagged_do_not_call",
    "do_not_call_skipped",
    "not_callable",
    "queued",
    "already_queued",
    "campaigns",
    "seconds",
}

ROWS = [
    VAN_HEADER,
    van_row("1", "Ann", "Lee", home="(202) 555-0101", State="TN", ZipOrPostal="37201"),
    van_row("2", "Bob", "Ray", cell="312-555-0102"),
    van_row("3", "Cy", "Oh", home="555-0103"),  # rejected: too few digits
]


@pytest.fixture
def runner(list_app):
    return list_app.test_cli_runner()


def test_import_with_campaign_and_json(db, runner, tmp_path, campaign):
    path = write_file(tmp_path, "van.csv", ROWS)

    result = runner.invoke(
        args=["lists", "import", str(path), "--campaign", str(campaign.id), "--json"]
    )

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(report) >= REPORT_KEYS
    assert report["rows_read"] == 3
    assert report["rows_rejected"] == 1
    assert report["people_created"] == 2
    assert report["invalid_reasons"] == {"too few digits": 1}
    assert report["campaigns"] == [{"id": campaign.id, "added": 2, "already": 0}]
    assert "VanID -> External ID (NGP VAN (VanID))" in result.stderr
    db.session.expire_all()
    plist = db.session.scalar(select(PeopleList))
    assert plist.status == ListStatus.DONE
    assert plist.name == "van"
    assert plist.report == report
    ann = person_by_van(db, "1")
    assert (
        db.session.scalar(select(CampaignTarget.zone_key).where(CampaignTarget.person_id == ann.id))
        == "America/Chicago|TN"
    )
    assert count(db, CampaignTarget) == 2


def test_import_region_system_name_and_plain_report(db, runner, tmp_path):
    rows = [["id", "first_name", "last_name", "phone"], ["77", "Ann", "Lee", "0131 496 0000"]]
    path = write_file(tmp_path, "uk.csv", rows)

    result = runner.invoke(
        args=[
            "lists",
            "import",
            str(path),
            "--region",
            "gb",
            "--system",
            "NationBuilder",
            "--name",
            "Edinburgh",
        ]
    )

    assert result.exit_code == 0, result.output
    assert "people_created: 1" in result.stdout
    assert db.session.scalar(select(Phone.number)) == "+441314960000"
    assert db.session.execute(select(ExternalId.system, ExternalId.value)).one() == (
        "nationbuilder",
        "77",
    )
    assert db.session.scalar(select(PeopleList.name)) == "Edinburgh"


def test_import_no_header_reads_row_one_as_data(db, runner, tmp_path):
    rows = [["FirstName", "Phone"], ["Ann", "2025550101"], ["Bob", "2025550102"]]
    rows += [["Cy", "2025550103"]]
    path = write_file(tmp_path, "plain.csv", rows)

    result = runner.invoke(args=["lists", "import", str(path), "--no-header", "--json"])

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["rows_read"] == 4
    assert report["rows_rejected"] == 1  # "FirstName, Phone" has no phone number
    assert db.session.scalar(select(PeopleList.header)) is None
    assert count(db, Person) == 3


def test_import_of_a_file_without_a_phone_column_fails_clearly(db, runner, tmp_path):
    path = write_file(tmp_path, "emails.csv", [["Name", "Email"], ["Ann Lee", "a@example.org"]])

    result = runner.invoke(args=["lists", "import", str(path), "--json"])

    assert result.exit_code != 0
    assert "Error: No column is mapped to “Phone number”" in result.output
    assert result.stdout == ""
    assert count(db, PeopleList) == 0
    assert count(db, Person) == 0


def test_import_refuses_an_unknown_campaign_before_storing_anything(
    db, runner, tmp_path, upload_dir
):
    path = write_file(tmp_path, "van.csv", ROWS)

    result = runner.invoke(args=["lists", "import", str(path), "--campaign", "999"])

    assert result.exit_code != 0
    assert "There is no campaign 999" in result.output
    assert count(db, PeopleList) == 0
    assert not upload_dir.exists() or list(upload_dir.iterdir()) == []


def test_a_refused_cli_import_leaves_no_file_behind(db, runner, tmp_path, upload_dir):
    path = write_file(tmp_path, "emails.csv", [["Name", "Email"], ["Ann Lee", "a@example.org"]])

    result = runner.invoke(args=["lists", "import", str(path)])

    assert result.exit_code != 0
    assert list(upload_dir.iterdir()) == []


def test_import_of_an_unreadable_file_fails_clearly(db, runner, tmp_path):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")

    result = runner.invoke(args=["lists", "import", str(path)])

    assert result.exit_code != 0
    assert "Error:" in result.output and "empty" in result.output.lower()
    assert count(db, PeopleList) == 0


def queue_list(db, tmp_path, name: str, rows, campaign_ids=()) -> int:
    plist = services.store_path(write_file(tmp_path, name, rows))
    services.confirm(plist, plist.mapping, list(campaign_ids))
    db.session.commit()
    return plist.id


def test_worker_once_imports_every_queued_list_then_exits(db, runner, tmp_path, campaign):
    first = queue_list(db, tmp_path, "one.csv", ROWS, [campaign.id])
    second = queue_list(
        db, tmp_path, "two.csv", [VAN_HEADER, van_row("9", "Di", "Fox", home="3125550109")]
    )

    result = runner.invoke(args=["lists", "worker", "--once"])

    assert result.exit_code == 0, result.output
    assert f"importing list {first}" in result.stderr
    assert f"importing list {second}" in result.stderr
    db.session.expire_all()
    statuses = dict(db.session.execute(select(PeopleList.id, PeopleList.status)).all())
    assert statuses == {first: ListStatus.DONE, second: ListStatus.DONE}
    assert db.session.get(PeopleList, first).started_at is not None
    assert count(db, Person) == 3
    assert count(db, CampaignTarget) == 2

    idle = runner.invoke(args=["lists", "worker", "--once"])
    assert idle.exit_code == 0
    assert "importing" not in idle.stderr


def test_worker_reports_a_failed_list_and_goes_on(db, runner, tmp_path, campaign):
    doomed = queue_list(db, tmp_path, "one.csv", ROWS, [campaign.id])
    fine = queue_list(db, tmp_path, "two.csv", [VAN_HEADER, van_row("9", home="3125550109")])
    db.session.delete(campaign)
    db.session.commit()

    result = runner.invoke(args=["lists", "worker", "--once"])

    assert result.exit_code == 0, result.output
    assert f"list {doomed}: Campaign" in result.stderr
    db.session.expire_all()
    assert db.session.get(PeopleList, doomed).status == ListStatus.FAILED
    assert db.session.get(PeopleList, fine).status == ListStatus.DONE
    assert count(db, Person) == 1


def test_run_imports_one_queued_list_and_prints_its_report(db, runner, tmp_path):
    list_id = queue_list(db, tmp_path, "one.csv", ROWS)

    result = runner.invoke(args=["lists", "run", str(list_id)])

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["people_created"] == 2
    again = runner.invoke(args=["lists", "run", str(list_id)])
    assert again.exit_code != 0
    assert "is done, not waiting to be imported" in again.output
