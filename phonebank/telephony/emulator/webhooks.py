"""Posting signed webhooks to the app, in order per call, with optional fault injection.

Every request carries ``X-Twilio-Signature`` computed as Twilio does
(``RequestValidator(auth_token).compute_signature(url, params)``; for GET the parameters go in the
query string and are signed as part of the URL) and an ``I-Twilio-Idempotency-Token`` that stays
the same across retries and duplicates. Connection failures are retried a few times.

Runs inside the emulator process (gevent, monkey-patched): urllib3's pool is cooperative there.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import gevent
import gevent.queue
import urllib3
from twilio.request_validator import RequestValidator

logger = logging.getLogger("phonebank.telephony.emulator")

USER_AGENT = "TwilioProxy/1.1"
RETRYABLE = (urllib3.exceptions.HTTPError, OSError)
# TwiML fetches follow redirects (as Twilio does); failures are retried by ``deliver`` itself.
FOLLOW_REDIRECTS = urllib3.Retry(total=None, connect=0, read=0, redirect=10, status=0, other=0)


class EventLog:
    """Every REST request received and webhook sent, newest last, with increasing ids."""

    def __init__(self, limit: int = 200_000):
        self._entries: deque[dict[str, Any]] = deque(maxlen=limit)
        self._next_id = 1

    def add(self, kind: str, **fields: Any) -> dict[str, Any]:
        entry = {
            "id": self._next_id,
            "kind": kind,
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            **fields,
        }
        self._next_id += 1
        self._entries.append(entry)
        return entry

    def clear(self) -> None:
        self._entries.clear()

    def entries(self, since: int = 0, limit: int | None = None, **match: Any) -> list[dict]:
        """Entries with id > ``since`` whose fields equal every given ``match`` value."""
        selected = [
            entry
            for entry in self._entries
            if entry["id"] > since
            and all(entry.get(key) == value for key, value in match.items() if value is not None)
        ]
        return selected[-limit:] if limit else selected


@dataclass
class Delivery:
    status: int | None
    body: str = ""
    error: str | None = None
    content_type: str = ""

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class WebhookSender:
    """Signs and sends webhooks; logs each one."""

    def __init__(
        self,
        auth_token: str,
        log: EventLog,
        timeout: float = 15.0,
        attempts: int = 3,
        retry_delay: float = 0.2,
    ):
        self.validator = RequestValidator(auth_token)
        self.log = log
        self.timeout = timeout
        self.attempts = attempts
        self.retry_delay = retry_delay
        self.http = urllib3.PoolManager(num_pools=50, maxsize=512, block=False, retries=False)
        self.sent = 0
        self.failed = 0

    def sign(self, url: str, params: dict[str, Any]) -> str:
        return self.validator.compute_signature(url, params)

    def deliver(
        self,
        url: str,
        params: dict[str, Any],
        method: str = "POST",
        *,
        hook: str,
        token: str | None = None,
        follow_redirects: bool = False,
        **log_fields: Any,
    ) -> Delivery:
        """Send one webhook (with retries on connection errors) and log it."""
        url = urlunsplit(urlsplit(url)._replace(fragment=""))
        method = method.upper()
        token = token or uuid.uuid4().hex
        if method == "GET":
            target = url + ("&" if "?" in url else "?") + urlencode(params) if params else url
            signature = self.sign(target, {})
            body = None
        else:
            target = url
            signature = self.sign(url, params)
            body = urlencode(params)
        headers = {
            "X-Twilio-Signature": signature,
            "I-Twilio-Idempotency-Token": token,
            "User-Agent": USER_AGENT,
            "Accept": "*/*",
        }
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded; charset=utf-8"
        entry = self.log.add(
            "webhook",
            type=hook,
            url=url,
            method=method,
            params=dict(params),
            signature=signature,
            idempotency_token=token,
            status=None,
            error=None,
            attempts=0,
            **{"fault": None, **log_fields},
        )
        delivery = Delivery(status=None)
        for attempt in range(1, self.attempts + 1):
            entry["attempts"] = attempt
            try:
                response = self.http.request(
                    method,
                    target,
                    body=body,
                    headers=headers,
                    timeout=urllib3.Timeout(connect=min(5.0, self.timeout), read=self.timeout),
                    retries=FOLLOW_REDIRECTS if follow_redirects else False,
                )
                delivery = Delivery(
                    status=response.status,
                    body=response.data.decode("utf-8", "replace"),
                    content_type=response.headers.get("Content-Type", ""),
                )
                break
            except RETRYABLE as error:
                delivery = Delivery(status=None, error=f"{type(error).__name__}: {error}")
                if attempt < self.attempts:
                    gevent.sleep(self.retry_delay * attempt)
        entry["status"] = delivery.status
        entry["error"] = delivery.error
        if delivery.ok:
            self.sent += 1
        else:
            self.failed += 1
            logger.info("webhook %s %s failed: %s", method, url, delivery.error or delivery.status)
        return delivery

    def close(self) -> None:
        self.http.clear()


@dataclass
class Faults:
    """Fault injection for status callbacks (probabilities 0..1), and REST answers held back
    (``rest_delay``: operation -> seconds, after the request took effect, as when Twilio's
    answer is lost or slow on the way back)."""

    duplicate: float = 0.0
    reorder: float = 0.0
    drop: float = 0.0
    drop_final: float = 0.0
    apply_to: frozenset[str] = frozenset({"call"})  # call | conference | amd
    rest_delay: dict[str, float] = field(default_factory=dict)
    rng: random.Random = field(default_factory=random.Random, repr=False)

    KINDS = ("call", "conference", "amd")

    def configure(self, values: dict[str, Any]) -> None:
        for name in ("duplicate", "reorder", "drop", "drop_final"):
            if name in values:
                probability = float(values[name])
                if not 0.0 <= probability <= 1.0:
                    raise ValueError(f"{name} must be between 0 and 1")
                setattr(self, name, probability)
        if "apply_to" in values:
            kinds = frozenset(values["apply_to"])
            if kinds - set(self.KINDS):
                raise ValueError(f"apply_to must be a subset of {self.KINDS}")
            self.apply_to = kinds
        if "rest_delay" in values:
            delays = {str(op): float(seconds) for op, seconds in dict(values["rest_delay"]).items()}
            if any(not 0.0 <= seconds <= 120.0 for seconds in delays.values()):
                raise ValueError("rest_delay seconds must be between 0 and 120")
            self.rest_delay = delays
        if values.get("seed") is not None:
            self.rng.seed(values["seed"])

    def clear(self) -> None:
        self.duplicate = self.reorder = self.drop = self.drop_final = 0.0
        self.apply_to = frozenset({"call"})
        self.rest_delay = {}

    def as_dict(self) -> dict[str, Any]:
        return {
            "duplicate": self.duplicate,
            "reorder": self.reorder,
            "drop": self.drop,
            "drop_final": self.drop_final,
            "apply_to": sorted(self.apply_to),
            "rest_delay": dict(self.rest_delay),
        }

    def chance(self, probability: float) -> bool:
        return probability > 0 and self.rng.random() < probability


@dataclass
class _Item:
    url: str
    method: str
    params: dict[str, Any]
    final: bool
    log_fields: dict[str, Any]
    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    drop: bool = False
    duplicate: bool = False
    reorder: bool = False
    queued_at: float = field(default_factory=time.monotonic)


class CallbackChannel:
    """One call's (or conference's) status callbacks, delivered in order by one greenlet.

    Faults are decided when a callback is posted: ``drop`` (never sent), ``drop_final`` (the
    final callback never sent), ``duplicate`` (sent twice, same signature and idempotency token),
    ``reorder`` (held back and sent after the next callback of the same call).
    """

    def __init__(self, sender: WebhookSender, faults: Faults, kind: str, spawn, **log_fields):
        self.sender = sender
        self.faults = faults
        self.kind = kind
        self.spawn = spawn
        self.log_fields = log_fields
        self.queue: gevent.queue.Queue = gevent.queue.Queue()
        self.worker = None
        self.closed = False

    def post(self, url: str, method: str, params: dict[str, Any], final: bool = False) -> None:
        if self.closed:
            return
        item = _Item(url, method, params, final, dict(self.log_fields))
        faults = self.faults
        if self.kind in faults.apply_to:
            item.drop = faults.chance(faults.drop) or (final and faults.chance(faults.drop_final))
            item.duplicate = not item.drop and faults.chance(faults.duplicate)
            item.reorder = not item.drop and not final and faults.chance(faults.reorder)
        self.queue.put(item)
        if self.worker is None:
            self.worker = self.spawn(self._run)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.queue.put(None)
            if self.worker is None:
                self.worker = self.spawn(self._run)

    def _run(self) -> None:
        held: _Item | None = None
        while True:
            item = self.queue.get()
            if item is None:
                break
            if held is None and item.reorder:
                held = item
                continue
            self._send(item)
            if held is not None:
                self._send(held, fault="reordered")
                held = None
        if held is not None:
            self._send(held)

    def _send(self, item: _Item, fault: str | None = None) -> None:
        fields = {**item.log_fields, "final": item.final}
        if item.drop:
            self.sender.log.add(
                "webhook",
                type=fields.pop("type", "status"),
                url=item.url,
                method=item.method,
                params=dict(item.params),
                status=None,
                error=None,
                attempts=0,
                fault="dropped",
                **fields,
            )
            return
        hook = fields.pop("type", "status")
        self.sender.deliver(
            item.url, item.params, item.method, hook=hook, token=item.token, fault=fault, **fields
        )
        if item.duplicate:
            self.sender.deliver(
                item.url,
                item.params,
                item.method,
                hook=hook,
                token=item.token,
                fault="duplicate",
                **fields,
            )
