"""Socket.IO against the real gunicorn gevent server: who may connect, and logout disconnects."""

import time

import pytest
import requests
import socketio
import websocket

from phonebank.models import Role
from tests.conftest import LiveServer, check_server_log, login_session, seed_live_users


def wait_until(predicate, timeout=10.0, interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


def post_form(session: requests.Session, base_url: str, page: str, action: str, data=None):
    """Submit a form the way the browser does: CSRF token from the page, then POST."""
    import re

    html = session.get(base_url + page, timeout=10).text
    token = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', html).group(1)
    return session.post(base_url + action, data={"csrf_token": token, **(data or {})}, timeout=10)


def test_anonymous_connection_is_refused(live_server):
    client = socketio.Client(reconnection=False)
    reasons = []
    client.on("connect_error", reasons.append)
    with pytest.raises(socketio.exceptions.ConnectionError):
        client.connect(live_server.url, transports=["websocket"], wait_timeout=10)
    assert reasons == [{"message": "Sign in first."}]


def test_cross_origin_handshake_is_refused(live_server, socket_client_factory):
    live_server.expected_log.append(r"https://evil\.example is not an accepted origin")
    users = seed_live_users(live_server.database_url)
    session = login_session(live_server.url, users[Role.VOLUNTEER][1])
    cookie = "; ".join(f"{c.name}={c.value}" for c in session.cookies)
    # Long-polling handshake from another site's page: refused.
    polling = session.get(
        live_server.url + "/socket.io/?EIO=4&transport=polling",
        headers={"Origin": "https://evil.example"},
        timeout=10,
    )
    assert polling.status_code == 400
    # WebSocket handshake from another site's page: refused.
    ws_url = live_server.url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket"
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        websocket.create_connection(ws_url, origin="https://evil.example", cookie=cookie)
    assert refused.value.status_code == 400
    # The same signed-in session from the app's own origin is accepted.
    client = socket_client_factory(live_server.url, session)
    assert client.connected


def test_signed_in_user_connects_and_logout_disconnects(live_server, socket_client_factory):
    users = seed_live_users(live_server.database_url)
    session = login_session(live_server.url, users[Role.VOLUNTEER][1])
    client = socket_client_factory(live_server.url, session)
    assert client.connected
    other = login_session(live_server.url, users[Role.VOLUNTEER][1])  # a second browser
    other_client = socket_client_factory(live_server.url, other)

    response = post_form(session, live_server.url, "/", "/logout")
    assert response.url.endswith("/login")
    assert wait_until(lambda: not client.connected), "logout left the socket open"
    assert other_client.connected, "logout in one browser must not end another"
    # The signed-out cookie cannot open a new socket.
    with pytest.raises(socketio.exceptions.ConnectionError):
        socket_client_factory(live_server.url, session)


def test_deactivation_disconnects_every_socket_of_that_user(live_server, socket_client_factory):
    users = seed_live_users(live_server.database_url)
    volunteer = login_session(live_server.url, users[Role.VOLUNTEER][1])
    sockets = [socket_client_factory(live_server.url, volunteer) for _ in range(2)]
    staff = login_session(live_server.url, users[Role.STAFF][1])
    user_id = users[Role.VOLUNTEER][0]
    post_form(
        staff,
        live_server.url,
        f"/team/users/{user_id}",
        f"/team/users/{user_id}/active",
        {"active": "0"},
    )
    assert wait_until(lambda: not any(s.connected for s in sockets))
    assert volunteer.get(live_server.url + "/", timeout=10).url.endswith("/login?next=%2F")


@pytest.mark.live
def test_logout_reaches_a_socket_held_by_another_process(
    postgres_url, redis_url, tmp_path, socket_client_factory
):
    """Two web processes behind one Redis message queue: logout on A disconnects B's socket."""
    first = LiveServer(postgres_url, tmp_path, redis_url=redis_url).start()
    second = LiveServer(postgres_url, tmp_path, redis_url=redis_url).start()
    try:
        users = seed_live_users(postgres_url)
        session = login_session(first.url, users[Role.LEAD][1])
        # The same browser session, connected to the second process.
        client = socket_client_factory(second.url, session)
        assert client.connected
        post_form(session, first.url, "/", "/logout")
        assert wait_until(lambda: not client.connected), "socket on process B survived logout"
    finally:
        first.stop()
        second.stop()
    check_server_log(first)
    check_server_log(second)
