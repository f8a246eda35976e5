"""Settings: environment variables, production refusals, proxy handling, serving mode."""

import pytest

from phonebank import ASYNC_MODE, create_app
from phonebank.config import ConfigError, load_config, normalize_database_url


def test_production_refuses_to_start_without_secrets(monkeypatch):
    for name in ("PHONEBANK_SECRET_KEY", "PHONEBANK_DATABASE_URL", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(
        ConfigError,
        match=r"PHONEBANK_SECRET_KEY, PHONEBANK_DATABASE_URL \(or DATABASE_URL\) and "
        "PHONEBANK_PUBLIC_URL",
    ):
        create_app({"ENV_NAME": "production", "SECRET_KEY": None, "PUBLIC_URL": None})


def test_production_refuses_a_short_secret():
    with pytest.raises(ConfigError, match="at least 32 characters"):
        load_config(
            {
                "ENV_NAME": "production",
                "SECRET_KEY": "short",
                "SQLALCHEMY_DATABASE_URI": "sqlite://",
                "PUBLIC_URL": "https://calls.example.org",
            }
        )


def test_production_config_is_secure_by_default():
    settings = load_config(
        {
            "ENV_NAME": "production",
            "SECRET_KEY": "x" * 40,
            "SQLALCHEMY_DATABASE_URI": "postgresql://db.example/phonebank",
            "PUBLIC_URL": "https://calls.example.org",
        }
    )
    assert settings["SESSION_COOKIE_SECURE"] is True
    assert settings["SESSION_COOKIE_HTTPONLY"] is True
    assert settings["SESSION_PROTECTION"] == "strong"
    assert settings["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://db.example/phonebank"
    assert settings["SQLALCHEMY_ENGINE_OPTIONS"]["pool_pre_ping"] is True


def test_unknown_environment_name_is_refused():
    with pytest.raises(ConfigError, match="PHONEBANK_ENV"):
        load_config({"ENV_NAME": "staging"})


def test_bad_boolean_setting_is_refused(monkeypatch):
    from phonebank.config import env_bool

    monkeypatch.setenv("PHONEBANK_BEHIND_PROXY_X", "perhaps")
    with pytest.raises(ConfigError, match="true or false"):
        env_bool("BEHIND_PROXY_X", False)


def test_database_urls_use_psycopg3():
    assert normalize_database_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_database_url("sqlite:///x.db") == "sqlite:///x.db"


def test_socketio_runs_on_gevent_and_eventlet_is_absent():
    app = create_app({"ENV_NAME": "testing", "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    assert ASYNC_MODE == "gevent"
    assert app.extensions["socketio"].server.async_mode == "gevent"
    with pytest.raises(ImportError):
        import eventlet  # noqa: F401


def test_proxy_fix_makes_urls_match_the_public_address():
    app = create_app(
        {
            "ENV_NAME": "testing",
            "SQLALCHEMY_DATABASE_URI": "sqlite://",
            "BEHIND_PROXY": 1,
            "PUBLIC_URL": "https://calls.example.org",
        }
    )

    @app.route("/where")
    def where():
        from flask import request

        return request.url

    response = app.test_client().get(
        "/where",
        headers={"X-Forwarded-Proto": "https", "X-Forwarded-Host": "calls.example.org"},
    )
    assert response.text == "https://calls.example.org/where"


def test_without_proxy_setting_forwarded_headers_are_ignored():
    app = create_app({"ENV_NAME": "testing", "SQLALCHEMY_DATABASE_URI": "sqlite://"})

    @app.route("/where")
    def where():
        from flask import request

        return request.url

    response = app.test_client().get("/where", headers={"X-Forwarded-Host": "evil.example"})
    assert response.text == "http://localhost/where"


def test_procfile_serves_with_gunicorn_gevent_and_migrates_on_release():
    from tests.conftest import REPO_ROOT

    procfile = (REPO_ROOT / "Procfile").read_text()
    assert "release: flask --app phonebank.wsgi db upgrade" in procfile
    assert "gunicorn -k gevent -w 1" in procfile
