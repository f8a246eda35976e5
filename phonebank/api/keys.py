"""API keys: made by staff, shown once, kept as a SHA-256 hash; per-key rate limits.

A key reads ``pb_<8 characters>_<43 characters>``. The first part (``prefix``) is stored in
clear, so a key can be found and named in logs; the whole key is compared by its hash. Keys are
random (256 bits), so one fast hash suffices: there is nothing to guess.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import select

from phonebank.extensions import db
from phonebank.models import ApiKey, ApiScope, User, utcnow


class KeyRefused(ValueError):
    """A key that cannot be made as asked (the message says why)."""


# Scopes over the whole organisation, refused to a key restricted to one campaign.
ORGANISATION_SCOPES = {
    ApiScope.READ_CHANGES.value,
    ApiScope.READ_DO_NOT_CALL.value,
    ApiScope.WRITE_DO_NOT_CALL.value,
}


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_key(
    name: str,
    scopes: list[str],
    *,
    by: User | None,
    campaign_id: int | None = None,
    rate_per_minute: int = 600,
) -> tuple[ApiKey, str]:
    """A new key and its token (the only time the token exists in clear). Flushes."""
    name = (name or "").strip()
    if not name:
        raise KeyRefused("Give the key a name that says which integration uses it.")
    known = {s.value for s in ApiScope}
    unknown = sorted(set(scopes) - known)
    if unknown:
        raise KeyRefused(f"Unknown scope(s): {', '.join(unknown)}.")
    if not scopes:
        raise KeyRefused("Choose at least one thing the key may do.")
    if campaign_id is not None and set(scopes) & ORGANISATION_SCOPES:
        raise KeyRefused(
            "A key for one campaign cannot read the change feed or the do-not-call list "
            "(they cover the whole organisation)."
        )
    if not 1 <= int(rate_per_minute) <= 100_000:
        raise KeyRefused("The rate limit is between 1 and 100,000 requests a minute.")
    prefix = "pb_" + secrets.token_hex(4)
    token = f"{prefix}_{secrets.token_urlsafe(32)}"
    key = ApiKey(
        name=name[:100],
        prefix=prefix,
        secret_hash=_hash(token),
        scopes=sorted(set(scopes)),
        campaign_id=campaign_id,
        rate_per_minute=int(rate_per_minute),
        created_by_id=by.id if by else None,
    )
    db.session.add(key)
    db.session.flush()
    return key, token


def revoke_key(key: ApiKey) -> None:
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        db.session.flush()


@dataclass(frozen=True)
class KeyInfo:
    """What a request needs of its key, read once (and unaffected by the request's commits)."""

    id: int
    name: str
    scopes: tuple[str, ...]
    campaign_id: int | None
    rate_per_minute: int


def authenticate(token: str) -> KeyInfo | None:
    """The active key this token belongs to, or None. Read on every request, so a revoked
    key stops at once."""
    parts = token.split("_")
    if len(parts) < 3 or parts[0] != "pb":
        return None
    table = ApiKey.__table__
    row = (
        db.session.connection()
        .execute(select(table).where(table.c.prefix == f"pb_{parts[1]}"))
        .first()
    )
    if row is None or row.revoked_at is not None:
        return None
    if not hmac.compare_digest(row.secret_hash, _hash(token)):
        return None
    return KeyInfo(row.id, row.name, tuple(row.scopes or ()), row.campaign_id, row.rate_per_minute)


_last_used: dict[int, float] = {}


def due_for_last_used(key_id: int, every: float = 60.0) -> bool:
    """Whether this process should write the key's ``last_used_at`` now (once a minute)."""
    now = time.monotonic()
    if now - _last_used.get(key_id, -every) >= every:
        _last_used[key_id] = now
        return True
    return False


# --- rate limits ---------------------------------------------------------------------------


class RateLimiter:
    """Fixed one-minute windows per key: in Redis when phonebank has one (shared by every web
    process), else in this process."""

    def __init__(self):
        self._lock = threading.Lock()
        self._counts: dict[tuple[int, int], int] = {}
        self._redis = None
        self._redis_url: str | None = None

    def _client(self):
        url = current_app.config.get("REDIS_URL")
        if not url:
            return None
        if self._redis is None or self._redis_url != url:
            import redis

            self._redis, self._redis_url = redis.Redis.from_url(url), url
        return self._redis

    def hit(self, key: KeyInfo) -> int | None:
        """Count one request; None if allowed, else the seconds until the window resets."""
        now = time.time()
        window = int(now // 60)
        retry_after = max(1, int(60 - now % 60))
        client = self._client()
        if client is not None:
            name = f"phonebank:ratelimit:{key.id}:{window}"
            pipe = client.pipeline()
            pipe.incr(name)
            pipe.expire(name, 120)
            count = pipe.execute()[0]
        else:
            with self._lock:
                count = self._counts.get((key.id, window), 0) + 1
                self._counts[(key.id, window)] = count
                for stale in [k for k in self._counts if k[1] < window]:
                    del self._counts[stale]
        return retry_after if count > key.rate_per_minute else None


limiter = RateLimiter()
