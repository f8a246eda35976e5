"""Extension objects, created unbound here and bound to the app in ``create_app``."""

from collections.abc import Callable

from flask_login import LoginManager
from flask_migrate import Migrate
from flask_socketio import SocketIO
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect

from phonebank.models.base import Base

db = SQLAlchemy(model_class=Base)
migrate = Migrate()
socketio = SocketIO()
login_manager = LoginManager()
csrf = CSRFProtect()

# Socket.IO handlers declared by the feature modules (``@socket_handler("entity.verb")``);
# ``create_app`` registers them on each app's server, so every app gets all of them, whatever
# was imported first.
SOCKET_HANDLERS: list[tuple[str, Callable]] = []


def socket_handler(event: str):
    """Declare a Socket.IO event handler (registered by ``create_app``)."""

    def decorator(fn: Callable) -> Callable:
        SOCKET_HANDLERS.append((event, fn))
        return fn

    return decorator
