"""Configuration read from ``PHONEBANK_*`` environment variables and an optional ``.env`` file.

Every setting is documented in ``.env.example``. ``create_app`` picks the class named by
``PHONEBANK_ENV`` (``production`` when unset, so a forgotten setting fails closed).
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import load_dotenv

from phonebank.hosts import PublicUrlError, parse_public_url

REPO_ROOT = Path(__file__).resolve().parent.parent
# Settings are read when this module is imported, so the optional .env file is loaded first.
# Real environment variables win over the file.
load_dotenv(REPO_ROOT / ".env", override=False)


class ConfigError(RuntimeError):
    """A required setting is missing or malformed."""


def env(name: str, default: str | None = None) -> str | None:
    """Read ``PHONEBANK_<name>``; empty strings count as unset."""
    value = os.environ.get(f"PHONEBANK_{name}", "")
    return value if value != "" else default


def env_bool(name: str, default: bool) -> bool:
    value = env(name)
    if value is None:
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"PHONEBANK_{name} must be true or false, not {value!r}")


def env_int(name: str, default: int) -> int:
    value = env(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"PHONEBANK_{name} must be a whole number, not {value!r}") from None


def normalize_database_url(url: str) -> str:
    """Use the psycopg 3 driver for PostgreSQL URLs (it cooperates with gevent)."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


class Config:
    """Settings shared by every environment."""

    ENV_NAME = "base"
    SECRET_KEY: str | None = env("SECRET_KEY")
    SQLALCHEMY_DATABASE_URI: str | None = None
    SQLALCHEMY_ENGINE_OPTIONS: dict = {}
    REDIS_URL: str | None = env("REDIS_URL")
    SOCKETIO_CHANNEL = env("SOCKETIO_CHANNEL", "phonebank")
    BEHIND_PROXY = env_int("BEHIND_PROXY", 0)
    ALLOWED_ORIGINS = [o.strip() for o in (env("ALLOWED_ORIGINS") or "").split(",") if o.strip()]
    # Host names requests may use besides PUBLIC_URL's (e.g. a second domain); others get 400.
    ALLOWED_HOSTS = [h.strip() for h in (env("ALLOWED_HOSTS") or "").split(",") if h.strip()]

    SESSION_PROTECTION = "strong"
    SESSION_COOKIE_NAME = "phonebank_session"
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", True)
    REMEMBER_COOKIE_SECURE = SESSION_COOKIE_SECURE
    REMEMBER_COOKIE_HTTPONLY = True
    PERMANENT_SESSION_LIFETIME = timedelta(hours=env_int("SESSION_HOURS", 12))
    WTF_CSRF_TIME_LIMIT = None  # tied to the session instead, so long calling shifts never expire

    LOGIN_MAX_FAILURES = env_int("LOGIN_MAX_FAILURES", 5)
    LOGIN_MAX_FAILURES_PER_IP = env_int("LOGIN_MAX_FAILURES_PER_IP", 30)
    LOGIN_LOCKOUT_MINUTES = env_int("LOGIN_LOCKOUT_MINUTES", 15)
    # Twilio: real credentials use Twilio itself; with TWILIO_EMULATOR_URL the built-in emulator.
    TWILIO_ACCOUNT_SID = os.environ.get("TWILIO_ACCOUNT_SID")
    TWILIO_AUTH_TOKEN = os.environ.get("TWILIO_AUTH_TOKEN")
    TWILIO_API_KEY = os.environ.get("TWILIO_API_KEY")
    TWILIO_API_SECRET = os.environ.get("TWILIO_API_SECRET")
    TWILIO_TWIML_APP_SID = os.environ.get("TWILIO_TWIML_APP_SID")
    TWILIO_CALLER_ID = os.environ.get("TWILIO_CALLER_ID")
    TWILIO_EMULATOR_URL = env("TWILIO_EMULATOR_URL")
    # Seconds to wait for Twilio's REST API before treating it as out of reach.
    TWILIO_TIMEOUT_SECONDS = env_int("TWILIO_TIMEOUT_SECONDS", 10)
    # The address people and Twilio reach this app at: every webhook URL and every link is
    # built from it, never from a request's Host header. Required in production.
    PUBLIC_URL = env("PUBLIC_URL")
    CLAIM_LEASE_SECONDS = env_int("CLAIM_LEASE_SECONDS", 120)
    RING_TIMEOUT_SECONDS = env_int("RING_TIMEOUT_SECONDS", 25)
    ACCESS_TOKEN_TTL_SECONDS = env_int("ACCESS_TOKEN_TTL_SECONDS", 3600)
    SWEEP_INTERVAL_SECONDS = env_int("SWEEP_INTERVAL_SECONDS", 15)
    RECONCILE_TALKING_AFTER_SECONDS = env_int("RECONCILE_TALKING_AFTER_SECONDS", 300)
    # A call still ringing this long after its ring timeout is asked about at Twilio.
    RECONCILE_RINGING_MARGIN_SECONDS = env_int("RECONCILE_RINGING_MARGIN_SECONDS", 60)
    SESSION_ABANDON_SECONDS = env_int("SESSION_ABANDON_SECONDS", 15 * 60)
    # Where Twilio fetches TwiML when a call's own cannot be had; best hosted apart from
    # phonebank (static/twiml/fallback.xml on a CDN or in a TwiML Bin). Unset: phonebank's own.
    TWIML_FALLBACK_URL = env("TWIML_FALLBACK_URL") or None
    # Webhook deliveries: answer timeout, longest wait between retries, and how long a
    # receiver may fail before its subscription is paused.
    WEBHOOK_TIMEOUT_SECONDS = env_int("WEBHOOK_TIMEOUT_SECONDS", 10)
    WEBHOOK_MAX_BACKOFF_SECONDS = env_int("WEBHOOK_MAX_BACKOFF_SECONDS", 3600)
    WEBHOOK_GIVE_UP_HOURS = env_int("WEBHOOK_GIVE_UP_HOURS", 72)
    # A web process whose heartbeat is older than this is dead: its sockets are forgotten.
    PROCESS_DEAD_SECONDS = env_int("PROCESS_DEAD_SECONDS", 30)
    # Set by the WSGI entry point: start the heartbeat, sweeper and pushes with the process.
    BACKGROUND_WORK = False
    DEFAULT_REGION = (env("DEFAULT_REGION", "US") or "US").upper()
    # The organisation's time zone: results are reported in it unless a campaign sets its own.
    TIME_ZONE = env("TIME_ZONE", "America/New_York")
    INVITE_DEFAULT_DAYS = env_int("INVITE_DEFAULT_DAYS", 14)
    LOG_LEVEL = env("LOG_LEVEL", "INFO")
    # List imports: where uploaded files are kept (shared with the import worker), the size
    # limit, and where imports run: "subprocess" (a child of the web process) or "worker"
    # (``flask lists worker``, e.g. the Procfile's worker process).
    UPLOAD_DIR = env("UPLOAD_DIR")
    MAX_UPLOAD_MB = env_int("MAX_UPLOAD_MB", 200)
    IMPORT_RUNNER = env("IMPORT_RUNNER", "subprocess")

    @classmethod
    def database_url(cls) -> str | None:
        url = env("DATABASE_URL") or os.environ.get("DATABASE_URL") or None
        return normalize_database_url(url) if url else None

    @classmethod
    def validate(cls, config: dict) -> None:
        """Refuse to start with settings that cannot work."""
        if not config.get("SQLALCHEMY_DATABASE_URI"):
            raise ConfigError("Set PHONEBANK_DATABASE_URL (or DATABASE_URL) to the database URL.")


def engine_options(url: str) -> dict:
    """Pool settings: PostgreSQL gets a pool sized for a gevent process; SQLite waits on locks."""
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 30}}
    return {
        "pool_size": env_int("DB_POOL_SIZE", 20),
        "max_overflow": env_int("DB_MAX_OVERFLOW", 10),
        "pool_pre_ping": True,
        "pool_recycle": 1800,
    }


class ProductionConfig(Config):
    ENV_NAME = "production"

    @classmethod
    def validate(cls, config: dict) -> None:
        missing = []
        if not config.get("SECRET_KEY"):
            missing.append("PHONEBANK_SECRET_KEY")
        if not config.get("SQLALCHEMY_DATABASE_URI"):
            missing.append("PHONEBANK_DATABASE_URL (or DATABASE_URL)")
        if not config.get("PUBLIC_URL"):
            missing.append("PHONEBANK_PUBLIC_URL")
        if missing:
            raise ConfigError(
                "phonebank will not start in production without "
                + ", ".join(missing[:-1])
                + (" and " if len(missing) > 1 else "")
                + missing[-1]
                + "."
            )
        if len(config["SECRET_KEY"]) < 32:
            raise ConfigError("PHONEBANK_SECRET_KEY must be at least 32 characters long.")


class DevelopmentConfig(Config):
    ENV_NAME = "development"
    SECRET_KEY = Config.SECRET_KEY or "development-only-secret-key-do-not-deploy"
    PUBLIC_URL = Config.PUBLIC_URL or "http://127.0.0.1:5000"  # scripts/dev's address
    SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", False)
    REMEMBER_COOKIE_SECURE = SESSION_COOKIE_SECURE

    @classmethod
    def database_url(cls) -> str:
        return Config.database_url() or f"sqlite:///{REPO_ROOT / 'instance' / 'phonebank.db'}"


class TestingConfig(DevelopmentConfig):
    ENV_NAME = "testing"
    TESTING = True
    SECRET_KEY = "testing-secret-key-testing-secret-key"
    PUBLIC_URL = Config.PUBLIC_URL or "http://localhost"  # Flask's test client's host
    LOGIN_MAX_FAILURES = 5


CONFIGS = {
    "production": ProductionConfig,
    "development": DevelopmentConfig,
    "testing": TestingConfig,
}


def load_config(overrides: dict | None = None) -> dict:
    """Build the settings dict for ``create_app``: class defaults, environment, then overrides."""
    overrides = dict(overrides or {})
    name = overrides.pop("ENV_NAME", None) or env("ENV", "production")
    if name not in CONFIGS:
        raise ConfigError(f"PHONEBANK_ENV must be one of {', '.join(CONFIGS)}, not {name!r}")
    cls = CONFIGS[name]
    settings = {key: getattr(cls, key) for key in dir(cls) if key.isupper()}
    settings["SQLALCHEMY_DATABASE_URI"] = cls.database_url()
    settings.update(overrides)
    url = settings["SQLALCHEMY_DATABASE_URI"]
    if url:
        settings["SQLALCHEMY_DATABASE_URI"] = url = normalize_database_url(url)
        settings["SQLALCHEMY_ENGINE_OPTIONS"] = {
            **engine_options(url),
            **settings.get("SQLALCHEMY_ENGINE_OPTIONS", {}),
        }
    if settings.get("PUBLIC_URL"):
        try:
            settings["PUBLIC_URL"] = parse_public_url(settings["PUBLIC_URL"])
        except PublicUrlError as exc:
            raise ConfigError(str(exc)) from None
    try:
        ZoneInfo(str(settings["TIME_ZONE"]))
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"PHONEBANK_TIME_ZONE must be a time zone such as Europe/London, "
            f"not {settings['TIME_ZONE']!r}."
        ) from None
    settings["UPLOAD_DIR"] = str(settings.get("UPLOAD_DIR") or REPO_ROOT / "instance" / "uploads")
    # The request limit: the largest list file plus room for the form around it.
    settings.setdefault("MAX_CONTENT_LENGTH", (int(settings["MAX_UPLOAD_MB"]) + 1) * 1024 * 1024)
    cls.validate(settings)
    return settings
