"""The staff pages for lists: access, upload, mapping form, report, rejects, cancel, and the
``list.watch`` Socket.IO event."""

from __future__ import annotations

import csv
import html
import io
import re

import pytest
from sqlalchemy import select

from phonebank.lists import events, services
from phonebank.models import CampaignTarget, ListStatus, PeopleList, Person, Role, Tag
from tests import factories
from tests.conftest import sign_in
from tests.lists.conftest import VAN_HEADER, count, csv_text, van_row

ROWS = [
    VAN_HEADER,
    van_row("1", "Ann", "Lee", home="(202) 555-0101", cell="312 555 0101", Party="D"),
    van_row("2", "Bob", "Ray", home="2025550102", IsHomePhoneACellExchange="1"),
    van_row("3", "Cy", "Oh", home="555-0103"),  # rejected
]


@pytest.fixture
def users(db, staff):
    made = {
        Role.STAFF: staff,
        Role.LEAD: factories.user(Role.LEAD),
        Role.VOLUNTEER: factories.user(Role.VOLUNTEER),
    }
    db.session.commit()
    return made


@pytest.fixture
def client(list_app):
    return list_app.test_client()


@pytest.fixture
def staff_client(client, users):
    sign_in(client, users[Role.STAFF].email)
    return client


def text_of(response) -> str:
    body = re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))
    return re.sub(r"\s+", " ", html.unescape(body))


def flashes(response) -> list[str]:
    page = response.get_data(as_text=True)
    return [
        re.sub(r"\s+", " ", html.unescape(m)).strip()
        for m in re.findall(r'<div class="flash flash-\w+" role="\w+">(.*?)</div>', page, re.S)
    ]


def upload(client, content: bytes, filename: str = "van.csv", name: str = ""):
    return client.post(
        "/lists/upload",
        data={"file": (io.BytesIO(content), filename), "name": name},
        content_type="multipart/form-data",
    )


def uploaded(client, rows=ROWS, **kwargs) -> PeopleList:
    response = upload(client, csv_text(rows).encode(), **kwargs)
    assert response.status_code == 302, response.get_data(as_text=True)
    list_id = int(re.fullmatch(r"/lists/(\d+)/map", response.headers["Location"]).group(1))
    from phonebank.extensions import db

    return db.session.get(PeopleList, list_id)


def mapping_form(mapping: dict, **extra) -> dict:
    """The map page's form, filled in with this mapping."""
    data = {"region": mapping["region"], "id_system": mapping["id_system"]}
    for index, column in enumerate(mapping["columns"]):
        data[f"field-{index}"] = column["field"]
        data[f"slot-{index}"] = str(column.get("slot", 1))
        data[f"type-{index}"] = column.get("type", "unknown")
        data[f"name-{index}"] = column.get("name", "")
    data.update(extra)
    return data


def mapping_row(page: str, index: int) -> str:
    return re.search(rf'<tr data-index="{index}">(.*?)</tr>', page, re.S).group(1)


def selected(row: str, name: str) -> str:
    select_html = re.search(rf'<select name="{name}.*?</select>', row, re.S).group(0)
    return re.search(r'<option value="([^"]*)" selected>', select_html).group(1)


# --- access ----------------------------------------------------------------------------------


def every_list_url(app, list_id: int) -> list[tuple[str, str]]:
    urls = []
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("lists."):
            continue
        url = rule.build({name: list_id for name in rule.arguments})[1]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            urls.append((method, url))
    return urls


@pytest.mark.parametrize("role", [Role.VOLUNTEER, Role.LEAD], ids=lambda r: r.value)
def test_every_list_url_is_forbidden_below_staff(list_app, db, client, users, role):
    plist = services.store_path(write_rows(list_app))
    db.session.commit()
    urls = every_list_url(list_app, plist.id)
    assert {url for _, url in urls} >= {
        "/lists",
        "/lists/upload",
        f"/lists/{plist.id}",
        f"/lists/{plist.id}/map",
        f"/lists/{plist.id}/format",
        f"/lists/{plist.id}/progress",
        f"/lists/{plist.id}/cancel",
        f"/lists/{plist.id}/again",
        f"/lists/{plist.id}/rejects.csv",
    }
    sign_in(client, users[role].email)
    for method, url in urls:
        response = client.open(url, method=method, data={"has_header": "0"})
        assert response.status_code == 403, (method, url)
    assert db.session.get(PeopleList, plist.id).status == ListStatus.UPLOADED


def test_list_pages_need_sign_in(list_app, db, client, users):
    plist = services.store_path(write_rows(list_app))
    db.session.commit()
    for method, url in every_list_url(list_app, plist.id):
        response = client.open(url, method=method)
        assert response.status_code == 302, (method, url)
        assert "/login" in response.headers["Location"]


def write_rows(app, rows=ROWS):
    from pathlib import Path

    folder = Path(app.config["UPLOAD_DIR"]).parent / "files"
    folder.mkdir(exist_ok=True)
    path = folder / "van.csv"
    path.write_text(csv_text(rows))
    return path


# --- upload and mapping --------------------------------------------------------------------


def test_upload_leads_to_the_suggested_mapping(db, staff_client, campaign):
    plist = uploaded(staff_client, name="Spring canvass")
    assert plist.status == ListStatus.UPLOADED
    assert plist.name == "Spring canvass"
    assert plist.filename == "van.csv"

    response = staff_client.get(f"/lists/{plist.id}/map")

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Check the columns of “van.csv”" in html.unescape(page)
    home = mapping_row(page, VAN_HEADER.index("HomePhone"))
    assert "HomePhone" in home and "(202) 555-0101" in home
    assert selected(home, "field-") == "phone"
    assert selected(home, "type-") == "home"
    cell = mapping_row(page, VAN_HEADER.index("CellPhone"))
    assert (selected(cell, "field-"), selected(cell, "slot-")) == ("phone", "2")
    exchange = mapping_row(page, VAN_HEADER.index("IsHomePhoneACellExchange"))
    assert (selected(exchange, "field-"), selected(exchange, "slot-")) == ("phone_is_cell", "1")
    assert selected(mapping_row(page, 0), "field-") == "external_id"
    assert selected(mapping_row(page, VAN_HEADER.index("Party")), "field-") == "custom"
    assert '<option value="van" selected>' in page
    assert f'name="campaign" value="{campaign.id}"' in page


def test_an_empty_upload_is_refused_with_a_message_and_nothing_kept(db, staff_client, upload_dir):
    response = upload(staff_client, b"", "empty.csv")

    assert response.status_code == 302
    assert response.headers["Location"] == "/lists"
    page = staff_client.get("/lists")
    [message] = flashes(page)
    assert message.startswith("empty.csv: ")
    assert "empty" in message[len("empty.csv: ") :].lower()
    assert count(db, PeopleList) == 0
    assert not upload_dir.exists() or list(upload_dir.iterdir()) == []


def test_upload_without_a_file_asks_for_one(db, staff_client):
    response = staff_client.post("/lists/upload", data={}, follow_redirects=True)
    assert flashes(response) == ["Choose a file to upload."]
    assert count(db, PeopleList) == 0


def test_a_mapping_without_a_phone_column_is_refused_on_the_page(db, staff_client):
    plist = uploaded(staff_client)
    form = mapping_form(plist.mapping)
    for index, column in enumerate(plist.mapping["columns"]):
        if column["field"].startswith("phone"):
            form[f"field-{index}"] = "ignore"

    response = staff_client.post(f"/lists/{plist.id}/map", data=form)

    assert response.status_code == 400
    page = response.get_data(as_text=True)
    error = re.search(r'id="mapping-error">(.*?)</div>', page, re.S).group(1)
    assert "No column is mapped to “Phone number”" in html.unescape(error)
    # The form keeps what staff chose.
    assert selected(mapping_row(page, VAN_HEADER.index("HomePhone")), "field-") == "ignore"
    db.session.expire_all()
    assert db.session.get(PeopleList, plist.id).status == ListStatus.UPLOADED


def test_confirming_a_mapping_queues_the_import_then_the_page_shows_the_report(
    db, staff_client, campaign, users
):
    plist = uploaded(staff_client)
    list_id = plist.id
    form = mapping_form(
        plist.mapping, campaign=str(campaign.id), name="Renamed", list_tag="Spring 2026"
    )
    form[f"name-{VAN_HEADER.index('Party')}"] = "Party code"

    response = staff_client.post(f"/lists/{list_id}/map", data=form)

    assert response.status_code == 302
    assert response.headers["Location"] == f"/lists/{list_id}"
    db.session.expire_all()
    plist = db.session.get(PeopleList, list_id)
    assert plist.status == ListStatus.QUEUED
    assert plist.name == "Renamed"
    assert plist.campaign_ids == [campaign.id]
    assert plist.created_by_id == users[Role.STAFF].id
    assert plist.mapping["columns"][VAN_HEADER.index("Party")]["name"] == "Party code"
    waiting = staff_client.get(f"/lists/{list_id}")
    assert "Waiting for the import to start" in text_of(waiting)
    assert staff_client.get(f"/lists/{list_id}/rejects.csv").status_code == 404
    assert count(db, Person) == 0  # nothing runs in the web process with IMPORT_RUNNER=worker

    services.run_with_files(list_id)

    response = staff_client.get(f"/lists/{list_id}")
    assert response.status_code == 200
    page = text_of(response)
    assert "Rows read 3 2 imported, 1 rejected" in page
    assert re.search(r'id="people-created">2<', response.get_data(as_text=True))
    assert "Phones invalid 1 too few digits: 1" in page
    assert "Added to call lists 2" in page
    assert re.search(r"Levy calls ?: 2 added, 0 already on the list", page)
    assert "Download the 1 rejected rows" in page
    assert count(db, CampaignTarget) == 2
    assert db.session.scalar(select(Tag.name)) == "Spring 2026"

    progress = staff_client.get(f"/lists/{list_id}/progress").get_json()
    assert progress["status"] == "done"
    assert progress["report"]["people_created"] == 2
    assert progress["progress"] is None

    listing = text_of(staff_client.get("/lists"))
    assert "Renamed" in listing and "done" in listing

    rejects = staff_client.get(f"/lists/{list_id}/rejects.csv")
    assert rejects.status_code == 200
    assert rejects.mimetype == "text/csv"
    assert 'filename="van-rejected-rows.csv"' in rejects.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(rejects.get_data(as_text=True))))
    assert rows[0] == ["row", "reason", *VAN_HEADER]
    assert rows[1][:2] == ["4", "no usable phone number: HomePhone “555-0103”: too few digits"]
    assert rows[1][2:] == ROWS[3]


def test_a_confirmed_list_no_longer_offers_its_mapping(db, staff_client):
    plist = uploaded(staff_client)
    assert staff_client.post(f"/lists/{plist.id}/map", data=mapping_form(plist.mapping))
    response = staff_client.get(f"/lists/{plist.id}/map")
    assert response.status_code == 302
    assert response.headers["Location"] == f"/lists/{plist.id}"
    again = staff_client.post(f"/lists/{plist.id}/map", data=mapping_form(plist.mapping))
    assert again.headers["Location"] == f"/lists/{plist.id}"
    assert staff_client.post(f"/lists/{plist.id}/format", data={"has_header": "0"}).status_code == (
        409
    )


def test_row_one_is_data_switches_to_mapping_by_position(db, staff_client):
    plist = uploaded(staff_client)

    response = staff_client.post(f"/lists/{plist.id}/format", data={"has_header": "0"})

    assert response.headers["Location"] == f"/lists/{plist.id}/map"
    db.session.expire_all()
    plist = db.session.get(PeopleList, plist.id)
    assert plist.header is None
    assert plist.file_format["has_header"] is False
    page = staff_client.get(f"/lists/{plist.id}/map").get_data(as_text=True)
    assert "The file has no header row" in page


def test_unknown_list_is_404(staff_client):
    assert staff_client.get("/lists/999").status_code == 404
    assert staff_client.get("/lists/999/progress").status_code == 404


# --- cancel and import again ---------------------------------------------------------------


def test_cancel_of_a_queued_list_then_import_again(db, staff_client, campaign):
    plist = uploaded(staff_client)
    list_id = plist.id
    staff_client.post(
        f"/lists/{list_id}/map", data=mapping_form(plist.mapping, campaign=str(campaign.id))
    )

    response = staff_client.post(f"/lists/{list_id}/cancel", follow_redirects=True)

    assert "Cancelling: nothing from this import will be kept." in flashes(response)
    assert "Import cancelled" in text_of(response)
    db.session.expire_all()
    assert db.session.get(PeopleList, list_id).status == ListStatus.CANCELLED
    assert staff_client.get(f"/lists/{list_id}/progress").get_json()["status"] == "cancelled"
    late = staff_client.post(f"/lists/{list_id}/cancel", follow_redirects=True)
    assert "This import has already finished." in flashes(late)

    response = staff_client.post(f"/lists/{list_id}/again")

    assert response.status_code == 302
    copy_id = int(response.headers["Location"].rsplit("/", 1)[1])
    assert copy_id != list_id
    copy = db.session.get(PeopleList, copy_id)
    assert copy.status == ListStatus.QUEUED
    assert copy.campaign_ids == [campaign.id]
    services.run_with_files(copy_id)
    assert count(db, CampaignTarget) == 2
    assert staff_client.post(f"/lists/{copy_id}/again").status_code == 409


def test_cancel_of_a_running_list_asks_the_job_to_stop(db, staff_client, upload_dir):
    plist = uploaded(staff_client)
    staff_client.post(f"/lists/{plist.id}/map", data=mapping_form(plist.mapping))
    plist.status = ListStatus.RUNNING
    db.session.commit()

    staff_client.post(f"/lists/{plist.id}/cancel")

    assert (upload_dir / f"{plist.stored_name}.cancel").exists()
    db.session.expire_all()
    assert db.session.get(PeopleList, plist.id).status == ListStatus.RUNNING


# --- Socket.IO -------------------------------------------------------------------------------


@pytest.fixture
def socket_for(list_app, monkeypatch):
    from phonebank.extensions import socketio

    monkeypatch.setattr(events, "_watched", {})  # the lists this process watches
    made = []

    def connect(email: str):
        flask_client = list_app.test_client()
        sign_in(flask_client, email)
        socket = socketio.test_client(list_app, flask_test_client=flask_client)
        assert socket.is_connected()
        made.append(socket)
        return socket

    yield connect
    for socket in made:
        if socket.is_connected():
            socket.disconnect()
    events._watched.clear()


def test_list_watch_is_for_staff_only(db, users, socket_for, list_app):
    plist = services.store_path(write_rows(list_app))
    services.confirm(plist, plist.mapping, [])
    db.session.commit()
    volunteer = socket_for(users[Role.VOLUNTEER].email)
    lead = socket_for(users[Role.LEAD].email)
    staff = socket_for(users[Role.STAFF].email)

    for socket in (volunteer, lead):
        reply = socket.emit("list.watch", {"list_id": plist.id}, callback=True)
        assert reply["ok"] is False
        assert "staff" in reply["error"].lower()
    assert plist.id not in events._watched

    reply = staff.emit("list.watch", {"list_id": plist.id}, callback=True)

    assert reply["ok"] is True
    assert reply["state"] == {
        "id": plist.id,
        "status": "queued",
        "progress": None,
        "report": None,
        "error": None,
    }
    assert events._watched[plist.id] == "queued"
    assert staff.emit("list.watch", {"list_id": 999}, callback=True)["ok"] is False
    assert staff.emit("list.watch", {"list_id": "x"}, callback=True)["ok"] is False
    assert staff.emit("list.watch", None, callback=True)["ok"] is False


def test_list_watch_reply_carries_the_report_of_a_finished_list(db, users, socket_for, list_app):
    plist = services.store_path(write_rows(list_app))
    services.confirm(plist, plist.mapping, [])
    db.session.commit()
    services.run_with_files(plist.id)
    staff = socket_for(users[Role.STAFF].email)

    reply = staff.emit("list.watch", {"list_id": plist.id}, callback=True)

    assert reply["ok"] is True
    assert reply["state"]["status"] == "done"
    assert reply["state"]["report"]["people_created"] == 2
