"""Signing in and out, throttling, sessions revoked server-side."""

from sqlalchemy import select

from phonebank.models import LoginFailure, LoginSession, Role
from tests.conftest import sign_in
from tests.factories import PASSWORD


def test_login_page_renders(client):
    response = client.get("/login")
    assert response.status_code == 200
    assert b"Sign in" in response.data


def test_each_role_reaches_its_home_page(client, users):
    expected = {
        Role.VOLUNTEER: b"Your campaigns",
        Role.LEAD: b"Call-centre lead",
        Role.STAFF: b"Staff overview",
    }
    for role, user in users.items():
        response = sign_in(client, user.email)
        assert response.status_code == 302
        home = client.get("/")
        assert home.status_code == 200
        assert expected[role] in home.data
        client.post("/logout")


def test_wrong_password_is_refused_and_recorded(client, users, db):
    response = sign_in(client, users[Role.STAFF].email, "not the password")
    assert response.status_code == 401
    assert b"do not match an account" in response.data
    assert client.get("/").status_code == 302  # still anonymous
    failures = db.session.scalars(select(LoginFailure)).all()
    assert [f.email for f in failures] == [users[Role.STAFF].email]


def test_unknown_email_gets_the_same_answer(client, users):
    response = sign_in(client, "nobody@example.org", "whatever-password")
    assert response.status_code == 401
    assert b"do not match an account" in response.data


def test_login_is_throttled_after_repeated_failures(client, users, app):
    email = users[Role.VOLUNTEER].email
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        assert sign_in(client, email, "wrong-password").status_code == 401
    # Even the right password is refused while throttled.
    response = sign_in(client, email, PASSWORD)
    assert response.status_code == 429
    assert b"Too many failed sign-in attempts" in response.data
    # Another account from the same address is not locked by this one's failures.
    assert sign_in(client, users[Role.LEAD].email).status_code == 302


def test_success_clears_earlier_failures(client, users, db):
    email = users[Role.VOLUNTEER].email
    sign_in(client, email, "wrong-password")
    assert sign_in(client, email).status_code == 302
    assert db.session.scalars(select(LoginFailure)).all() == []


def test_logout_revokes_the_session_server_side(client, users, db):
    sign_in(client, users[Role.STAFF].email)
    with client.session_transaction() as s:
        stolen_cookie_session = dict(s)
    client.post("/logout")
    login = db.session.scalars(select(LoginSession)).one()
    assert login.ended_at is not None
    # Replaying the old session cookie after logout does not sign anyone in.
    with client.session_transaction() as s:
        s.update(stolen_cookie_session)
    assert client.get("/").status_code == 302


def test_logout_needs_post(client, users):
    sign_in(client, users[Role.STAFF].email)
    assert client.get("/logout").status_code == 405
    assert client.get("/").status_code == 200


def test_next_parameter_cannot_redirect_off_site(client, users):
    response = client.post(
        "/login?next=https://evil.example/",
        data={"email": users[Role.STAFF].email, "password": PASSWORD},
    )
    assert response.headers["Location"] == "/"
    client.post("/logout")
    response = client.post(
        "/login?next=/team/users",
        data={"email": users[Role.STAFF].email, "password": PASSWORD},
    )
    assert response.headers["Location"] == "/team/users"


def test_deactivated_user_cannot_sign_in(client, users, db):
    users[Role.VOLUNTEER].is_active_account = False
    db.session.commit()
    response = sign_in(client, users[Role.VOLUNTEER].email)
    assert response.status_code == 401
    assert b"deactivated" in response.data


def test_passwords_are_hashed_with_argon2id(users):
    assert users[Role.STAFF].password_hash.startswith("$argon2id$")
