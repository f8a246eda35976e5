"""Verifying Twilio Access Tokens (JWT, HS256, signed with an API key secret) for browser legs.

The Voice JS SDK's Device presents such a token to Twilio; the emulator's
``/_emulator/client/connect`` stands in for that and checks what Twilio checks: the signature with
the API key named by ``iss``, the account in ``sub``, ``exp``/``nbf``, and a voice grant with an
outgoing application. Error codes are the Voice SDK's 2010x authorization errors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import jwt

from .models import TwilioError

CLOCK_SKEW_SECONDS = 5


@dataclass
class VoiceClient:
    identity: str
    api_key_sid: str
    outgoing_application_sid: str
    outgoing_params: dict[str, Any] = field(default_factory=dict)
    incoming_allow: bool = False


def _fail(code: int, message: str) -> TwilioError:
    return TwilioError(401, code, message)


def verify_access_token(token: str, account_sid: str, api_keys: dict[str, str]) -> VoiceClient:
    """The voice client a token authorizes; raises ``TwilioError`` (401) when it does not."""
    if not token:
        raise _fail(20101, "Invalid Access Token: no token given")
    try:
        header = jwt.get_unverified_header(token)
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise _fail(20101, "Invalid Access Token") from None
    if header.get("alg") != "HS256" or header.get("cty") != "twilio-fpa;v=1":
        raise _fail(20102, "Invalid Access Token header")
    issuer = claims.get("iss")
    secret = api_keys.get(issuer or "")
    if secret is None:
        raise _fail(20103, "Invalid Access Token issuer/subject: unknown API key")
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            options={"require": ["exp", "iss", "sub"]},
            leeway=CLOCK_SKEW_SECONDS,
        )
    except jwt.ExpiredSignatureError:
        raise _fail(20104, "Access Token expired or expiration date invalid") from None
    except jwt.ImmatureSignatureError:
        raise _fail(20105, "Access Token not yet valid") from None
    except jwt.InvalidSignatureError:
        raise _fail(20107, "Invalid Access Token signature") from None
    except jwt.PyJWTError as error:
        raise _fail(20101, f"Invalid Access Token: {error}") from None
    if claims.get("sub") != account_sid:
        raise _fail(20103, "Invalid Access Token issuer/subject: wrong account")
    grants = claims.get("grants") or {}
    voice = grants.get("voice") or {}
    outgoing = voice.get("outgoing") or {}
    identity = grants.get("identity")
    if not identity or not outgoing.get("application_sid"):
        raise _fail(20106, "Invalid Access Token grants: no identity or outgoing application")
    return VoiceClient(
        identity=identity,
        api_key_sid=issuer,
        outgoing_application_sid=outgoing["application_sid"],
        outgoing_params=dict(outgoing.get("params") or {}),
        incoming_allow=bool((voice.get("incoming") or {}).get("allow")),
    )
