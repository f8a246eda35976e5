"""phonebank: a browser-based volunteer phone bank.

``create_app`` wires the application from small named steps and does nothing else: no queries
and no network at start-up.
"""

from __future__ import annotations

import logging

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from phonebank.config import REPO_ROOT, load_config
from phonebank.hosts import TrustedHostMiddleware, allowed_origins, trusted_hosts

ASYNC_MODE = "gevent"


def create_app(config: dict | None = None) -> Flask:
    """Build the Flask app; ``config`` overrides settings read from the environment."""
    app = Flask(
        __name__,
        template_folder=str(REPO_ROOT / "templates"),
        static_folder=str(REPO_ROOT / "static"),
        static_url_path="/static",
        instance_path=str(REPO_ROOT / "instance"),
    )
    app.config.update(load_config(config))
    configure_logging(app)
    register_extensions(app)
    guard_hosts(app)
    register_blueprints(app)
    register_socket_handlers(app)
    register_error_handlers(app)
    register_template_helpers(app)
    register_cli(app)
    start_background_work(app)
    return app


def start_background_work(app: Flask) -> None:
    """The heartbeat, sweeper and pushes start with a serving process (``BACKGROUND_WORK``,
    set by ``phonebank.wsgi``), never with a CLI command or a test's app."""
    if app.config["BACKGROUND_WORK"]:
        from phonebank import background

        background.start(app)


def configure_logging(app: Flask) -> None:
    level = getattr(logging, str(app.config["LOG_LEVEL"]).upper(), logging.INFO)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app.logger.setLevel(level)
    for noisy in ("alembic.runtime.plugins", "twilio.http_client"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def guard_hosts(app: Flask) -> None:
    """Outermost WSGI layers (around Socket.IO too): ``ProxyFix`` trusts X-Forwarded-* from N
    proxies, then requests for hosts other than phonebank's own are refused."""
    app.wsgi_app = TrustedHostMiddleware(app.wsgi_app, trusted_hosts(app.config))
    hops = int(app.config["BEHIND_PROXY"])
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops)


def register_extensions(app: Flask) -> None:
    from phonebank.extensions import csrf, db, login_manager, migrate, socketio

    db.init_app(app)
    migrate.init_app(app, db, directory=str(REPO_ROOT / "migrations"), render_as_batch=True)
    csrf.init_app(app)
    login_manager.init_app(app)
    socketio.init_app(
        app,
        async_mode=ASYNC_MODE,
        message_queue=app.config["REDIS_URL"],
        channel=app.config["SOCKETIO_CHANNEL"],
        cors_allowed_origins=allowed_origins(app.config),
        manage_session=False,
        logger=False,
        engineio_logger=False,
    )


def register_blueprints(app: Flask) -> None:
    from phonebank.api.pages import bp as integrations_bp
    from phonebank.api.routes import bp as api_bp
    from phonebank.auth.routes import bp as auth_bp
    from phonebank.calling.routes import bp as calling_bp
    from phonebank.campaigns.routes import bp as campaigns_bp
    from phonebank.donotcall.routes import bp as donotcall_bp
    from phonebank.home.routes import bp as home_bp
    from phonebank.lists.routes import bp as lists_bp
    from phonebank.monitoring.routes import bp as monitoring_bp
    from phonebank.results.routes import bp as results_bp
    from phonebank.team.routes import bp as team_bp
    from phonebank.twilio_hooks.routes import bp as twilio_bp

    app.register_blueprint(auth_bp)
    app.register_blueprint(home_bp)
    app.register_blueprint(team_bp)
    app.register_blueprint(campaigns_bp)
    app.register_blueprint(lists_bp)
    app.register_blueprint(monitoring_bp)
    app.register_blueprint(results_bp)
    app.register_blueprint(donotcall_bp)
    app.register_blueprint(calling_bp)
    app.register_blueprint(twilio_bp)
    app.register_blueprint(api_bp)
    app.register_blueprint(integrations_bp)


def register_socket_handlers(app: Flask) -> None:
    """Each feature's Socket.IO handlers, on this app's server (declared with
    ``extensions.socket_handler``)."""
    from phonebank.auth import events as auth_events  # noqa: F401  (connect, disconnect)
    from phonebank.calling import events as calling_events  # noqa: F401  (the calling page)
    from phonebank.extensions import SOCKET_HANDLERS, socketio
    from phonebank.lists import events as list_events  # noqa: F401  (list import progress)
    from phonebank.monitoring import events as monitoring_events  # noqa: F401  (dashboards)

    for event, handler in SOCKET_HANDLERS:
        socketio.on(event)(handler)


def register_error_handlers(app: Flask) -> None:
    from phonebank.errors import init_app

    init_app(app)


def register_template_helpers(app: Flask) -> None:
    from phonebank.hosts import external_url_for
    from phonebank.models import Role

    @app.context_processor
    def inject_helpers() -> dict:
        return {"Role": Role, "external_url_for": external_url_for}


def register_cli(app: Flask) -> None:
    from phonebank.cli import init_app

    init_app(app)
