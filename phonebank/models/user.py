"""Accounts: users, their login sessions and sockets, failed logins and invites."""

from __future__ import annotations

import enum
import secrets
from datetime import datetime
from typing import TYPE_CHECKING

from flask_login import UserMixin
from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from phonebank.models.base import Base, utcnow
from phonebank.models.types import str_enum

if TYPE_CHECKING:
    from phonebank.models.campaign import Campaign


class Role(enum.StrEnum):
    VOLUNTEER = "volunteer"
    LEAD = "lead"
    STAFF = "staff"

    @property
    def rank(self) -> int:
        return {"volunteer": 0, "lead": 1, "staff": 2}[self.value]

    @property
    def label(self) -> str:
        return {"volunteer": "Volunteer", "lead": "Call-centre lead", "staff": "Staff"}[self.value]


def new_token() -> str:
    return secrets.token_urlsafe(32)


class User(UserMixin, Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    role: Mapped[Role] = mapped_column(str_enum(Role, "user_role"), default=Role.VOLUNTEER)
    password_hash: Mapped[str] = mapped_column(String(255))
    phone: Mapped[str | None] = mapped_column(String(20))
    is_active_account: Mapped[bool] = mapped_column(default=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    invite_id: Mapped[int | None] = mapped_column(ForeignKey("invites.id", use_alter=True))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]

    # The login session this request is served under (set by the user loader; not a column).
    current_login = None

    @property
    def is_active(self) -> bool:  # Flask-Login: deactivated accounts cannot log in
        return self.is_active_account

    def get_id(self) -> str:
        """Flask-Login stores the login session's token, so logout revokes it server-side."""
        if self.current_login is None:
            raise RuntimeError("get_id() called without a login session")
        return self.current_login.token

    def has_role(self, role: Role) -> bool:
        """Staff can do everything a lead can, and a lead everything a volunteer can."""
        return self.role.rank >= role.rank

    def __repr__(self) -> str:
        return f"<User {self.id} {self.email} {self.role}>"


class LoginSession(Base):
    """One browser's login; revoked at logout, on deactivation, or by a password change."""

    __tablename__ = "login_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(64), unique=True, default=new_token)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None]
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(255))

    user: Mapped[User] = relationship(lazy="joined")


class WebProcess(Base):
    """A running web process, known by the heartbeat it writes; one that stops beating is dead
    and its socket connections are forgotten (``phonebank.background``)."""

    __tablename__ = "web_processes"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    beat_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class SocketConnection(Base):
    """A live Socket.IO connection, so logout can disconnect it from whichever process holds it.
    ``process`` is the web process holding it: when that process dies, the row goes too."""

    __tablename__ = "socket_connections"

    sid: Mapped[str] = mapped_column(String(64), primary_key=True)
    login_session_id: Mapped[int] = mapped_column(
        ForeignKey("login_sessions.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    connected_at: Mapped[datetime] = mapped_column(default=utcnow)
    process: Mapped[str | None] = mapped_column(String(64), index=True)


class LoginFailure(Base):
    """A failed password attempt, counted per account and per address for throttling."""

    __tablename__ = "login_failures"
    __table_args__ = (
        Index("ix_login_failures_email_at", "email", "at"),
        Index("ix_login_failures_ip_at", "ip", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    ip: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class Invite(Base):
    """A sign-up link: a role, optionally a campaign, an expiry and a number of uses."""

    __tablename__ = "invites"
    __table_args__ = (UniqueConstraint("token"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(64), default=new_token)
    role: Mapped[Role] = mapped_column(str_enum(Role, "invite_role"), default=Role.VOLUNTEER)
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"))
    note: Mapped[str | None] = mapped_column(String(200))
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]
    max_uses: Mapped[int | None]
    uses: Mapped[int] = mapped_column(default=0)
    revoked_at: Mapped[datetime | None]

    created_by: Mapped[User] = relationship(foreign_keys=[created_by_id])
    campaign: Mapped[Campaign | None] = relationship()

    def problem(self, now: datetime | None = None) -> str | None:
        """Why this invite cannot be used now, or None if it can."""
        now = now or utcnow()
        if self.revoked_at is not None:
            return "This invite link has been withdrawn."
        if self.expires_at is not None and self.expires_at <= now:
            return "This invite link has expired."
        if self.max_uses is not None and self.uses >= self.max_uses:
            return "This invite link has already been used as many times as it allows."
        return None
