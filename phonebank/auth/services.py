"""Accounts: passwords, login sessions, throttling and invites.

Services change the session and flush; the caller commits once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from sqlalchemy import delete, func, or_, select, update

from phonebank import realtime
from phonebank.extensions import db
from phonebank.models import (
    CampaignMember,
    Invite,
    LoginFailure,
    LoginSession,
    Role,
    SocketConnection,
    User,
    utcnow,
)
from phonebank.supporters import services as supporters

# Argon2id with the library's current recommended parameters (RFC 9106 low-memory profile).
password_hasher = PasswordHasher()


def _off_hub(fn, *args):
    """Run a slow Argon2 call (about 0.1 s of CPU, by design) in gevent's thread pool when the
    server is monkey-patched, so one sign-in does not freeze every other request and socket.
    argon2-cffi releases the GIL while hashing. Elsewhere (tests, CLI) it simply runs here."""
    from gevent import get_hub, monkey

    if not monkey.is_module_patched("threading"):
        return fn(*args)

    def call():
        # Hand exceptions (a wrong password) back rather than let the pool log them as errors.
        try:
            return fn(*args), None
        except Exception as exc:  # noqa: BLE001 - re-raised below, in the caller's greenlet
            return None, exc

    result, error = get_hub().threadpool.apply(call)
    if error is not None:
        raise error
    return result


MIN_PASSWORD_LENGTH = 10


class AccountError(Exception):
    """A request about accounts that cannot be met; the message is shown to the person."""


class LoginThrottled(AccountError):
    def __init__(self, minutes: int):
        super().__init__(
            f"Too many failed sign-in attempts. Try again in {minutes} minute"
            f"{'s' if minutes != 1 else ''}, or ask a staff member to reset your password."
        )
        self.minutes = minutes


def normalize_email(email: str) -> str:
    return email.strip().lower()


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"Passwords need at least {MIN_PASSWORD_LENGTH} characters.")
    return _off_hub(password_hasher.hash, password)


def check_password(user: User, password: str) -> bool:
    """Verify and, when the hashing parameters have moved on, re-hash in place."""
    try:
        _off_hub(password_hasher.verify, user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
    if password_hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _off_hub(password_hasher.hash, password)
    return True


# A hash to verify against when the email is unknown, so timing does not reveal accounts.
_DUMMY_HASH = password_hasher.hash("phonebank-timing-equaliser")


def create_user(email: str, name: str, password: str, role: Role, phone: str | None = None) -> User:
    email = normalize_email(email)
    if db.session.scalar(select(User.id).where(User.email == email)) is not None:
        raise AccountError(f"There is already an account for {email}.")
    user = User(
        email=email,
        name=name.strip(),
        role=role,
        password_hash=hash_password(password),
        phone=phone or None,
    )
    db.session.add(user)
    db.session.flush()
    return user


def _lockout_remaining(email: str, ip: str, now: datetime) -> int | None:
    """Minutes until this account or address may try again, or None if not throttled."""
    cfg = current_app.config
    window = timedelta(minutes=cfg["LOGIN_LOCKOUT_MINUTES"])
    since = now - window
    for column, value, limit in (
        (LoginFailure.email, email, cfg["LOGIN_MAX_FAILURES"]),
        (LoginFailure.ip, ip, cfg["LOGIN_MAX_FAILURES_PER_IP"]),
    ):
        count, last = db.session.execute(
            select(func.count(), func.max(LoginFailure.at)).where(
                column == value, LoginFailure.at > since
            )
        ).one()
        if count >= limit:
            # SQLite returns naive datetimes from aggregate functions.
            last = last if isinstance(last, datetime) else datetime.fromisoformat(str(last))
            if last.tzinfo is None:
                last = last.replace(tzinfo=now.tzinfo)
            remaining = (last + window - now).total_seconds()
            return max(1, int(remaining // 60) + (1 if remaining % 60 else 0))
    return None


def authenticate(email: str, password: str, ip: str) -> User:
    """Return the user for these credentials or raise; failures count towards throttling.

    The caller must commit even when this raises, so that the failure is recorded.
    """
    email = normalize_email(email)
    now = utcnow()
    minutes = _lockout_remaining(email, ip, now)
    if minutes is not None:
        raise LoginThrottled(minutes)
    user = db.session.scalar(select(User).where(User.email == email))
    if user is None:
        try:
            _off_hub(password_hasher.verify, _DUMMY_HASH, password)
        except VerificationError:
            pass
        ok = False
    else:
        ok = check_password(user, password)
    if not ok:
        db.session.add(LoginFailure(email=email, ip=ip, at=now))
        db.session.flush()
        raise AccountError("That email and password do not match an account.")
    if not user.is_active:
        raise AccountError("This account has been deactivated. Ask a staff member.")
    db.session.execute(delete(LoginFailure).where(LoginFailure.email == email))
    return user


def start_login_session(user: User, ip: str | None, user_agent: str | None) -> LoginSession:
    login = LoginSession(user=user, ip=ip, user_agent=(user_agent or "")[:255])
    db.session.add(login)
    user.last_login_at = utcnow()
    db.session.flush()
    user.current_login = login
    return login


def load_login_session(token: str) -> User | None:
    """Flask-Login's user loader: an open login session of an active user, or None."""
    login = db.session.scalar(
        select(LoginSession).where(LoginSession.token == token, LoginSession.ended_at.is_(None))
    )
    if login is None or not login.user.is_active:
        return None
    login.user.current_login = login
    return login.user


def end_login_sessions(*conditions) -> int:
    """End matching open login sessions and disconnect their sockets after commit."""
    open_sessions = select(LoginSession.id).where(LoginSession.ended_at.is_(None), *conditions)
    ids = list(db.session.scalars(open_sessions))
    if not ids:
        return 0
    db.session.execute(
        update(LoginSession).where(LoginSession.id.in_(ids)).values(ended_at=utcnow())
    )
    sids = list(
        db.session.scalars(
            select(SocketConnection.sid).where(SocketConnection.login_session_id.in_(ids))
        )
    )
    db.session.execute(delete(SocketConnection).where(SocketConnection.login_session_id.in_(ids)))
    realtime.disconnect_after_commit(sids)
    return len(ids)


def log_out(login: LoginSession) -> None:
    end_login_sessions(LoginSession.id == login.id)


def set_active(user: User, active: bool) -> None:
    """Deactivating an account ends all its login sessions and sockets at once."""
    user.is_active_account = active
    if not active:
        end_login_sessions(LoginSession.user_id == user.id)


def change_role(user: User, role: Role) -> None:
    """A new role takes effect at the next sign-in: rooms joined under the old one are left."""
    user.role = role
    end_login_sessions(LoginSession.user_id == user.id)


def change_password(user: User, new_password: str, keep: LoginSession | None = None) -> None:
    """Set a new password and sign out every other browser."""
    user.password_hash = hash_password(new_password)
    conditions = [LoginSession.user_id == user.id]
    if keep is not None:
        conditions.append(LoginSession.id != keep.id)
    end_login_sessions(*conditions)


# --- invites -----------------------------------------------------------------------------


def create_invite(
    created_by: User,
    role: Role = Role.VOLUNTEER,
    campaign_id: int | None = None,
    expires_in_days: int | None = None,
    max_uses: int | None = None,
    note: str | None = None,
) -> Invite:
    if role.rank > created_by.role.rank:
        raise AccountError("You cannot invite someone to a role above your own.")
    if max_uses is not None and max_uses < 1:
        raise AccountError("An invite must allow at least one use.")
    if expires_in_days is not None and expires_in_days < 1:
        raise AccountError("An invite must last at least one day.")
    invite = Invite(
        role=role,
        campaign_id=campaign_id,
        created_by=created_by,
        expires_at=utcnow() + timedelta(days=expires_in_days) if expires_in_days else None,
        max_uses=max_uses,
        note=(note or "").strip() or None,
    )
    db.session.add(invite)
    db.session.flush()
    return invite


def find_invite(token: str) -> Invite | None:
    return db.session.scalar(select(Invite).where(Invite.token == token))


def revoke_invite(invite: Invite) -> None:
    if invite.revoked_at is None:
        invite.revoked_at = utcnow()


@dataclass
class SignUp:
    name: str
    email: str
    password: str
    phone: str | None = None


def sign_up_with_invite(token: str, form: SignUp) -> User:
    """Create an account from an invite, using up one of its uses atomically."""
    invite = find_invite(token)
    if invite is None:
        raise AccountError("This invite link is not valid. Check it, or ask for a new one.")
    problem = invite.problem()
    if problem:
        raise AccountError(problem)
    now = utcnow()
    # One atomic statement: two people racing for the last use cannot both get it.
    taken = db.session.execute(
        update(Invite)
        .where(
            Invite.id == invite.id,
            Invite.revoked_at.is_(None),
            or_(Invite.expires_at.is_(None), Invite.expires_at > now),
            or_(Invite.max_uses.is_(None), Invite.uses < Invite.max_uses),
        )
        .values(uses=Invite.uses + 1)
        .execution_options(synchronize_session=False)
    ).rowcount
    if taken != 1:
        raise AccountError("This invite link has already been used as many times as it allows.")
    user = create_user(form.email, form.name, form.password, invite.role, phone=form.phone)
    user.invite_id = invite.id
    if invite.campaign_id is not None:
        db.session.add(CampaignMember(campaign_id=invite.campaign_id, user_id=user.id))
    first, _, last = user.name.partition(" ")
    person = supporters.find_or_create_person(
        first_name=first,
        last_name=last,
        email=user.email,
        phone=user.phone,
        source="accounts",
    )
    user.person_id = person.id
    supporters.record_activity(
        person,
        kind="volunteer_signup",
        module="accounts",
        actor=user,
        campaign_id=invite.campaign_id,
        payload={"role": user.role.value, "invite_id": invite.id},
    )
    db.session.flush()
    return user
