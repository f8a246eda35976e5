"""The leads' dashboard in process, on SQLite and PostgreSQL: who may monitor what, today's
figures and list progress from rows written directly, the volunteer row (never a phone number),
the pages' access rules, and the ``dashboard.*`` Socket.IO events through Flask-SocketIO's test
client (which receives what the server emits)."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

# The events modules are imported before any app is made, so that Flask-SocketIO keeps their
# handlers for every app the tests create (a handler registered after the first init_app
# belongs to that app's server only).
from phonebank.auth import events as auth_events  # noqa: F401  (connect, disconnect)
from phonebank.calling import queue
from phonebank.calling import services as calling
from phonebank.campaigns import services as campaigns
from phonebank.models import (
    Call,
    CallingSession,
    CallStatus,
    CampaignMember,
    CampaignTarget,
    DialingMode,
    QuestionKind,
    Role,
    SurveyQuestion,
    TargetStatus,
)
from phonebank.monitoring import events
from phonebank.monitoring import services as monitoring
from tests import factories
from tests.calling.helpers import NEW_YORK, enlist, make_campaign, make_person, open_session
from tests.conftest import sign_in

# Wednesday 10 June 2026, 16:00 UTC: noon in New York, 01:00 the next day in Tokyo.
NOW = datetime(2026, 6, 10, 16, 0, tzinfo=UTC)
TOKYO = "Asia/Tokyo"


def at(hour: int, minute: int = 0, second: int = 0, day: int = 10) -> datetime:
    return datetime(2026, 6, day, hour, minute, second, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _fresh_process_state(monkeypatch):
    """No dirty marks or cached zone keys between tests (campaign ids repeat across the SQLite
    and PostgreSQL runs)."""
    monitoring.take_dirty()
    queue._zone_keys.clear()
    yield
    monitoring.take_dirty()
    queue._zone_keys.clear()


@pytest.fixture
def clock(monkeypatch):
    """The calling services' clock frozen at NOW (a call placed now is inside the window)."""
    monkeypatch.setattr(queue, "utcnow", lambda: NOW)
    monkeypatch.setattr(calling, "utcnow", lambda: NOW)
    return NOW


@pytest.fixture
def people(app, db):
    """A campaign, its assigned lead, a lead of another campaign, staff and a volunteer."""
    campaign = make_campaign("Dashboard campaign")
    other = make_campaign("Another campaign")
    made = {
        "campaign": campaign,
        "other": other,
        "staff": factories.user(Role.STAFF, email="staff@example.org"),
        "lead": factories.user(Role.LEAD, email="lead@example.org"),
        "other_lead": factories.user(Role.LEAD, email="otherlead@example.org"),
        "volunteer": factories.user(Role.VOLUNTEER, email="volunteer@example.org"),
    }
    db.session.add(CampaignMember(campaign_id=campaign.id, user_id=made["lead"].id))
    db.session.add(CampaignMember(campaign_id=other.id, user_id=made["other_lead"].id))
    db.session.commit()
    return made


# --- access --------------------------------------------------------------------------------


def test_can_monitor_by_role_and_assignment(people, db):
    campaign, other = people["campaign"], people["other"]
    assert monitoring.can_monitor(people["staff"], campaign.id)
    assert monitoring.can_monitor(people["staff"], other.id)
    assert monitoring.can_monitor(people["lead"], campaign.id)
    assert not monitoring.can_monitor(people["lead"], other.id)
    assert not monitoring.can_monitor(people["other_lead"], campaign.id)
    assert monitoring.can_monitor(people["other_lead"], other.id)
    # A volunteer who calls for the campaign still cannot monitor it.
    db.session.add(CampaignMember(campaign_id=campaign.id, user_id=people["volunteer"].id))
    db.session.flush()
    assert not monitoring.can_monitor(people["volunteer"], campaign.id)
    people["lead"].is_active_account = False
    assert not monitoring.can_monitor(people["lead"], campaign.id)


def test_monitored_campaigns(people):
    names = lambda user: [c.name for c in monitoring.monitored_campaigns(user)]  # noqa: E731
    assert names(people["staff"]) == ["Another campaign", "Dashboard campaign"]
    assert names(people["lead"]) == ["Dashboard campaign"]
    assert names(people["other_lead"]) == ["Another campaign"]


# --- figures -------------------------------------------------------------------------------


@pytest.fixture
def survey(people, db):
    """Three questions; the main one is not the first, and a text question has no tallies."""
    campaign = people["campaign"]
    issues = SurveyQuestion(
        campaign=campaign,
        position=1,
        kind=QuestionKind.MULTIPLE,
        prompt="Issues?",
        choices=["Jobs", "Health", "Schools"],
    )
    support = SurveyQuestion(
        campaign=campaign,
        position=2,
        kind=QuestionKind.SINGLE,
        prompt="Support?",
        choices=["Yes", "No", "Undecided"],
        is_main=True,
    )
    notes = SurveyQuestion(campaign=campaign, position=3, kind=QuestionKind.TEXT, prompt="Notes?")
    db.session.add_all([issues, support, notes])
    db.session.flush()
    return {"issues": issues, "support": support, "notes": notes}


def add_call(target, *, dialed_at, outcome=None, status="completed", answered_by=None, **kw):
    """A call row as the calling loop leaves it (outcome by the campaign's outcome code)."""
    person = target.person
    outcome_row = campaigns.outcome_by_code(target.campaign_id, outcome) if outcome else None
    assert outcome is None or outcome_row is not None, outcome
    from phonebank.extensions import db

    call = Call(
        campaign_id=target.campaign_id,
        target_id=target.id,
        person_id=person.id,
        phone_id=person.phones[0].id,
        volunteer_id=kw.pop("volunteer_id"),
        provider_sid="CA" + uuid.uuid4().hex,
        status=CallStatus(status),
        answered_by=answered_by,
        dialed_at=dialed_at,
        outcome_id=outcome_row.id if outcome_row else None,
        outcome_at=dialed_at + timedelta(minutes=1) if outcome_row else None,
        **kw,
    )
    db.session.add(call)
    db.session.flush()
    return call


@pytest.fixture
def todays_calls(people, survey, db):
    campaign, other = people["campaign"], people["other"]
    volunteer_id = people["volunteer"].id
    ann, bob, cat = (make_person(name) for name in ("Ann", "Bob", "Cat"))
    ta, tb, tc = enlist(campaign, ann, bob, cat)
    (t_other,) = enlist(other, make_person("Dan"))
    s, i, n = (str(survey[k].id) for k in ("support", "issues", "notes"))
    v = {"volunteer_id": volunteer_id}
    # Bin 00:00-00:10: two contacts with IDs.
    add_call(
        ta,
        dialed_at=at(0, 5),
        outcome="talked",
        answered_by="human",
        answers={s: "Yes", i: ["Jobs", "Health"], n: "lovely"},
        **v,
    )
    add_call(
        tb, dialed_at=at(0, 9, 59), outcome="refused", answered_by="human", answers={s: "No"}, **v
    )
    # Bin 15:50-16:00: one of each bucket, machines, a failure and a live call.
    add_call(
        tc,
        dialed_at=at(15, 51),
        outcome="call_back",
        answered_by="human",
        answers={s: "Yes", i: ["Jobs"]},
        **v,
    )
    add_call(ta, dialed_at=at(15, 52), outcome="no_answer", status="no-answer", **v)
    add_call(tb, dialed_at=at(15, 53), outcome="machine", answered_by="machine_end_beep", **v)
    add_call(tc, dialed_at=at(15, 54), outcome="wrong_number", status="failed", **v)
    add_call(ta, dialed_at=at(15, 55), outcome="do_not_call", answered_by="human", answers={}, **v)
    add_call(tb, dialed_at=at(15, 56), status="in-progress", answered_by="human", **v)
    add_call(tc, dialed_at=at(15, 57), outcome="left_message", answered_by="machine_start", **v)
    # Not today's, not this campaign's, not dialed: none of these count.
    add_call(
        ta,
        dialed_at=at(23, 59, day=9),
        outcome="talked",
        answered_by="human",
        answers={s: "No"},
        **v,
    )
    add_call(t_other, dialed_at=at(15, 0), outcome="talked", answered_by="human", **v)
    never_dialed = add_call(tc, dialed_at=at(15, 58), status="created", **v)
    never_dialed.dialed_at = None
    # Volunteer time today: 14:00-now (2 h) and 22:00 yesterday-01:00 (1 h counted); a
    # session that ended yesterday and one in another campaign do not count.
    other_volunteer = factories.user(Role.VOLUNTEER)
    db.session.add_all(
        [
            CallingSession(user_id=volunteer_id, campaign_id=campaign.id, started_at=at(14)),
            CallingSession(
                user_id=other_volunteer.id,
                campaign_id=campaign.id,
                started_at=at(22, day=9),
                ended_at=at(1),
            ),
            CallingSession(
                user_id=other_volunteer.id,
                campaign_id=campaign.id,
                started_at=at(10, day=9),
                ended_at=at(12, day=9),
            ),
            CallingSession(
                user_id=other_volunteer.id,
                campaign_id=other.id,
                started_at=at(9),
                ended_at=at(15),
            ),
        ]
    )
    db.session.commit()
    return campaign


def test_campaign_figures_count_todays_calls(todays_calls, survey):
    figures = monitoring.campaign_figures(todays_calls, NOW)
    assert figures["since"] == at(0).isoformat()
    assert figures["computed_at"] == NOW.isoformat()
    assert figures["dials"] == 9
    assert figures["contacts"] == 3
    assert figures["contact_rate"] == 0.333
    assert figures["ids"] == 3  # answers to the main question; the empty one does not count
    assert figures["machine_rate"] == 0.222
    assert figures["failure_rate"] == 0.111
    assert figures["volunteer_hours"] == 3.0
    assert figures["dials_per_volunteer_hour"] == 3.0
    assert figures["buckets"] == {"contact": 3, "retry": 3, "bad_number": 1, "never": 1}
    assert figures["survey"] == [
        {
            "id": survey["issues"].id,
            "text": "Issues?",
            "main": False,
            "answers": [{"answer": "Jobs", "count": 2}, {"answer": "Health", "count": 1}],
        },
        {
            "id": survey["support"].id,
            "text": "Support?",
            "main": True,
            "answers": [{"answer": "Yes", "count": 2}, {"answer": "No", "count": 1}],
        },
    ]
    # Every 10 minutes from the first dial's to now's, empty ones included.
    bins = figures["per_10_minutes"]
    assert [b["start"] for b in bins] == [
        (at(0) + timedelta(minutes=10 * i)).isoformat() for i in range(97)
    ]
    assert {b["start"]: (b["dials"], b["contacts"]) for b in bins if b["dials"]} == {
        at(0).isoformat(): (2, 2),
        at(15, 50).isoformat(): (7, 1),
    }
    # Nobody is with a volunteer or finished; all three are left, in New York's daytime.
    assert figures["list"] == monitoring.list_progress(todays_calls, NOW)
    assert figures["list"]["total"] == figures["list"]["left_now"] == 3


def test_campaign_figures_of_a_quiet_day(people):
    figures = monitoring.campaign_figures(people["campaign"], NOW)
    assert figures["dials"] == figures["contacts"] == figures["ids"] == 0
    assert figures["contact_rate"] is None and figures["machine_rate"] is None
    assert figures["dials_per_volunteer_hour"] is None
    assert figures["buckets"] == {"contact": 0, "retry": 0, "bad_number": 0, "never": 0}
    assert figures["survey"] == [] and figures["per_10_minutes"] == []


def test_first_question_counts_as_ids_without_a_main_one(todays_calls, survey):
    survey["support"].is_main = False
    figures = monitoring.campaign_figures(todays_calls, NOW)
    # "Issues?" comes first: two recorded calls answered it.
    assert figures["ids"] == 2
    assert [q["main"] for q in figures["survey"]] == [True, False]


# --- list progress -------------------------------------------------------------------------


@pytest.fixture
def call_list(people, db):
    """Nine people on the list, in every state the progress panel counts."""
    campaign = people["campaign"]
    volunteer_id = people["volunteer"].id
    specs = [
        ("Ny1", NEW_YORK, TargetStatus.QUEUED, None),  # left now
        ("Ny2", NEW_YORK, TargetStatus.QUEUED, None),  # left now
        ("Tokyo1", TOKYO, TargetStatus.QUEUED, None),  # left now, but 01:00 in Tokyo
        ("Ny3", NEW_YORK, TargetStatus.QUEUED, NOW + timedelta(hours=2)),  # retry later
        ("Tokyo2", TOKYO, TargetStatus.QUEUED, NOW + timedelta(hours=4)),  # retry later
        ("Ny4", NEW_YORK, TargetStatus.CLAIMED, None),  # with a volunteer
        ("Ny5", NEW_YORK, TargetStatus.IN_CALL, None),  # on a call
        ("Ny6", NEW_YORK, TargetStatus.DONE, None),
        ("Ny7", NEW_YORK, TargetStatus.DONE, None),
    ]
    people_made = [
        make_person(name, zone=zone, state="NY" if zone == NEW_YORK else "")
        for name, zone, _, _ in specs
    ]
    targets = enlist(campaign, *people_made)
    for target, (_, _, status, due) in zip(targets, specs, strict=True):
        target.status = status
        if due is not None:
            target.due_at = due
        if status == TargetStatus.CLAIMED:
            target.claimed_by_id = volunteer_id
            target.lease_expires_at = NOW + timedelta(minutes=5)
    done = targets[-1]
    # Six dials in the last half hour (0.2 a minute), one just before it.
    for minute in (31, 35, 40, 45, 50, 59):
        add_call(done, dialed_at=at(15, minute), volunteer_id=volunteer_id)
    add_call(done, dialed_at=at(15, 29, 59), volunteer_id=volunteer_id)
    db.session.commit()
    assert "Asia/Tokyo|NY" in {t.zone_key for t in targets}  # (NY: the 212 number's state)
    return campaign


def test_list_progress_counts_each_state(call_list):
    progress = monitoring.list_progress(call_list, NOW)
    assert progress == {
        "left_now": 3,
        "waiting_retry": 2,
        "with_volunteers": 2,
        "finished": 2,
        "outside_window_now": 1,
        "no_time_zone": 0,
        "total": 9,
        "dials_per_minute": 0.2,
        "minutes_until_dry": 35.0,  # 7 people not finished, at 0.2 a minute
    }


def test_people_with_no_knowable_zone_count_as_finished_unreachable(call_list, db):
    enlist(call_list, make_person("Tollfree", zone=None, phone_zones=[]))
    progress = monitoring.list_progress(call_list, NOW)
    assert (progress["finished"], progress["no_time_zone"], progress["total"]) == (3, 1, 10)
    assert progress["left_now"] == 3  # not waiting "outside hours" for ever


def test_list_progress_follows_the_campaigns_window(call_list):
    call_list.window_end = 11 * 60  # New York's noon is now outside the window too
    progress = monitoring.list_progress(call_list, NOW)
    assert progress["left_now"] == 3
    assert progress["outside_window_now"] == 3
    # Three hours on nobody has dialed for half an hour: no projection.
    later = monitoring.list_progress(call_list, NOW + timedelta(hours=3))
    assert later["dials_per_minute"] == 0.0
    assert later["minutes_until_dry"] is None
    # The New York retry is due by then; Tokyo's is not.
    assert later["waiting_retry"] == 1 and later["left_now"] == 4


# --- the volunteer's row -------------------------------------------------------------------


PHONE_LIKE = re.compile(r"\+1|\d{7,}")


def test_volunteer_row_never_shows_a_phone_number(people, db, clock):
    """Even in manual mode, where the volunteer's own card carries the full number."""
    campaign = make_campaign("Manual campaign", dialing_mode=DialingMode.MANUAL)
    volunteer = people["volunteer"]
    volunteer.phone = "+12025550199"
    person = make_person("Eve", phones=[("+12125550123", "mobile")])
    enlist(campaign, person)
    session = open_session(campaign, volunteer)
    calling.present_next_voter(session)
    assert calling.prepare_call(session) is not None
    db.session.commit()
    assert session.card["phone"]["number"] == "+12125550123"  # the volunteer's card has it
    row = monitoring.volunteer_row(session, connected=True)
    assert row["state"] == "talking"
    assert row["session_id"] == session.id and row["campaign_id"] == campaign.id
    assert row["volunteer"] == {"id": volunteer.id, "name": volunteer.name}
    assert row["totals"] == {"calls": 1, "contacts": 0, "talk_seconds": 0}
    assert row["audio"] == {"mode": "none", "up": False}
    rows = monitoring.volunteer_rows(campaign.id, NOW)
    for text in (json.dumps(row), json.dumps(rows)):
        assert "2125550123" not in text and "2025550199" not in text
        assert not PHONE_LIKE.search(text), text
    # No socket open for this volunteer: the dashboard says so.
    assert rows[0]["state"] == "disconnected"
    assert monitoring.volunteer_row(session)["state"] == "disconnected"


def test_volunteer_rows_keep_sessions_ended_within_the_hour(people, db):
    campaign = people["campaign"]
    users = [factories.user(Role.VOLUNTEER) for _ in range(3)]
    now = datetime.now(UTC)
    db.session.add_all(
        [
            CallingSession(user_id=users[0].id, campaign_id=campaign.id, started_at=now),
            CallingSession(
                user_id=users[1].id,
                campaign_id=campaign.id,
                started_at=now - timedelta(hours=2),
                ended_at=now - timedelta(minutes=30),
            ),
            CallingSession(
                user_id=users[2].id,
                campaign_id=campaign.id,
                started_at=now - timedelta(hours=3),
                ended_at=now - timedelta(hours=2),
            ),
        ]
    )
    db.session.commit()
    rows = monitoring.volunteer_rows(campaign.id, now)
    assert [(r["volunteer"]["id"], r["state"], r["ended"]) for r in rows] == [
        (users[1].id, "ended", True),
        (users[0].id, "disconnected", False),
    ]


# --- pages ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "index", "dashboard"),
    [
        (None, 302, 302),
        ("volunteer", 403, 403),
        ("other_lead", 200, 403),
        ("lead", 200, 200),
        ("staff", 200, 200),
    ],
)
def test_monitor_pages_by_role(people, client, who, index, dashboard):
    if who:
        sign_in(client, people[who].email)
    campaign_id = people["campaign"].id
    listing = client.get("/monitor")
    page = client.get(f"/monitor/{campaign_id}")
    assert (listing.status_code, page.status_code) == (index, dashboard)
    if who is None:
        assert "/login" in listing.headers["Location"]
        assert "/login" in page.headers["Location"]
    if index == 200:
        text = listing.get_data(as_text=True)
        assert (f'href="/monitor/{campaign_id}"' in text) == (dashboard == 200)
    if dashboard == 200:
        text = page.get_data(as_text=True)
        assert f'id="dashboard" data-campaign-id="{campaign_id}"' in text
        assert "js/monitor.js" in text and "chart.umd.min.js" in text


def test_unknown_campaign_is_404_and_header_links_by_role(people, client):
    sign_in(client, people["staff"].email)
    assert client.get("/monitor/999999").status_code == 404
    assert '<a href="/monitor">Monitor</a>' in client.get("/").get_data(as_text=True)
    client.post("/logout")
    sign_in(client, people["lead"].email)
    assert '<a href="/monitor">Monitor</a>' in client.get("/").get_data(as_text=True)
    client.post("/logout")
    sign_in(client, people["volunteer"].email)
    assert '<a href="/monitor">Monitor</a>' not in client.get("/").get_data(as_text=True)


# --- Socket.IO -----------------------------------------------------------------------------


@pytest.fixture
def socket_for(app, monkeypatch):
    """Signed-in Flask-SocketIO test clients (they receive the server's emits)."""
    from phonebank.extensions import socketio

    made = []

    def connect(email: str):
        flask_client = app.test_client()
        sign_in(flask_client, email)
        socket = socketio.test_client(app, flask_test_client=flask_client)
        assert socket.is_connected()
        socket.get_received()
        made.append(socket)
        return socket

    yield connect
    for socket in made:
        if socket.is_connected():
            socket.disconnect()


def received(socket, name: str) -> list:
    return [m["args"][0] for m in socket.get_received() if m["name"] == name]


def watch(socket, campaign_id) -> dict:
    return socket.emit("dashboard.watch", {"campaign_id": campaign_id}, callback=True)


def test_watch_refuses_volunteers_other_leads_and_unknown_campaigns(people, socket_for):
    campaign_id = people["campaign"].id
    for who in ("volunteer", "other_lead"):
        reply = watch(socket_for(people[who].email), campaign_id)
        assert reply == {"ok": False, "error": "You can't monitor that campaign."}
    staff = socket_for(people["staff"].email)
    assert watch(staff, 999999)["ok"] is False
    assert watch(staff, "not a number")["ok"] is False
    assert staff.emit("dashboard.watch", None, callback=True)["ok"] is False


def test_refused_watchers_get_no_pushes(people, socket_for, db):
    campaign = people["campaign"]
    volunteer_socket = socket_for(people["volunteer"].email)
    other_lead = socket_for(people["other_lead"].email)
    watch(volunteer_socket, campaign.id)
    watch(other_lead, campaign.id)
    enlist(campaign, make_person("Fay"))
    session = open_session(campaign, factories.user(Role.VOLUNTEER))
    monitoring.publish_volunteer(session)
    db.session.commit()
    assert received(other_lead, "dashboard.volunteer") == []
    assert received(volunteer_socket, "dashboard.volunteer") == []


def test_staff_and_assigned_lead_watch_with_a_snapshot(people, socket_for):
    campaign = people["campaign"]
    for who in ("staff", "lead"):
        reply = watch(socket_for(people[who].email), campaign.id)
        assert reply["ok"] is True, reply
        state = reply["state"]
        assert set(state) == {"campaign", "volunteers", "figures", "at"}
        assert state["campaign"] == {
            "id": campaign.id,
            "name": "Dashboard campaign",
            "status": "active",
            "dialing_mode": "preview",
        }
        assert state["volunteers"] == []
        assert state["figures"]["dials"] == 0
        assert set(state["figures"]["list"]) >= {"left_now", "total", "minutes_until_dry"}


def test_volunteer_changes_reach_watching_dashboards_after_commit(people, socket_for, db):
    campaign = people["campaign"]
    lead = socket_for(people["lead"].email)
    staff = socket_for(people["staff"].email)
    assert watch(lead, campaign.id)["ok"] is True
    assert watch(staff, campaign.id)["ok"] is True
    enlist(campaign, make_person("Gil"))
    session = open_session(campaign, people["volunteer"])

    # Queued, then rolled back: nothing is sent.
    monitoring.publish_volunteer(session)
    assert received(lead, "dashboard.volunteer") == []
    db.session.rollback()
    assert received(lead, "dashboard.volunteer") == []

    session = open_session(campaign, factories.user(Role.VOLUNTEER, name="Volunteer Hal"))
    calling.publish_session_state(session)
    assert received(lead, "dashboard.volunteer") == []  # not before the commit
    db.session.commit()
    for socket in (lead, staff):
        rows = received(socket, "dashboard.volunteer")
        assert len(rows) == 1
        row = rows[0]
        assert row["session_id"] == session.id and row["campaign_id"] == campaign.id
        assert row["volunteer"]["name"] == "Volunteer Hal"
        assert row["state"] == "disconnected"  # this volunteer has no socket open
        assert row["version"] == 1
    assert monitoring.take_dirty() == [campaign.id]

    # Unwatching stops the pushes.
    assert lead.emit("dashboard.unwatch", {"campaign_id": campaign.id}, callback=True)["ok"]
    calling.publish_session_state(session)
    db.session.commit()
    assert received(lead, "dashboard.volunteer") == []
    assert [r["version"] for r in received(staff, "dashboard.volunteer")] == [2]


def test_push_figures_reaches_the_campaigns_dashboards(people, todays_calls, socket_for):
    lead = socket_for(people["lead"].email)
    other_lead = socket_for(people["other_lead"].email)
    assert watch(lead, todays_calls.id)["ok"] is True
    assert watch(other_lead, people["other"].id)["ok"] is True
    events.push_figures([todays_calls.id, 999999])
    (message,) = received(lead, "dashboard.figures")
    assert message["campaign_id"] == todays_calls.id
    assert set(message["figures"]) >= {"dials", "contacts", "per_10_minutes", "list"}
    assert received(other_lead, "dashboard.figures") == []


def test_disconnect_marks_the_volunteer_disconnected(people, socket_for, db):
    campaign = people["campaign"]
    enlist(campaign, make_person("Ida"))
    lead = socket_for(people["lead"].email)
    assert watch(lead, campaign.id)["ok"] is True
    first = socket_for(people["volunteer"].email)
    second = socket_for(people["volunteer"].email)  # another tab
    session = open_session(campaign, people["volunteer"])
    calling.publish_session_state(session)
    db.session.commit()
    (row,) = received(lead, "dashboard.volunteer")
    assert row["state"] in ("waiting", "preview")
    first.disconnect()
    assert received(lead, "dashboard.volunteer") == []  # a tab is still open
    second.disconnect()
    (row,) = received(lead, "dashboard.volunteer")
    assert row["state"] == "disconnected" and row["session_id"] == session.id


def test_reconnecting_volunteer_is_no_longer_disconnected(people, socket_for, db):
    campaign = people["campaign"]
    enlist(campaign, make_person("Jo"))
    lead = socket_for(people["lead"].email)
    assert watch(lead, campaign.id)["ok"] is True
    volunteer = socket_for(people["volunteer"].email)
    session = open_session(campaign, people["volunteer"])
    calling.publish_session_state(session)
    db.session.commit()
    volunteer.disconnect()
    assert [r["state"] for r in received(lead, "dashboard.volunteer")][-1] == "disconnected"
    again = socket_for(people["volunteer"].email)
    assert again.emit("session.resume", {}, callback=True)["ok"] is True
    rows = received(lead, "dashboard.volunteer")
    assert rows and rows[-1]["state"] != "disconnected"


def test_a_change_is_marked_for_figures_after_its_commit(people, db):
    campaign = people["campaign"]
    enlist(campaign, make_person("Kim"))
    session = open_session(campaign, people["volunteer"])
    calling.publish_session_state(session)
    monitoring.take_dirty()  # the figures loop's round, while the change is uncommitted
    db.session.commit()
    assert monitoring.take_dirty() == [campaign.id]


def test_dashboard_snapshot_has_no_phone_numbers(people, db, clock):
    campaign = people["campaign"]
    person = make_person("Lou", phones=[("+12125550177", "mobile")])
    enlist(campaign, person)
    session = open_session(campaign, people["volunteer"])
    calling.present_next_voter(session)
    db.session.commit()
    snapshot = monitoring.dashboard_snapshot(campaign)
    assert [r["state"] for r in snapshot["volunteers"]] == ["disconnected"]
    text = json.dumps(snapshot)
    assert "2125550177" not in text and "+1" not in text
    target = db.session.scalar(select(CampaignTarget).where(CampaignTarget.person_id == person.id))
    assert target.status == TargetStatus.CLAIMED
