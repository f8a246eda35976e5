"""Staff import a target list in Chromium: upload a VAN export, check the suggested column
mapping, start the import, watch the progress bar move over Socket.IO until the page reloads
itself with the report, and download the rejected rows. The import runs in a child process of
a real gunicorn + gevent server (IMPORT_RUNNER=subprocess, the default) on PostgreSQL.
"""

from __future__ import annotations

import csv
import random
import re
import time
from pathlib import Path

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, expect
from sqlalchemy import create_engine, text

from phonebank.models import Role
from tests.browser.conftest import expect_connected, sign_in
from tests.conftest import REPO_ROOT, LiveServer, check_server_log, make_app
from tests.factories import campaign as make_campaign

pytestmark = [pytest.mark.live]

HEADER = [
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
# What the map page should suggest for each header (the value of its .field-select).
SUGGESTED = {
    "VanID": "external_id",
    "FirstName": "first_name",
    "LastName": "last_name",
    "Address": "address1",
    "City": "city",
    "State": "state",
    "ZipOrPostal": "postcode",
    "Email": "email",
    "HomePhone": "phone",
    "CellPhone": "phone",
    "WorkPhone": "phone",
    "IsHomePhoneACellExchange": "phone_is_cell",
    "Party": "custom",
}
# Real area codes, each with a city, state and ZIP code inside it.
PLACES = [
    ("212", "New York", "NY", "10001"),
    ("312", "Chicago", "IL", "60601"),
    ("615", "Nashville", "TN", "37201"),
    ("303", "Denver", "CO", "80202"),
]
# Central-office codes 200-999, without the N11 service codes and 555 (directory/fiction).
EXCHANGES = [e for e in range(200, 1000) if e % 100 != 11 and e != 555]
FIRST_NAMES = ["Ana", "Ben", "Chloé", "Dev", "Eli", "Fatima", "Gus", "Hana", "Ivan", "Jo"]
ROWS = 60_000
BAD_EVERY = 97  # every 97th row has only unusable phones, so it is rejected
BAD_HOME = ("n/a", "12", "none", "555-01")


@pytest.fixture(scope="module")
def upload_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("list-uploads")


@pytest.fixture(scope="module")
def browser_server(postgres_database, tmp_path_factory, upload_dir):
    """The shared live server of tests/browser/conftest.py, storing uploads in a tmp folder
    (the import child process inherits the folder from the server's config)."""
    server = LiveServer(
        postgres_database,
        tmp_path_factory.mktemp("browser-server"),
        PHONEBANK_UPLOAD_DIR=str(upload_dir),
    ).start()
    yield server
    server.stop()
    check_server_log(server)


def write_van_csv(path: Path, rows: int, seed: int = 7) -> dict:
    """A VAN-style export; returns what a correct import of it must give."""
    rng = random.Random(seed)

    def number(area: str) -> str:
        return f"{area}-{rng.choice(EXCHANGES)}-{rng.randrange(10_000):04d}"

    rejected: dict[str, str] = {}  # VanID -> the bad HomePhone value
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(HEADER)
        for i in range(rows):
            van_id = str(100_000 + i)
            area, city, state, zip_code = PLACES[i % len(PLACES)]
            if i % BAD_EVERY == BAD_EVERY // 2:
                home = BAD_HOME[len(rejected) % len(BAD_HOME)]
                cell, work = ("12" if i % 2 else "", "")
                rejected[van_id] = home
            else:
                home = number(area)
                cell = number(area) if i % 3 == 0 else ""
                work = f"({area}) {rng.choice(EXCHANGES)}-{rng.randrange(10_000):04d}"
                work = work if i % 10 == 0 else ""
            writer.writerow(
                [
                    van_id,
                    FIRST_NAMES[i % len(FIRST_NAMES)],
                    f"Tester{i}",
                    f"{1 + i % 900} Main St",
                    city,
                    state,
                    zip_code,
                    f"person{i}@example.org" if i % 4 == 0 else "",
                    home,
                    cell,
                    work,
                    "1" if i % 5 == 0 else "0",
                    "DRU"[i % 3],
                ]
            )
    return {"rows": rows, "rejected": rejected}


def seed_campaign(database_url: str, name: str) -> int:
    app = make_app(database_url)
    with app.app_context():
        from phonebank.extensions import db

        campaign_id = make_campaign(name).id
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return campaign_id


def query(database_url: str, sql: str, **params):
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql), params).all()
    finally:
        engine.dispose()


def upload(page: Page, base_url: str, path: Path, name: str) -> int:
    """From any signed-in page: the header's "Lists" link, then the upload form."""
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Lists").click()
    expect(page).to_have_url(base_url + "/lists")
    expect(page.get_by_role("heading", name="Lists", level=1)).to_be_visible()
    page.set_input_files("#list-file", str(path))
    page.locator("#upload-form").get_by_label("List name").fill(name)
    page.locator("#upload-form").get_by_role("button", name="Upload").click()
    expect(page).to_have_url(re.compile(re.escape(base_url) + r"/lists/\d+/map$"), timeout=30_000)
    return int(re.search(r"/lists/(\d+)/map$", page.url).group(1))


def watch_progress(page: Page, timeout: float = 60) -> tuple[list[float], list[str]]:
    """Sample the progress bar and text every ~100 ms until the page shows the report (after
    reloading itself). Samples are taken only while the progress card is shown."""
    values: list[float] = []
    texts: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            sample = page.evaluate(
                """() => {
                    const box = document.getElementById("import-progress");
                    return {
                        report: !!document.getElementById("import-report"),
                        shown: !!box && !box.hidden,
                        value: document.getElementById("progress-bar")?.value ?? null,
                        text: document.getElementById("progress-text")?.textContent ?? "",
                    };
                }"""
            )
        except PlaywrightError:  # the page is reloading itself
            sample = None
        if sample is not None:
            if sample["report"]:
                return values, texts
            if sample["shown"]:
                values.append(sample["value"])
                if not texts or texts[-1] != sample["text"]:
                    texts.append(sample["text"])
        time.sleep(0.1)
    raise AssertionError(
        f"no report after {timeout} s; bar values {values[-10:]}, texts {texts[-5:]}"
    )


def test_staff_import_a_van_list_watching_its_progress(site, browser, tmp_path, upload_dir):
    csv_path = tmp_path / "van-export.csv"
    expected = write_van_csv(csv_path, ROWS)
    campaign_id = seed_campaign(site.server.database_url, "Spring phone bank")
    uploads_before = set(upload_dir.iterdir())

    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    sign_in(page, site.url, site.users[Role.STAFF][1])
    expect(page.get_by_role("heading", name="Staff overview")).to_be_visible()

    # Upload: the file is stored in the configured folder, and the map page opens.
    list_id = upload(page, site.url, csv_path, "Spring VAN export")
    ((stored_name, size, status),) = query(
        site.server.database_url,
        "select stored_name, size_bytes, status from lists where id = :id",
        id=list_id,
    )
    assert status == "uploaded"
    assert (upload_dir / stored_name).stat().st_size == size == csv_path.stat().st_size
    assert set(upload_dir.iterdir()) - uploads_before == {upload_dir / stored_name}
    assert not (REPO_ROOT / "instance" / "uploads" / stored_name).exists()

    # The suggested mapping, from VAN's column names.
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Check the columns of “van-export.csv”"
    )
    table = page.locator("#mapping-table")
    expect(table.locator("tbody tr")).to_have_count(len(HEADER))
    for index, name in enumerate(HEADER):
        row = table.locator(f"tbody tr[data-index='{index}']")
        expect(row.locator("th")).to_have_text(name)
        expect(row.locator(".field-select")).to_have_value(SUGGESTED[name])
    expect(page.get_by_label("Import VanID as")).to_have_value("external_id")
    expect(page.get_by_label("Import HomePhone as")).to_have_value("phone")
    expect(page.get_by_label("Phone type of HomePhone")).to_have_value("home")
    expect(page.get_by_label("Phone type of CellPhone")).to_have_value("mobile")
    expect(page.get_by_label("Phone type of WorkPhone")).to_have_value("work")
    expect(page.get_by_label("Phone slot of IsHomePhoneACellExchange")).to_have_value(
        page.get_by_label("Phone slot of HomePhone").input_value()
    )
    # lists.js shows only the details that apply to each column's choice.
    expect(page.get_by_label("Phone type of HomePhone")).to_be_visible()
    expect(page.get_by_label("Phone slot of VanID")).to_be_hidden()
    expect(page.get_by_label("Custom field name for Party")).to_be_visible()
    expect(page.get_by_label("External IDs come from")).to_have_value("van")
    expect(page.get_by_label("Phone numbers without a country code are from")).to_have_value("US")
    expect(table.locator("tbody tr[data-index='0'] .samples code").first).to_have_text("100000")
    expect_connected(page)
    page.screenshot(path=str(tmp_path / "lists-map.png"), full_page=True)

    campaign_box = page.locator(f"#campaign-choices input[name=campaign][value='{campaign_id}']")
    expect(campaign_box).not_to_be_checked()
    campaign_box.check()
    page.locator("#start-import").click()

    # The list page: the progress bar moves, then the page reloads itself with the report.
    expect(page).to_have_url(f"{site.url}/lists/{list_id}")
    expect(page.get_by_role("heading", name="Spring VAN export", level=1)).to_be_visible()
    values, texts = watch_progress(page)
    (tmp_path / "progress-samples.txt").write_text("\n".join([repr(values), *texts]))
    intermediate = [v for v in values if 0 < v < 1]
    assert intermediate, f"the bar never showed a value between 0 and 1: {values}, {texts}"
    assert values == sorted(values), f"the bar went backwards: {values}"
    assert any(re.search(r"[\d,]+ rows done \(\d+%\)", t) for t in texts), texts
    expect(page.locator("#list-status")).to_have_text("done")
    expect(page.locator("#import-progress")).to_be_hidden()
    report_box = page.locator("#import-report")
    expect(report_box).to_be_visible()

    # The report agrees with the file and with the database.
    ((report,),) = query(
        site.server.database_url, "select report from lists where id = :id", id=list_id
    )
    rejected = expected["rejected"]
    assert report["rows_read"] == ROWS
    assert report["rows_rejected"] == len(rejected)
    assert report["rows_imported"] == ROWS - len(rejected)
    shown = int(page.locator("#people-created").inner_text().replace(",", ""))
    assert shown > 0
    assert shown == report["people_created"]
    ((people_with_phones,),) = query(
        site.server.database_url,
        "select count(distinct person_id) from phones where source = :source",
        source=f"list:{list_id}",
    )
    ((members,),) = query(
        site.server.database_url,
        "select count(*) from list_members where list_id = :id",
        id=list_id,
    )
    assert shown == people_with_phones == members == ROWS - len(rejected)
    ((queued,),) = query(
        site.server.database_url,
        "select count(*) from campaign_targets where campaign_id = :id",
        id=campaign_id,
    )
    assert queued == report["queued"] == shown
    expect(report_box).to_contain_text(f"{len(rejected):,} rejected")
    expect(report_box.get_by_role("link", name="Spring phone bank")).to_be_visible()
    page.screenshot(path=str(tmp_path / "lists-done.png"), full_page=True)

    # The rejected rows, as a CSV download.
    link = page.locator("#rejects-link")
    expect(link).to_contain_text(f"Download the {len(rejected):,} rejected rows")
    with page.expect_download() as download_info:
        link.click()
    download = download_info.value
    assert download.suggested_filename == "van-export-rejected-rows.csv"
    saved = tmp_path / "rejects.csv"
    download.save_as(saved)
    content = saved.read_text(encoding="utf-8")
    assert content.startswith("row,reason,")
    lines = list(csv.reader(content.splitlines()))
    assert lines[0] == ["row", "reason", *HEADER]
    data = lines[1:]
    assert len(data) == report["rows_rejected"] == len(rejected)
    got = {cells[2]: (int(cells[0]), cells[1]) for cells in data}
    assert set(got) == set(rejected)
    for van_id, bad in rejected.items():
        number, reason = got[van_id]
        assert number == int(van_id) - 100_000 + 2  # the file's row number; the header is row 1
        assert reason.startswith("no usable phone number: "), reason
        assert f"HomePhone “{bad}”" in reason, reason
    assert any("“n/a”" in reason for _, reason in got.values())

    assert errors == []


def test_map_page_fits_a_phone_screen(site, phone_browser, tmp_path):
    csv_path = tmp_path / "small-van-export.csv"
    write_van_csv(csv_path, 20)
    page = phone_browser.new_page()
    sign_in(page, site.url, site.users[Role.STAFF][1])
    expect(page.get_by_role("heading", name="Staff overview")).to_be_visible()
    page.goto(site.url + "/lists")
    page.set_input_files("#list-file", str(csv_path))
    page.locator("#upload-form").get_by_role("button", name="Upload").click()
    expect(page).to_have_url(re.compile(r"/lists/\d+/map$"))
    expect(page.locator("#mapping-table tbody tr")).to_have_count(len(HEADER))
    page.screenshot(path=str(tmp_path / "lists-map-phone.png"), full_page=True)

    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390 + 2, f"the map page is {width}px wide on a 390px screen"
    # The wide mapping table scrolls inside its card instead of widening the page.
    card = page.locator("section.card", has=page.locator("#mapping-table"))
    scroll = card.evaluate(
        "el => ({overflow: getComputedStyle(el).overflowX, inner: el.scrollWidth,"
        " outer: el.clientWidth, right: el.getBoundingClientRect().right})"
    )
    assert scroll["overflow"] == "auto", scroll
    assert scroll["inner"] > scroll["outer"], scroll  # the table is wider: it scrolls
    assert scroll["right"] <= 390, scroll
    expect(page.locator("#start-import")).to_be_visible()


def test_campaign_checkbox_sits_beside_its_name(site, browser, tmp_path):
    csv_path = tmp_path / "small-van-export.csv"
    write_van_csv(csv_path, 20)
    campaign_id = seed_campaign(site.server.database_url, "Spring phone bank")
    page = browser.new_page()
    sign_in(page, site.url, site.users[Role.STAFF][1])
    expect(page.get_by_role("heading", name="Staff overview")).to_be_visible()
    upload(page, site.url, csv_path, "Small")

    box = page.locator(f"#campaign-choices input[name=campaign][value='{campaign_id}']")
    label = box.locator("xpath=..")
    expect(label).to_contain_text("Spring phone bank")
    checkbox, whole = box.bounding_box(), label.bounding_box()
    assert checkbox["width"] <= 32, f"the checkbox is {checkbox['width']}px wide"
    assert whole["height"] <= 40, f"checkbox and name take {whole['height']}px: not one line"
