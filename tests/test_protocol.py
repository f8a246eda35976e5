"""docs/protocol.md and the code agree: every Socket.IO event a page sends is registered, has a
payload schema and is documented; every notice reason the code can set is documented; and a
malformed payload is refused with a clear answer, for every event."""

from __future__ import annotations

import re

import pytest

from phonebank.calling import protocol
from tests.conftest import REPO_ROOT, make_app, sign_in

DOCS = (REPO_ROOT / "docs" / "protocol.md", REPO_ROOT / "docs" / "monitoring.md")
SERVER_EVENTS = {"session.state", "session.notice", "dashboard.volunteer", "dashboard.figures",
                 "list.progress", "list.finished"}  # fmt: skip


def documented_events() -> set[str]:
    names = set()
    for path in DOCS:
        for line in path.read_text().splitlines():
            match = re.match(r"\| `([a-z_]+\.[a-z_]+)` \|", line)
            if match:
                names.add(match.group(1))
    names |= set(re.findall(r"`(list\.watch) ", DOCS[0].read_text()))
    return names - SERVER_EVENTS


def registered_events() -> set[str]:
    from phonebank.extensions import socketio

    make_app("sqlite://")
    return set(socketio.server.handlers["/"]) - {"connect", "disconnect"}


def test_every_event_is_registered_schemed_and_documented():
    registered = registered_events()
    assert registered == set(protocol.SCHEMAS)
    assert documented_events() == registered


def test_every_notice_reason_is_documented():
    text = DOCS[0].read_text()
    documented = set(re.findall(r"^\| `([a-z_:]+)` \| ", text[text.index("### Notices") :], re.M))
    assert documented == {n.value for n in protocol.Notice}


def test_no_notice_reason_is_written_outside_the_vocabulary():
    code = "\n".join(p.read_text() for p in (REPO_ROOT / "phonebank").rglob("*.py"))
    literal = re.findall(r'"reason": "([a-z_:]+)"', code)
    assert literal == [], f"notice reasons written as bare strings: {literal}"


@pytest.mark.parametrize(
    ("event", "payload", "error"),
    [
        ("session.join", {"campaign_id": "abc"}, "campaign_id is not valid"),
        ("session.join", [], "must be an object"),
        ("audio.connect", {"mode": "bogus"}, "mode is not valid"),
        ("outcome.submit", {"call_id": "x"}, "call_id is not valid"),
        ("outcome.submit", {"call_id": 3, "outcome": "talked"}, "missing submission_id"),
        ("outcome.draft", "not an object", "must be an object"),
        ("outcome.draft", {"call_id": 1, "answers": {"1": 5}}, "answers is not valid"),
        ("volunteer.ready", {"ready": "yes"}, "ready is not valid"),
        ("lead.message", {"session_id": True, "text": "x"}, "session_id is not valid"),
        ("monitor.mode", {"session_id": 1, "mode": "shout"}, "mode is not valid"),
        ("list.watch", {"list_id": -1}, "list_id is not valid"),
    ],
)
def test_malformed_payloads_are_refused_clearly(event, payload, error):
    with pytest.raises(protocol.PayloadError, match=error):
        protocol.parse(event, payload)


def test_every_event_answers_a_malformed_payload_without_changing_anything(
    database_url, monkeypatch
):
    """Through the real handlers: a staff member's socket sends each event garbage."""
    from phonebank.extensions import db, socketio
    from phonebank.models import Role
    from tests import factories

    app = make_app(database_url, WTF_CSRF_ENABLED=False)
    with app.app_context():
        staff = factories.user(Role.STAFF)
        db.session.commit()
        client = app.test_client()
        sign_in(client, staff.email)
        socket = socketio.test_client(app, flask_test_client=client)
        for event in sorted(protocol.SCHEMAS):
            reply = socket.emit(event, ["not", "an", "object"], callback=True)
            assert reply["ok"] is False and "malformed" in reply["error"], (event, reply)
        socket.disconnect()
        db.session.remove()
        db.engine.dispose()
