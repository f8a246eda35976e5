"""The webhook URLs phonebank gives Twilio, all at the configured public address.

Built from ``PHONEBANK_PUBLIC_URL`` alone (``phonebank.hosts``), so no request's headers can
send a call's callbacks, and the voter's number they carry, anywhere else. Each URL carries
phonebank's own id of the call or session, so a callback that arrives before the REST call
that placed it has returned still finds its row.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from phonebank.hosts import public_url


@dataclass(frozen=True)
class CallUrls:
    answer_url: str
    status_url: str
    amd_url: str | None
    fallback_url: str | None = None


def fallback_url(leg: str) -> str:
    """Where Twilio fetches TwiML when a call's own TwiML cannot be had (phonebank down, or
    answering with an error): ``PHONEBANK_TWIML_FALLBACK_URL`` when set (best hosted apart
    from phonebank, e.g. ``static/twiml/fallback.xml`` on a CDN or in a TwiML Bin), else
    phonebank's own polite goodbye (which helps when only a request failed)."""
    configured = current_app.config.get("TWIML_FALLBACK_URL")
    return configured or public_url(f"/twilio/voice/fallback?leg={leg}")


def voter_call_urls(call_id: int) -> CallUrls:
    """A voter's leg: joins the conference on answer, reports progress and the AMD result."""
    return CallUrls(
        answer_url=public_url(f"/twilio/voice/voter?call={call_id}"),
        status_url=public_url(f"/twilio/status/voter?call={call_id}"),
        amd_url=public_url(f"/twilio/amd?call={call_id}"),
        fallback_url=fallback_url("voter"),
    )


def voicemail_left_url(call_id: int) -> str:
    """Asked by Twilio once the voicemail message has played to its end."""
    return public_url(f"/twilio/voice/voicemail-left?call={call_id}")


def volunteer_phone_urls(session_id: int) -> CallUrls:
    """The call to a volunteer's own phone ("call my phone"): their audio leg."""
    return CallUrls(
        answer_url=public_url(f"/twilio/voice/volunteer?session={session_id}"),
        status_url=public_url(f"/twilio/status/audio?session={session_id}"),
        amd_url=None,
        fallback_url=fallback_url("volunteer"),
    )


def conference_status_url(session_id: int) -> str:
    """Join and leave events of the volunteer's audio leg in their conference."""
    return public_url(f"/twilio/conference?session={session_id}")
