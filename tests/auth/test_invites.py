"""Joining through invite links: expiry, use limits, withdrawal, campaign membership."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from phonebank.auth import services as accounts
from phonebank.models import Activity, CampaignMember, Role, User, utcnow
from tests import factories


def join(client, token, email="new@example.org", **extra):
    data = {
        "name": "Nia New",
        "email": email,
        "password": "a-long-enough-password",
        "confirm": "a-long-enough-password",
        **extra,
    }
    return client.post(f"/join/{token}", data=data)


@pytest.fixture
def staff(users):
    return users[Role.STAFF]


def test_invite_sign_up_creates_a_volunteer_in_the_campaign(client, db, staff):
    campaign = factories.campaign()
    invite = accounts.create_invite(staff, campaign_id=campaign.id, max_uses=5)
    db.session.commit()
    page = client.get(f"/join/{invite.token}")
    assert page.status_code == 200
    assert b"Test campaign" in page.data
    response = join(client, invite.token, phone="(212) 555-0142")
    assert response.status_code == 302
    user = db.session.scalar(select(User).where(User.email == "new@example.org"))
    assert user.role == Role.VOLUNTEER
    assert user.phone == "+12125550142"
    assert db.session.scalar(
        select(CampaignMember).where(
            CampaignMember.user_id == user.id, CampaignMember.campaign_id == campaign.id
        )
    )
    # Signed in straight away, and the sign-up is in the supporter store's history.
    assert b"Your campaigns" in client.get("/").data
    activity = db.session.scalar(select(Activity).where(Activity.person_id == user.person_id))
    assert (activity.kind, activity.module, activity.campaign_id) == (
        "volunteer_signup",
        "accounts",
        campaign.id,
    )
    db.session.refresh(invite)
    assert invite.uses == 1


def test_expired_invite_is_refused(client, db, staff):
    invite = accounts.create_invite(staff)
    invite.expires_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    page = client.get(f"/join/{invite.token}")
    assert page.status_code == 410
    assert b"expired" in page.data
    assert join(client, invite.token).status_code == 410
    assert db.session.scalar(select(User).where(User.email == "new@example.org")) is None


def test_used_up_invite_is_refused(client, db, staff):
    invite = accounts.create_invite(staff, max_uses=1)
    db.session.commit()
    assert join(client, invite.token, email="first@example.org").status_code == 302
    client.post("/logout")
    response = join(client, invite.token, email="second@example.org")
    assert response.status_code == 410
    assert b"already been used" in response.data
    assert db.session.scalar(select(User).where(User.email == "second@example.org")) is None


def test_use_limit_holds_in_the_database_even_for_a_stale_check(app, db, staff, monkeypatch):
    """The atomic UPDATE refuses a use beyond the limit even if the invite looked usable."""
    invite = accounts.create_invite(staff, max_uses=1)
    db.session.commit()
    accounts.sign_up_with_invite(
        invite.token, accounts.SignUp("A One", "a@example.org", "a-long-enough-password")
    )
    db.session.commit()
    # A concurrent request that checked the invite before the last use was taken.
    monkeypatch.setattr(type(invite), "problem", lambda self, now=None: None)
    with pytest.raises(accounts.AccountError, match="already been used"):
        accounts.sign_up_with_invite(
            invite.token, accounts.SignUp("B Two", "b@example.org", "a-long-enough-password")
        )
    db.session.rollback()
    assert db.session.scalar(select(User).where(User.email == "b@example.org")) is None


def test_withdrawn_and_unknown_invites_are_refused(client, db, staff):
    invite = accounts.create_invite(staff)
    accounts.revoke_invite(invite)
    db.session.commit()
    assert b"withdrawn" in client.get(f"/join/{invite.token}").data
    assert client.get("/join/not-a-real-token").status_code == 410


def test_sign_up_errors_keep_the_invite_unused(client, db, staff, users):
    invite = accounts.create_invite(staff, max_uses=1)
    db.session.commit()
    response = join(client, invite.token, email=users[Role.LEAD].email)
    assert response.status_code == 400
    assert b"already an account" in response.data
    response = join(client, invite.token, phone="12")
    assert response.status_code == 400
    assert b"phone number looks wrong" in response.data
    db.session.refresh(invite)
    assert invite.uses == 0


def test_mismatched_passwords_are_reported(client, db, staff):
    invite = accounts.create_invite(staff)
    db.session.commit()
    response = join(client, invite.token, confirm="something-else-entirely")
    assert response.status_code == 400
    assert b"The passwords differ." in response.data


def test_invite_roles_cannot_exceed_the_creator(db, users):
    with pytest.raises(accounts.AccountError):
        accounts.create_invite(users[Role.LEAD], role=Role.STAFF)
    with pytest.raises(accounts.AccountError):
        accounts.create_invite(users[Role.STAFF], max_uses=0)
