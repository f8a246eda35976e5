"""Building the real twilio SDK client, pointed at Twilio or at the built-in emulator.

With ``PHONEBANK_TWILIO_EMULATOR_URL`` set, every request the SDK would send to
``*.twilio.com`` goes to the emulator instead (same paths, same authentication). Without it,
the SDK talks to Twilio itself: real ``TWILIO_*`` credentials need no code change.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from requests.adapters import HTTPAdapter
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client


class RedirectingHttpClient(TwilioHttpClient):
    """The SDK's own HTTP client, sending Twilio API requests to another base URL."""

    def __init__(self, base_url: str, **kwargs):
        super().__init__(**kwargs)
        parts = urlsplit(base_url.rstrip("/"))
        self.scheme, self.netloc, self.prefix = parts.scheme, parts.netloc, parts.path

    def request(self, method, url, params=None, data=None, headers=None, auth=None, **kwargs):
        parts = urlsplit(url)
        if parts.hostname and parts.hostname.endswith("twilio.com"):
            url = urlunsplit(
                (self.scheme, self.netloc, self.prefix + parts.path, parts.query, parts.fragment)
            )
        return super().request(method, url, params, data, headers, auth, **kwargs)


def build_client(
    account_sid: str,
    auth_token: str,
    emulator_url: str | None = None,
    timeout: float = 10.0,
    pool_size: int = 100,
) -> Client:
    """A twilio ``Client``; ``emulator_url`` redirects it to the built-in emulator."""
    if emulator_url:
        http_client = RedirectingHttpClient(emulator_url, timeout=timeout)
    else:
        http_client = TwilioHttpClient(timeout=timeout)
    # One web process places many calls at once: keep enough connections alive for them.
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size)
    http_client.session.mount("https://", adapter)
    http_client.session.mount("http://", adapter)
    return Client(account_sid, auth_token, http_client=http_client)
