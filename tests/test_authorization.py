"""The authorization matrix: every HTTP route (from the URL map) and every Socket.IO event (from
the registered handlers), tried by anonymous, a volunteer, another volunteer, the campaign's
lead, another campaign's lead and staff. A new route or event without an entry here fails.

Each case runs in a fresh world (SQLite): campaign A with a volunteer on a live call, campaign
B run by another lead. Refusals are 403/404 (or the sign-in page for anonymous), or an
``{"ok": false}`` acknowledgement; nobody's answer carries the other campaign's name or voters;
and no one else's event changes the volunteer's session or call.
"""

from __future__ import annotations

import io
import re
import shutil
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask_login.utils import _create_identifier

from phonebank.api import keys as api_keys
from phonebank.api import webhooks
from phonebank.auth import services as accounts
from phonebank.calling import services as calling
from phonebank.lists import events as list_events
from phonebank.models import (
    CallingSession,
    CampaignMember,
    ExportKind,
    ExportStatus,
    ListStatus,
    MonitorLeg,
    MonitorMode,
    Role,
    SurveyQuestion,
    User,
)
from phonebank.results import jobs
from tests import factories
from tests.calling.helpers import NOW, Clock, answer, dial, enlist, make_campaign, make_person
from tests.conftest import make_app

ACTORS = ("anonymous", "volunteer", "other_volunteer", "lead", "other_lead", "staff")
SIGNED_IN = frozenset(ACTORS) - {"anonymous"}
EVERYONE = frozenset(ACTORS)
STAFF = frozenset({"staff"})
LEADS = frozenset({"lead", "other_lead", "staff"})
A_LEADS = frozenset({"lead", "staff"})
A_CALLERS = frozenset({"volunteer", "other_volunteer", "lead", "staff"})
SESSION_HOLDERS = frozenset({"volunteer", "other_volunteer"})
NOBODY: frozenset[str] = frozenset()  # Twilio's webhooks: a signature, not a person
# The HTTP API: an API key, never a browser's cookies (answered 401 to every actor here).
API_KEY_ONLY: frozenset[str] = frozenset({"an API key"})

ALPHA, BETA = "Alpha secret campaign", "Beta secret campaign"
ALPHA_VOTER, BETA_VOTER = "Alphavoter", "Betavoter"
# What each actor must never see in any answer.
HIDDEN = {
    "anonymous": (ALPHA, BETA, ALPHA_VOTER, BETA_VOTER),
    "volunteer": (BETA, BETA_VOTER),
    "other_volunteer": (BETA, BETA_VOTER),
    "lead": (BETA, BETA_VOTER),
    "other_lead": (ALPHA, ALPHA_VOTER),
    "staff": (),
}


@dataclass
class World:
    ids: dict[str, int] = field(default_factory=dict)
    users: dict[str, int] = field(default_factory=dict)
    invite_token: str = ""

    def __getitem__(self, key: str) -> int:
        return self.ids[key]


@pytest.fixture
def world_app(sqlite_template, tmp_path, monkeypatch):
    """A fresh SQLite app per case; the provider points at a closed port, so any Twilio
    request fails at once (the provider's errors are handled like Twilio being down)."""
    path = tmp_path / "matrix.db"
    shutil.copyfile(sqlite_template, path)
    app = make_app(
        f"sqlite:///{path}",
        WTF_CSRF_ENABLED=False,
        UPLOAD_DIR=str(tmp_path / "uploads"),
        IMPORT_RUNNER="worker",
        TWILIO_ACCOUNT_SID="AC" + "0" * 32,
        TWILIO_AUTH_TOKEN="t" * 32,
        TWILIO_API_KEY="SK" + "0" * 32,
        TWILIO_API_SECRET="s" * 32,
        TWILIO_TWIML_APP_SID="AP" + "0" * 32,
        TWILIO_EMULATOR_URL="http://127.0.0.1:9",
    )
    clock = Clock(NOW)
    from phonebank.calling import queue

    monkeypatch.setattr(queue, "utcnow", clock)
    monkeypatch.setattr(calling, "utcnow", clock)
    monkeypatch.setattr(list_events, "_watched", {})  # lists this process would watch

    def reset() -> None:
        """Back to the migrated, empty database for the next actor."""
        from phonebank.extensions import db

        db.session.remove()
        db.engine.dispose()
        shutil.copyfile(sqlite_template, path)

    with app.app_context():
        yield app, clock, reset
        reset()


def build_world(clock: Clock, variant: str = "in_call") -> World:
    """Campaign A: volunteer (on a call, or with a voter in preview), other volunteer (own
    session, waiting), lead. Campaign B: other lead, its own voter. A list, an invite."""
    from phonebank.extensions import db
    from phonebank.lists import services as lists

    world = World()
    users = {
        "volunteer": factories.user(Role.VOLUNTEER, name="Vera Volunteer"),
        "other_volunteer": factories.user(Role.VOLUNTEER, name="Otto Othervolunteer"),
        "lead": factories.user(Role.LEAD, name="Lena Lead"),
        "other_lead": factories.user(Role.LEAD, name="Olga Otherlead"),
        "staff": factories.user(Role.STAFF, name="Sam Staff"),
    }
    world.users = {name: u.id for name, u in users.items()}
    alpha = make_campaign(ALPHA, dialing_mode="preview")
    beta = make_campaign(BETA, dialing_mode="preview")
    for name in ("volunteer", "other_volunteer", "lead"):
        db.session.add(CampaignMember(campaign_id=alpha.id, user_id=users[name].id))
    db.session.add(CampaignMember(campaign_id=beta.id, user_id=users["other_lead"].id))
    question = SurveyQuestion(
        campaign=alpha, position=1, kind="single", prompt="Support?", choices=["Yes", "No"]
    )
    db.session.add(question)
    enlist(alpha, *(make_person(f"Ava{i} {ALPHA_VOTER}") for i in range(3)))
    enlist(beta, make_person(f"Bo {BETA_VOTER}"))
    db.session.flush()

    session = calling.join_campaign(users["volunteer"], alpha)
    session.audio_mode, session.audio_up, session.audio_call_sid = "browser", True, "CA" + "a" * 32
    calling.set_ready(session, True)
    if variant == "in_call":
        call = dial(session, clock)
        answer(call)
        world.ids["call"] = call.id
    else:
        calling.present_next_voter(session)
    other = calling.join_campaign(users["other_volunteer"], alpha)
    other.audio_mode, other.audio_up = "browser", True
    for name in ("lead", "staff"):
        db.session.add(
            MonitorLeg(
                session_id=session.id,
                lead_id=users[name].id,
                mode=MonitorMode.LISTEN,
                call_sid="CA" + name[0] * 32,
            )
        )
    plist = lists.store_upload(
        io.BytesIO(b"FirstName,LastName,Phone\nAl,Pha,2025550111\n"),
        "alpha.csv",
        "Alpha list",
        users["staff"],
    )
    plist.status = ListStatus.DONE  # imported: its report and rejects can be downloaded
    invite = accounts.create_invite(users["staff"])
    api_key, _ = api_keys.create_key("Matrix", ["people:read"], by=users["staff"])
    subscription = webhooks.create_subscription(
        "Matrix", "http://127.0.0.1:9/hook", [], by=users["staff"]
    )
    job = jobs.create_job(users["staff"], ExportKind.CALLS, alpha)
    job.status, job.stored_name, job.filename = ExportStatus.DONE, "matrix.csv", "calls.csv"
    (jobs.export_dir() / "matrix.csv").write_text(f"name\n{ALPHA}\n")
    db.session.commit()
    world.ids.update(
        campaign=alpha.id,
        other_campaign=beta.id,
        question=question.id,
        outcome=alpha.outcomes[0].id,
        session=session.id,
        list=plist.id,
        invite=invite.id,
        job=job.id,
        api_key=api_key.id,
        subscription=subscription.id,
        user=users["other_volunteer"].id,
        member=users["other_volunteer"].id,
    )
    world.invite_token = invite.token
    return world


def signed_in_client(app, world: World, actor: str):
    """A test client signed in as ``actor`` (a login session made directly: Argon2 is slow)."""
    from phonebank.extensions import db

    client = app.test_client()
    if actor == "anonymous":
        return client
    user = db.session.get(User, world.users[actor])
    login = accounts.start_login_session(user, "127.0.0.1", None)
    db.session.commit()
    with app.test_request_context(environ_base=client.environ_base):
        identifier = _create_identifier()  # what strong session protection compares
    with client.session_transaction() as sess:
        sess["_user_id"] = login.token
        sess["_fresh"] = True
        sess["_id"] = identifier
    return client


# --- HTTP ----------------------------------------------------------------------------------

# (endpoint, method) -> (path, form data, who may use it)
ROUTES: dict[tuple[str, str], tuple[str, dict[str, str], frozenset[str]]] = {
    ("static", "GET"): ("/static/css/app.css", {}, EVERYONE),
    ("home.healthz", "GET"): ("/healthz", {}, EVERYONE),
    ("home.index", "GET"): ("/", {}, SIGNED_IN),
    ("auth.login", "GET"): ("/login", {}, EVERYONE),
    ("auth.login", "POST"): ("/login", {"email": "x@example.org", "password": "x"}, EVERYONE),
    ("auth.logout", "POST"): ("/logout", {}, SIGNED_IN),
    ("auth.join", "GET"): ("/join/{invite_token}", {}, EVERYONE),
    ("auth.join", "POST"): ("/join/{invite_token}", {}, EVERYONE),
    ("auth.account", "GET"): ("/account", {}, SIGNED_IN),
    ("auth.account", "POST"): ("/account", {}, SIGNED_IN),
    ("calling.index", "GET"): ("/calling/", {}, SIGNED_IN),
    ("calling.page", "GET"): ("/calling/{campaign}", {}, A_CALLERS),
    ("monitoring.index", "GET"): ("/monitor", {}, LEADS),
    ("monitoring.dashboard", "GET"): ("/monitor/{campaign}", {}, A_LEADS),
    ("campaigns.index", "GET"): ("/campaigns", {}, STAFF),
    ("campaigns.new", "GET"): ("/campaigns/new", {}, STAFF),
    ("campaigns.new", "POST"): ("/campaigns/new", {"name": "New"}, STAFF),
    ("campaigns.script_preview", "POST"): ("/campaigns/script-preview", {"script": "Hi"}, STAFF),
    ("campaigns.show", "GET"): ("/campaigns/{campaign}", {}, STAFF),
    ("campaigns.edit", "GET"): ("/campaigns/{campaign}/edit", {}, STAFF),
    ("campaigns.edit", "POST"): ("/campaigns/{campaign}/edit", {}, STAFF),
    ("campaigns.add_everyone", "POST"): ("/campaigns/{campaign}/list/everyone", {}, STAFF),
    ("campaigns.add_people_with_tag", "POST"): ("/campaigns/{campaign}/list/tag", {}, STAFF),
    ("campaigns.add_member", "POST"): ("/campaigns/{campaign}/members", {}, STAFF),
    ("campaigns.remove_member", "POST"): (
        "/campaigns/{campaign}/members/{member}/remove",
        {},
        STAFF,
    ),
    ("campaigns.save_outcomes", "POST"): ("/campaigns/{campaign}/outcomes", {}, STAFF),
    ("campaigns.add_outcome", "POST"): ("/campaigns/{campaign}/outcomes/new", {}, STAFF),
    ("campaigns.reset_outcomes", "POST"): ("/campaigns/{campaign}/outcomes/reset", {}, STAFF),
    ("campaigns.delete_outcome", "POST"): (
        "/campaigns/{campaign}/outcomes/{outcome}/delete",
        {},
        STAFF,
    ),
    ("campaigns.add_question", "POST"): ("/campaigns/{campaign}/questions", {}, STAFF),
    ("campaigns.edit_question", "GET"): ("/campaigns/{campaign}/questions/{question}", {}, STAFF),
    ("campaigns.edit_question", "POST"): (
        "/campaigns/{campaign}/questions/{question}",
        {},
        STAFF,
    ),
    ("campaigns.delete_question", "POST"): (
        "/campaigns/{campaign}/questions/{question}/delete",
        {},
        STAFF,
    ),
    ("campaigns.move_question", "POST"): (
        "/campaigns/{campaign}/questions/{question}/move",
        {"direction": "up"},
        STAFF,
    ),
    ("lists.index", "GET"): ("/lists", {}, STAFF),
    ("lists.upload", "POST"): ("/lists/upload", {}, STAFF),
    ("lists.show", "GET"): ("/lists/{list}", {}, STAFF),
    ("lists.map_columns", "GET"): ("/lists/{list}/map", {}, STAFF),
    ("lists.confirm", "POST"): ("/lists/{list}/map", {}, STAFF),
    ("lists.change_format", "POST"): ("/lists/{list}/format", {}, STAFF),
    ("lists.progress", "GET"): ("/lists/{list}/progress", {}, STAFF),
    ("lists.cancel", "POST"): ("/lists/{list}/cancel", {}, STAFF),
    ("lists.again", "POST"): ("/lists/{list}/again", {}, STAFF),
    ("lists.rejects", "GET"): ("/lists/{list}/rejects.csv", {}, STAFF),
    ("team.users", "GET"): ("/team/users", {}, STAFF),
    ("team.create_user", "POST"): ("/team/users", {}, STAFF),
    ("team.edit_user", "GET"): ("/team/users/{user}", {}, STAFF),
    ("team.edit_user", "POST"): ("/team/users/{user}", {}, STAFF),
    ("team.set_active", "POST"): ("/team/users/{user}/active", {"active": "0"}, STAFF),
    ("team.invites", "GET"): ("/team/invites", {}, STAFF),
    ("team.invites", "POST"): ("/team/invites", {}, STAFF),
    ("team.revoke_invite", "POST"): ("/team/invites/{invite}/revoke", {}, STAFF),
    ("results.index", "GET"): ("/results", {}, LEADS),
    ("results.campaign", "GET"): ("/results/campaigns/{campaign}", {}, A_LEADS),
    ("results.set_zone", "POST"): ("/results/campaigns/{campaign}/time-zone", {}, STAFF),
    ("results.create_export", "POST"): (
        "/results/campaigns/{campaign}/exports",
        {"kind": "people"},
        A_LEADS,
    ),
    ("results.van", "GET"): ("/results/campaigns/{campaign}/van", {}, STAFF),
    ("results.van", "POST"): ("/results/campaigns/{campaign}/van", {}, STAFF),
    ("results.export", "GET"): ("/results/exports/{job}", {}, STAFF),
    ("results.export_status", "GET"): ("/results/exports/{job}/status", {}, STAFF),
    ("results.download", "GET"): ("/results/exports/{job}/download", {}, STAFF),
    ("results.export_log", "GET"): ("/results/exports", {}, STAFF),
    ("donotcall.index", "GET"): ("/do-not-call", {}, STAFF),
    ("donotcall.add", "POST"): ("/do-not-call/add", {"numbers": "+12025550177"}, STAFF),
    ("donotcall.remove", "POST"): (
        "/do-not-call/remove",
        {"number": "+12025550177", "reason": "r"},
        STAFF,
    ),
    ("donotcall.export", "POST"): ("/do-not-call/export", {}, STAFF),
    ("integrations.index", "GET"): ("/integrations", {}, STAFF),
    ("integrations.create_key", "POST"): (
        "/integrations/keys",
        {"name": "K", "scopes": "people:read"},
        STAFF,
    ),
    ("integrations.revoke_key", "POST"): ("/integrations/keys/{api_key}/revoke", {}, STAFF),
    ("integrations.create_webhook", "POST"): (
        "/integrations/webhooks",
        {"name": "W", "url": "http://127.0.0.1:9/w"},
        STAFF,
    ),
    ("integrations.webhook_action", "POST"): (
        "/integrations/webhooks/{subscription}/pause",
        {},
        STAFF,
    ),
    ("api.openapi", "GET"): ("/api/v1/openapi.json", {}, EVERYONE),
    ("api.list_people", "GET"): ("/api/v1/people", {}, API_KEY_ONLY),
    ("api.create_person", "POST"): ("/api/v1/people", {}, API_KEY_ONLY),
    ("api.get_person", "GET"): ("/api/v1/people/1", {}, API_KEY_ONLY),
    ("api.update_person", "PATCH"): ("/api/v1/people/1", {}, API_KEY_ONLY),
    ("api.person_taggings", "GET"): ("/api/v1/people/1/taggings", {}, API_KEY_ONLY),
    ("api.add_tagging", "POST"): ("/api/v1/people/1/taggings", {}, API_KEY_ONLY),
    ("api.remove_tagging", "DELETE"): ("/api/v1/people/1/taggings/x", {}, API_KEY_ONLY),
    ("api.list_tags", "GET"): ("/api/v1/tags", {}, API_KEY_ONLY),
    ("api.list_questions", "GET"): ("/api/v1/questions", {}, API_KEY_ONLY),
    ("api.list_canvasses", "GET"): ("/api/v1/canvasses", {}, API_KEY_ONLY),
    ("api.record_canvass", "POST"): ("/api/v1/canvasses", {}, API_KEY_ONLY),
    ("api.list_events", "GET"): ("/api/v1/events", {}, API_KEY_ONLY),
    ("api.create_event", "POST"): ("/api/v1/events", {}, API_KEY_ONLY),
    ("api.get_event", "GET"): ("/api/v1/events/1", {}, API_KEY_ONLY),
    ("api.list_attendances", "GET"): ("/api/v1/events/1/attendances", {}, API_KEY_ONLY),
    ("api.record_attendance", "POST"): ("/api/v1/events/1/attendances", {}, API_KEY_ONLY),
    ("api.list_do_not_call", "GET"): ("/api/v1/do_not_call", {}, API_KEY_ONLY),
    ("api.add_do_not_call", "POST"): ("/api/v1/do_not_call", {}, API_KEY_ONLY),
    ("api.list_changes", "GET"): ("/api/v1/changes", {}, API_KEY_ONLY),
    ("twilio_hooks.voice_client", "POST"): ("/twilio/voice/client", {}, NOBODY),
    ("twilio_hooks.voice_volunteer", "POST"): (
        "/twilio/voice/volunteer?session={session}",
        {},
        NOBODY,
    ),
    ("twilio_hooks.voice_voter", "POST"): ("/twilio/voice/voter?call=1", {}, NOBODY),
    ("twilio_hooks.voice_fallback", "POST"): ("/twilio/voice/fallback?leg=voter", {}, NOBODY),
    ("twilio_hooks.voicemail_left", "POST"): ("/twilio/voice/voicemail-left?call=1", {}, NOBODY),
    ("twilio_hooks.status_voter", "POST"): ("/twilio/status/voter?call=1", {}, NOBODY),
    ("twilio_hooks.status_audio", "POST"): ("/twilio/status/audio?session={session}", {}, NOBODY),
    ("twilio_hooks.amd_result", "POST"): ("/twilio/amd?call=1", {}, NOBODY),
    ("twilio_hooks.conference_event", "POST"): ("/twilio/conference?session={session}", {}, NOBODY),
}


def test_every_route_is_in_the_matrix():
    app = make_app("sqlite://")
    rules = {
        (rule.endpoint, method)
        for rule in app.url_map.iter_rules()
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    assert rules - set(ROUTES) == set(), "routes missing from the authorization matrix"
    assert set(ROUTES) - rules == set(), "the matrix names routes that no longer exist"


def _fill(path: str, world: World) -> str:
    values = {**world.ids, "invite_token": world.invite_token}
    return re.sub(r"\{(\w+)\}", lambda m: str(values[m.group(1)]), path)


def _hidden_in(actor: str, text: str) -> list[str]:
    return [secret for secret in HIDDEN[actor] if secret in text]


@pytest.mark.parametrize("route", sorted(ROUTES), ids=lambda r: f"{r[1]} {r[0]}")
def test_route(world_app, route):
    app, clock, reset = world_app
    path, data, allowed = ROUTES[route]
    _, method = route
    for actor in ACTORS:
        world = build_world(clock)
        client = signed_in_client(app, world, actor)
        response = client.open(_fill(path, world), method=method, data=data)
        where = f"{method} {path} as {actor}: {response.status_code}"
        location = response.headers.get("Location", "")
        body = response.get_data(as_text=True)
        response.close()
        if allowed is API_KEY_ONLY:
            assert response.status_code == 401, where  # cookies open nothing in the API
        elif actor in allowed:
            # (a wrong password at sign-in is answered 401: that is the page working)
            assert response.status_code not in (403, 404), where
            assert response.status_code != 401 or route == ("auth.login", "POST"), where
            assert "/login" not in location or route[0] == "auth.logout", where
        elif actor == "anonymous" and allowed is not NOBODY:
            assert response.status_code == 302 and "/login" in location, where
        else:
            assert response.status_code in (403, 404), where
        if response.mimetype in ("text/html", "application/json", "text/csv"):
            assert not _hidden_in(actor, body), where
        reset()


# --- Socket.IO -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SocketCase:
    payload: dict[str, Any]
    allowed: frozenset[str]
    variant: str = "in_call"
    # An allowed actor's expected error, when success needs a live provider this test lacks.
    provider_error: bool = False


SOCKET_EVENTS: dict[str, SocketCase] = {
    "session.join": SocketCase({"campaign_id": "{campaign}"}, A_CALLERS),
    "session.resume": SocketCase({}, SESSION_HOLDERS),
    "audio.connect": SocketCase({"mode": "browser"}, SESSION_HOLDERS),
    "audio.token": SocketCase({}, SESSION_HOLDERS),
    "volunteer.ready": SocketCase({"ready": False}, SESSION_HOLDERS),
    "volunteer.raise_hand": SocketCase({"raised": True}, SESSION_HOLDERS),
    "call.dial": SocketCase({}, frozenset({"volunteer"}), variant="preview"),
    "call.hangup": SocketCase({}, SESSION_HOLDERS),
    "outcome.draft": SocketCase(
        {"call_id": "{call}", "outcome": "talked", "answers": {}, "notes": "n"},
        frozenset({"volunteer"}),
    ),
    "outcome.submit": SocketCase(
        {"call_id": "{call}", "submission_id": "sub-1", "outcome": "talked", "answers": {}},
        frozenset({"volunteer"}),
    ),
    "voter.skip": SocketCase({"reason": "other"}, frozenset({"volunteer"}), variant="preview"),
    "session.end": SocketCase({}, SESSION_HOLDERS),
    "dashboard.watch": SocketCase({"campaign_id": "{campaign}"}, A_LEADS),
    "dashboard.unwatch": SocketCase({"campaign_id": "{campaign}"}, SIGNED_IN),
    "lead.message": SocketCase({"session_id": "{session}", "text": "Hello"}, A_LEADS),
    "lead.pause": SocketCase({"session_id": "{session}"}, A_LEADS),
    "lead.end_session": SocketCase({"session_id": "{session}"}, A_LEADS),
    "monitor.join": SocketCase({"session_id": "{session}"}, A_LEADS),
    "monitor.mode": SocketCase(
        {"session_id": "{session}", "mode": "whisper"}, A_LEADS, provider_error=True
    ),
    "monitor.stop": SocketCase({"session_id": "{session}"}, A_LEADS),
    "list.watch": SocketCase({"list_id": "{list}"}, STAFF),
}
# Lead actions act on the volunteer's session by design; everything else must leave it alone.
CHANGES_VOLUNTEER = {"lead.message", "lead.pause", "lead.end_session"}


def test_every_socket_event_is_in_the_matrix():
    from phonebank.extensions import socketio

    make_app("sqlite://")
    events = set(socketio.server.handlers["/"]) - {"connect", "disconnect"}
    assert events - set(SOCKET_EVENTS) == set(), "events missing from the authorization matrix"
    assert set(SOCKET_EVENTS) - events == set()


def _resolve(payload: dict[str, Any], world: World) -> dict[str, Any]:
    return {
        key: (
            int(_fill(value, world)) if isinstance(value, str) and value.startswith("{") else value
        )
        for key, value in payload.items()
    }


def _volunteer_view(world: World) -> tuple:
    """What someone else's event must not change: the volunteer's session and call."""
    from phonebank.extensions import db
    from phonebank.models import Call

    db.session.expire_all()
    session = db.session.get(CallingSession, world["session"])
    call = db.session.get(Call, world.ids["call"]) if "call" in world.ids else None
    return (
        session.version,
        session.ended_at,
        session.ready,
        session.draft,
        session.current_target_id,
        session.current_call_id,
        call.outcome_id if call else None,
    )


@pytest.mark.parametrize("event", sorted(SOCKET_EVENTS))
def test_socket_event(world_app, event):
    from phonebank.extensions import socketio

    app, clock, reset = world_app
    case = SOCKET_EVENTS[event]
    for actor in ACTORS:
        world = build_world(clock, case.variant)
        before = _volunteer_view(world)
        socket = socketio.test_client(app, flask_test_client=signed_in_client(app, world, actor))
        reply = received = None
        if socket.is_connected():
            reply = socket.emit(event, _resolve(case.payload, world), callback=True)
            received = [m["args"] for m in socket.get_received()]
            socket.disconnect()
        where = f"{event} as {actor}: {reply}"
        if actor == "anonymous" and reply is None:
            pass  # the refused handshake left nothing to answer (tests/auth/test_sockets.py)
        else:
            assert isinstance(reply, dict) and "ok" in reply, where
        if reply is None:
            pass
        elif actor in case.allowed and case.provider_error:
            assert not reply["ok"] and "Twilio" in reply["error"], where
        elif actor in case.allowed:
            assert reply["ok"], where
        else:
            assert not reply["ok"], where
            assert set(reply) <= {"ok", "error"}, where  # nothing else in a refusal
        assert not _hidden_in(actor, repr(reply) + repr(received)), where
        if actor != "volunteer" and not (event in CHANGES_VOLUNTEER and actor in case.allowed):
            assert _volunteer_view(world) == before, where
        reset()
