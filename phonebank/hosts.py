"""The address phonebank answers at, and the one place URLs for the outside world are built.

Every URL handed to Twilio (callbacks, TwiML, status) and every link shown to a person is built
from the configured ``PHONEBANK_PUBLIC_URL``, never from a request's ``Host``,
``X-Forwarded-Host`` or ``Origin`` header. Requests naming any host other than the public one
(and ``PHONEBANK_ALLOWED_HOSTS``) are refused by ``TrustedHostMiddleware`` before Flask or
Socket.IO sees them, so no page, redirect, CSRF check or origin check works from a forged host.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import urlsplit

from flask import current_app, url_for

log = logging.getLogger(__name__)

LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
_HOST_NAME = re.compile(r"[a-z0-9._:-]+")


class PublicUrlError(ValueError):
    """PHONEBANK_PUBLIC_URL is not an origin phonebank can hand out."""


def parse_public_url(value: str) -> str:
    """``https://calls.example.org`` (scheme, host and optional port only), without a slash."""
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PublicUrlError(
            f"PHONEBANK_PUBLIC_URL must be an http(s) address such as "
            f"https://calls.example.org, not {value!r}."
        )
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise PublicUrlError(
            "PHONEBANK_PUBLIC_URL is the scheme and host only (phonebank is served at the root "
            f"of its address), not {value!r}."
        )
    return f"{parts.scheme}://{parts.netloc.lower()}"


def host_name(host: str | None) -> str | None:
    """The host name of a ``Host`` header value (lower case, no port), or None if malformed."""
    if not host:
        return None
    host = host.strip().lower()
    if host.startswith("["):  # an IPv6 address: [::1]:5000
        name, closed, rest = host[1:].partition("]")
        if not closed or (rest and not rest.startswith(":")):
            return None
        port = rest[1:]
    else:
        if host.count(":") > 1:
            return None
        name, _, port = host.partition(":")
    if port and not (port.isdigit() and 0 < int(port) < 65536):
        return None
    return name if _HOST_NAME.fullmatch(name) else None


def trusted_hosts(config: dict) -> frozenset[str]:
    """Host names requests may name: the public URL's, the allowed extras, and in development
    and tests the machine's own loopback names."""
    names = {urlsplit(config["PUBLIC_URL"]).hostname or ""}
    names.update(h.strip().lower() for h in config.get("ALLOWED_HOSTS") or () if h.strip())
    if config.get("ENV_NAME") in ("development", "testing"):
        names.update(LOOPBACK_HOSTS)
    names.discard("")
    return frozenset(names)


def allowed_origins(config: dict) -> list[str]:
    """Origins that may open a Socket.IO connection: the public URL's own, the listed extras,
    and in development the same port on the loopback names."""
    public = config["PUBLIC_URL"]
    origins = {public, *(o.strip().rstrip("/") for o in config.get("ALLOWED_ORIGINS") or ())}
    if config.get("ENV_NAME") in ("development", "testing"):
        parts = urlsplit(public)
        port = f":{parts.port}" if parts.port else ""
        origins.update(
            f"{parts.scheme}://{name if ':' not in name else f'[{name}]'}{port}"
            for name in LOOPBACK_HOSTS
        )
    origins.discard("")
    return sorted(origins)


class TrustedHostMiddleware:
    """Answer 400 to any request (pages, webhooks, Socket.IO) whose host is not phonebank's.

    Placed inside ``ProxyFix``, so behind a trusted proxy it checks ``X-Forwarded-Host``;
    without one, that header is ignored altogether.
    """

    def __init__(self, wsgi_app, hosts: frozenset[str]):
        self.wsgi_app = wsgi_app
        self.hosts = hosts

    def __call__(self, environ, start_response):
        raw = environ.get("HTTP_HOST") or environ.get("SERVER_NAME")
        if host_name(raw) not in self.hosts:
            log.warning("request for an unknown host refused: %r %s", raw, environ.get("PATH_INFO"))
            body = b"Unknown host.\n"
            start_response(
                "400 Bad Request",
                [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))],
            )
            return [body]
        return self.wsgi_app(environ, start_response)


def public_url(path: str = "") -> str:
    """An absolute URL at phonebank's public address: ``public_url("/twilio/amd?call=3")``."""
    return current_app.config["PUBLIC_URL"] + path


def external_url_for(endpoint: str, **values) -> str:
    """``url_for`` at the public address, for links people copy or receive by e-mail."""
    return public_url(url_for(endpoint, **values))
