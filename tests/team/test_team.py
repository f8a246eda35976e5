"""Staff manage users and invites; nobody else can."""

import re

import pytest
from sqlalchemy import select

from phonebank.models import Invite, LoginSession, Role, User
from tests.conftest import sign_in

STAFF_URLS = ["/team/users", "/team/invites", "/team/users/1"]


@pytest.mark.parametrize("role", [Role.VOLUNTEER, Role.LEAD])
def test_staff_pages_are_forbidden_below_staff(client, users, role):
    sign_in(client, users[role].email)
    for url in STAFF_URLS:
        response = client.get(url)
        assert response.status_code == 403, url
        assert b"Not allowed" in response.data
    assert client.post("/team/users", data={"name": "x"}).status_code == 403


def test_staff_pages_need_sign_in(client, users):
    response = client.get("/team/users")
    assert response.status_code == 302
    assert "/login?next=" in response.headers["Location"]


def test_staff_creates_a_user_who_can_sign_in(client, users, db):
    sign_in(client, users[Role.STAFF].email)
    response = client.post(
        "/team/users",
        data={
            "name": "Lena Lead",
            "email": "Lena@Example.org",
            "role": "lead",
            "password": "temporary-password",
            "phone": "+44 131 496 0123",
        },
        follow_redirects=True,
    )
    assert b"Account created for Lena Lead" in response.data
    user = db.session.scalar(select(User).where(User.email == "lena@example.org"))
    assert (user.role, user.phone) == (Role.LEAD, "+441314960123")
    client.post("/logout")
    assert sign_in(client, "LENA@example.org", "temporary-password").status_code == 302


def test_duplicate_email_is_reported(client, users):
    sign_in(client, users[Role.STAFF].email)
    response = client.post(
        "/team/users",
        data={
            "name": "Again",
            "email": users[Role.LEAD].email,
            "role": "lead",
            "password": "temporary-password",
        },
        follow_redirects=True,
    )
    assert b"already an account" in response.data


def test_role_change_and_password_reset_sign_the_user_out(client, app, users, db):
    volunteer = users[Role.VOLUNTEER]
    other = app.test_client()
    sign_in(other, volunteer.email)
    sign_in(client, users[Role.STAFF].email)
    response = client.post(
        f"/team/users/{volunteer.id}",
        data={"role": "lead", "new_password": "brand-new-password"},
        follow_redirects=True,
    )
    assert b"Saved" in response.data
    db.session.expire_all()
    assert db.session.get(User, volunteer.id).role == Role.LEAD
    assert other.get("/").status_code == 302  # their session ended
    open_sessions = db.session.scalars(
        select(LoginSession).where(
            LoginSession.user_id == volunteer.id, LoginSession.ended_at.is_(None)
        )
    ).all()
    assert open_sessions == []
    assert sign_in(other, volunteer.email, "brand-new-password").status_code == 302


def test_staff_cannot_demote_or_deactivate_themselves(client, users, db):
    staff = users[Role.STAFF]
    sign_in(client, staff.email)
    response = client.post(
        f"/team/users/{staff.id}", data={"role": "volunteer"}, follow_redirects=True
    )
    assert b"cannot change your own role" in response.data
    response = client.post(
        f"/team/users/{staff.id}/active", data={"active": "0"}, follow_redirects=True
    )
    assert b"cannot deactivate your own account" in response.data
    db.session.expire_all()
    assert db.session.get(User, staff.id).is_active_account


def test_deactivate_and_reactivate(client, app, users, db):
    volunteer = users[Role.VOLUNTEER]
    other = app.test_client()
    sign_in(other, volunteer.email)
    sign_in(client, users[Role.STAFF].email)
    client.post(f"/team/users/{volunteer.id}/active", data={"active": "0"})
    assert other.get("/").status_code == 302
    assert sign_in(other, volunteer.email).status_code == 401
    client.post(f"/team/users/{volunteer.id}/active", data={"active": "1"})
    assert sign_in(other, volunteer.email).status_code == 302


def test_staff_creates_lists_and_withdraws_invites(client, users, db):
    sign_in(client, users[Role.STAFF].email)
    response = client.post(
        "/team/invites",
        data={"role": "volunteer", "campaign_id": "0", "expires_in_days": "7", "max_uses": "3"},
        follow_redirects=True,
    )
    assert b"Invite link created" in response.data
    link = re.search(rb'value="(http://localhost/join/[^"]+)"', response.data).group(1).decode()
    invite = db.session.scalar(select(Invite))
    assert link.endswith(invite.token)
    assert (invite.max_uses, invite.role) == (3, Role.VOLUNTEER)
    client.post(f"/team/invites/{invite.id}/revoke")
    db.session.expire_all()
    assert db.session.get(Invite, invite.id).revoked_at is not None


def test_user_search_filters(client, users):
    sign_in(client, users[Role.STAFF].email)
    page = client.get("/team/users?role=lead").data
    assert users[Role.LEAD].email.encode() in page
    assert users[Role.VOLUNTEER].email.encode() not in page
    page = client.get("/team/users?q=volunteer@").data
    assert users[Role.VOLUNTEER].email.encode() in page
    assert users[Role.LEAD].email.encode() not in page
