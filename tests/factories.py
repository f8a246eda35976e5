"""Builders for test data, in one place. They use the services, as the app does."""

from __future__ import annotations

import itertools

from phonebank.auth import services as accounts
from phonebank.extensions import db
from phonebank.models import Campaign, CampaignStatus, Role, User

PASSWORD = "correct horse battery"
_seq = itertools.count(1)
_password_hash: str | None = None


def user(role: Role = Role.VOLUNTEER, email: str | None = None, name: str | None = None) -> User:
    """A user whose password is PASSWORD (hashed once per run: Argon2 is slow on purpose)."""
    global _password_hash
    if _password_hash is None:
        _password_hash = accounts.hash_password(PASSWORD)
    n = next(_seq)
    made = User(
        email=email or f"{role.value}{n}@example.org",
        name=name or f"{role.label} {n}",
        role=role,
        password_hash=_password_hash,
    )
    db.session.add(made)
    db.session.flush()
    return made


def one_user_per_role() -> dict[Role, User]:
    return {role: user(role, email=f"{role.value}@example.org") for role in Role}


def campaign(name: str = "Test campaign", status=CampaignStatus.ACTIVE) -> Campaign:
    c = Campaign(name=name, status=status)
    db.session.add(c)
    db.session.flush()
    return c
