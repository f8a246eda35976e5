"""Results pages and exports as staff and leads use them: access by role, the page's figures,
export jobs (built in-process here) and their downloads checked against the database, formula
neutralising, the VAN file's shape, the export log, and the do-not-call page."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import func, select

from phonebank.extensions import db as _db
from phonebank.models import (
    Call,
    CampaignMember,
    DoNotCallChange,
    DoNotCallNumber,
    ExportJob,
    ExportLog,
    ExternalId,
    Role,
)
from phonebank.results import jobs
from phonebank.results.csvfile import safe_cell
from tests import factories
from tests.conftest import make_app, sign_in
from tests.results.test_figures import seeded  # noqa: F401  (the seeded campaign)

TRICKY = 'Yes, "really" — naïve\nsecond line'
FORMULA = '=HYPERLINK("http://evil.example","x")'


@pytest.fixture
def app(database_url, tmp_path):
    app = make_app(
        database_url, WTF_CSRF_ENABLED=False, UPLOAD_DIR=str(tmp_path), IMPORT_RUNNER="worker"
    )
    with app.app_context():
        yield app
        _db.session.remove()
        _db.engine.dispose()


@pytest.fixture
def people(app, db, seeded):  # noqa: F811
    campaign = seeded["campaign"]
    made = {
        "staff": factories.user(Role.STAFF, email="staff@example.org"),
        "lead": factories.user(Role.LEAD, email="lead@example.org"),
        "other_lead": factories.user(Role.LEAD, email="other@example.org"),
        "volunteer": factories.user(Role.VOLUNTEER, email="vol@example.org"),
    }
    db.session.add(CampaignMember(campaign_id=campaign.id, user_id=made["lead"].id))
    db.session.commit()
    return made


def client_for(app, user):
    client = app.test_client()
    assert sign_in(client, user.email).status_code == 302
    return client


def run_queued() -> None:
    """What ``flask exports worker`` does: build every queued job."""
    while (job_id := jobs.claim_next()) is not None:
        jobs.run_job(job_id)


def download_rows(client, job_id: int) -> list[dict]:
    response = client.get(f"/results/exports/{job_id}/download")
    assert response.status_code == 200, response.status_code
    text = response.get_data(as_text=True)
    response.close()
    return list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))


def export(client, campaign_id: int, **form) -> int:
    response = client.post(f"/results/campaigns/{campaign_id}/exports", data=form)
    assert response.status_code == 302, response.get_data(as_text=True)
    job_id = int(response.headers["Location"].rstrip("/").split("/")[-1])
    run_queued()
    return job_id


def test_access_by_role(app, people, seeded):  # noqa: F811
    campaign_id = seeded["campaign"].id
    assert client_for(app, people["volunteer"]).get("/results").status_code == 403
    assert (
        client_for(app, people["volunteer"]).get(f"/results/campaigns/{campaign_id}").status_code
        == 403
    )
    assert (
        client_for(app, people["other_lead"]).get(f"/results/campaigns/{campaign_id}").status_code
        == 403
    )
    lead = client_for(app, people["lead"])
    assert lead.get(f"/results/campaigns/{campaign_id}").status_code == 200
    assert "Results" in lead.get("/results").get_data(as_text=True)
    assert (
        client_for(app, people["staff"]).get(f"/results/campaigns/{campaign_id}").status_code == 200
    )
    assert client_for(app, people["lead"]).get("/do-not-call").status_code == 403
    assert client_for(app, people["lead"]).get("/results/exports").status_code == 403


def test_the_campaign_page_shows_the_figures(app, people, seeded):  # noqa: F811
    page = client_for(app, people["staff"]).get(
        f"/results/campaigns/{seeded['campaign'].id}?crosstab={seeded['helps'].id}"
    )
    html = page.get_data(as_text=True)
    assert 'data-fig="attempts">7<' in html and 'data-fig="contacts">4<' in html
    assert 'data-fig="ids">3<' in html
    assert "Ann" in html and "Bob" in html
    assert 'id="crosstab-table"' in html
    ten = client_for(app, people["staff"]).get(
        f"/results/campaigns/{seeded['campaign'].id}?start=2026-06-11&end=2026-06-11"
    )
    assert 'data-fig="attempts">1<' in ten.get_data(as_text=True)


def test_calls_export_matches_the_database(app, db, people, seeded):  # noqa: F811
    campaign, q = seeded["campaign"], seeded["q"]
    call = db.session.scalars(
        select(Call)
        .where(Call.campaign_id == campaign.id, Call.outcome_id.is_not(None))
        .order_by(Call.id)
    ).first()
    call.answers = {**call.answers, q["comment"]: TRICKY}
    call.notes = FORMULA
    db.session.add(ExternalId(person_id=call.person_id, system="van", value="10001"))
    db.session.commit()
    staff = client_for(app, people["staff"])
    job_id = export(staff, campaign.id, kind="calls", full_numbers="1")
    rows = download_rows(staff, job_id)
    assert len(rows) == db.session.scalar(
        select(func.count()).select_from(Call).where(Call.campaign_id == campaign.id)
    )
    first = next(r for r in rows if r["call_id"] == str(call.id))
    assert first["van_id"] == "10001"
    assert first["Anything else?"] == TRICKY  # comma, quotes, newline and accent kept
    assert first["notes"] == "'" + FORMULA  # a formula is neutralised
    assert first["phone"] == "'" + call.phone.number  # "+1…" starts like a formula, too
    assert first["outcome"] == "talked" and first["bucket"] == "contact"
    assert first["Support?"] == "Yes" and first["Help how?"] == "Phone; Doors"
    assert first["attempt"] == "1"
    assert first["callee_time_zone"] == "America/Anchorage"
    assert first["started_local"].startswith("2026-06-10 08:00")  # 16:00 UTC in Alaska
    # A lead's export masks the numbers and cannot ask for full ones.
    lead = client_for(app, people["lead"])
    refused = lead.post(
        f"/results/campaigns/{campaign.id}/exports", data={"kind": "calls", "full_numbers": "1"}
    )
    assert refused.status_code == 302 and "/exports/" not in refused.headers["Location"]
    masked = download_rows(lead, export(lead, campaign.id, kind="calls"))
    assert all(r["phone"].startswith("•••• ••• ") for r in masked)
    # Every request and download is logged, with who and how many rows.
    logged = db.session.scalars(select(ExportLog).order_by(ExportLog.id)).all()
    assert [(e.action, e.full_numbers) for e in logged][:2] == [
        ("requested", True),
        ("downloaded", True),
    ]
    assert logged[1].rows == len(rows)


def test_filters_and_excel(app, db, people, seeded):  # noqa: F811
    campaign = seeded["campaign"]
    staff = client_for(app, people["staff"])
    talked = download_rows(staff, export(staff, campaign.id, kind="calls", outcome="talked"))
    assert {r["outcome"] for r in talked} == {"talked"} and len(talked) == 3
    contacts = download_rows(staff, export(staff, campaign.id, kind="calls", bucket="contact"))
    assert len(contacts) == 4
    late = download_rows(
        staff, export(staff, campaign.id, kind="calls", start="2026-06-11", end="2026-06-11")
    )
    assert len(late) == 1
    answered = download_rows(
        staff,
        export(staff, campaign.id, kind="calls", question_id=str(seeded["main"].id), answer="No"),
    )
    assert [r["Support?"] for r in answered] == ["No"]
    job_id = export(staff, campaign.id, kind="people", excel="1")
    response = staff.get(f"/results/exports/{job_id}/download")
    raw = response.get_data()
    response.close()
    assert raw.startswith("\ufeff".encode())
    people_rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert len(people_rows) == 8


def test_van_export_never_sends_a_result_and_a_response_together(app, db, people, seeded):  # noqa: F811
    campaign, main = seeded["campaign"], seeded["main"]
    for call in db.session.scalars(select(Call).where(Call.campaign_id == campaign.id)):
        if (
            db.session.scalar(select(ExternalId.id).where(ExternalId.person_id == call.person_id))
            is None
        ):
            db.session.add(
                ExternalId(person_id=call.person_id, system="van", value=f"9{call.person_id}")
            )
    db.session.commit()
    staff = client_for(app, people["staff"])
    form = {"contact_type": "Phone", f"question_{main.id}": "555", f"response_{main.id}_0": "7001",
            f"response_{main.id}_1": "7002", "result_busy": "BZ", "result_no_answer": "NH",
            "result_machine": "NH", "result_refused": "RF", "result_talked": ""}  # fmt: skip
    assert staff.post(f"/results/campaigns/{campaign.id}/van", data=form).status_code == 302
    rows = download_rows(staff, export(staff, campaign.id, kind="van"))
    assert rows and all(bool(r["ResultCode"]) != bool(r["SurveyResponseID"]) for r in rows)
    responses = sorted(r["SurveyResponseID"] for r in rows if r["SurveyResponseID"])
    assert responses == ["7001", "7002"]  # Yes and No mapped; "Unsure" not mapped: left out
    assert sorted(r["ResultCode"] for r in rows if r["ResultCode"]) == ["BZ", "NH", "NH", "RF"]
    assert {r["ContactType"] for r in rows} == {"Phone"}
    assert all(r["DateCanvassed"].count("/") == 2 for r in rows)


def test_downloads_are_for_their_owner_and_staff(app, db, people, seeded):  # noqa: F811
    campaign = seeded["campaign"]
    lead = client_for(app, people["lead"])
    job_id = export(lead, campaign.id, kind="people")
    assert (
        client_for(app, people["other_lead"]).get(f"/results/exports/{job_id}/download").status_code
        == 404
    )
    assert client_for(app, people["volunteer"]).get(f"/results/exports/{job_id}").status_code == 403
    response = client_for(app, people["staff"]).get(f"/results/exports/{job_id}/download")
    assert response.status_code == 200
    response.close()
    status = lead.get(f"/results/exports/{job_id}/status").get_json()
    assert status["ready"] and status["rows"] == 8


def test_safe_cells():
    for text in ("=1+1", "+1 202", "-2", "@SUM(A1)", "\tx", "\rx"):
        assert safe_cell(text) == "'" + text
    assert safe_cell("plain") == "plain" and safe_cell(None) == "" and safe_cell(3) == 3
    assert safe_cell(-3) == -3  # a number is no formula; csv writes it as a number


def test_do_not_call_page(app, db, people):
    staff = client_for(app, people["staff"])
    response = staff.post(
        "/do-not-call/add",
        data={"numbers": "+1 202 555 0101\n(202) 555-0102, nonsense", "reason": "Asked by phone"},
    )
    assert response.status_code == 302
    assert db.session.scalar(select(func.count()).select_from(DoNotCallNumber)) == 2
    page = staff.get("/do-not-call?q=0101").get_data(as_text=True)
    found = page[
        page.index('id="dnc-entries"') : page.index("</table>", page.index('id="dnc-entries"'))
    ]
    assert "+12025550101" in found and "+12025550102" not in found and "Asked by phone" in found
    # Removing needs a reason, and is kept in the history.
    staff.post("/do-not-call/remove", data={"number": "+12025550101", "reason": ""})
    assert db.session.get(DoNotCallNumber, "+12025550101") is not None
    staff.post("/do-not-call/remove", data={"number": "+12025550101", "reason": "Consented again"})
    assert db.session.get(DoNotCallNumber, "+12025550101") is None
    actions = [
        c.action for c in db.session.scalars(select(DoNotCallChange).order_by(DoNotCallChange.id))
    ]
    assert actions == ["added", "added", "removed"]
    # Upload a file, then export the list.
    upload = (io.BytesIO(b"number\n+12025550103\n=cmd|x\n"), "numbers.csv")
    staff.post(
        "/do-not-call/add",
        data={"file": upload, "reason": "list"},
        content_type="multipart/form-data",
    )
    assert db.session.get(DoNotCallNumber, "+12025550103") is not None
    response = staff.post("/do-not-call/export", data={})
    job_id = int(response.headers["Location"].split("/")[-1])
    run_queued()
    rows = download_rows(staff, job_id)
    assert sorted(r["number"] for r in rows) == ["'+12025550102", "'+12025550103"]
    assert db.session.get(ExportJob, job_id).rows == 2


@pytest.mark.parametrize(
    "filters",
    [{}, {"outcome": "talked"}, {"bucket": "retry"}, {"start": "2026-06-11"}, "question", "answer"],
)
def test_postgresql_copy_writes_the_same_rows_as_the_python_path(app, db, people, seeded, filters):  # noqa: F811
    """On PostgreSQL the calls export is one COPY; its rows must be what the row-by-row path
    (SQLite's, and the reference) writes, cell for cell."""
    from phonebank.models import ExportKind
    from phonebank.results import exports
    from phonebank.results.csvfile import CsvLines

    campaign, q = seeded["campaign"], seeded["q"]
    call = db.session.scalars(select(Call).where(Call.campaign_id == campaign.id)).first()
    call.answers = {**(call.answers or {}), q["comment"]: TRICKY}
    call.notes = FORMULA
    db.session.add(ExternalId(person_id=call.person_id, system="van", value="=1+1"))
    db.session.commit()
    if filters == "question":
        filters = {"question_id": str(seeded["main"].id)}
    elif filters == "answer":
        filters = {"question_id": str(seeded["helps"].id), "answer": "Doors"}
    job = jobs.create_job(people["staff"], ExportKind.CALLS, campaign, filters, full_numbers=True)
    db.session.commit()
    export = exports.calls_export(job)
    if db.engine.dialect.name != "postgresql":
        assert export.copy_query is None  # SQLite writes row by row
        return
    lines = CsvLines()
    reference = list(csv.reader(io.StringIO("".join(lines.rows(b) for b in export.batches))))
    out = io.StringIO()
    count = jobs._copy(job.id, exports.calls_export(job), out)
    copied = list(csv.reader(io.StringIO(out.getvalue())))
    assert copied == reference
    assert count == len(reference)
    assert filters or any(TRICKY in row for row in copied)
