"""The emulator's HTTP face: Twilio's REST paths (with Twilio's authentication and error bodies),
the ``/_emulator/`` control API for tests and scripts, and the browser-leg endpoints.

A small Flask app; ``__main__`` serves it with gevent's WSGI server.
"""

from __future__ import annotations

import functools
import hmac
import json
import logging
from typing import Any
from urllib.parse import urlencode

import gevent
from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from .engine import Emulator
from .models import (
    API_VERSION,
    TwilioError,
    call_json,
    conference_json,
    new_sid,
    participant_json,
)
from .params import TWILIO_PARAMS

logger = logging.getLogger("phonebank.telephony.emulator")

ACCOUNT = f"/{API_VERSION}/Accounts/<account_sid>"


def _json(body: Any, status: int = 200, **headers: str) -> Response:
    response = Response(json.dumps(body), status=status, mimetype="application/json")
    for name, value in headers.items():
        response.headers[name.replace("_", "-")] = value
    return response


def _error(error: TwilioError) -> Response:
    headers = {}
    if error.status == 401:
        headers["WWW_Authenticate"] = 'Basic realm="Twilio API"'
    return _json(error.body(), error.status, **headers)


def _flat(multidict) -> dict[str, Any]:
    """Form or query parameters: one value as a string, repeated ones as a list."""
    flat: dict[str, Any] = {}
    for key in multidict:
        values = multidict.getlist(key)
        flat[key] = values[0] if len(values) == 1 else values
    return flat


def _page(items: list, key: str, render, params, path: str) -> dict[str, Any]:
    """One page of a list resource, with Twilio's paging fields."""
    try:
        size = max(1, min(1000, int(params.get("PageSize") or 50)))
        number = max(0, int(params.get("Page") or 0))
    except ValueError:
        raise TwilioError(400, 20001, "Invalid parameter: PageSize or Page") from None
    start = number * size
    chunk = items[start : start + size]
    filters = [
        (name, value)
        for name, value in params.items(multi=True)
        if name not in ("PageSize", "Page", "PageToken")
    ]

    def uri(page: int) -> str:
        query = [*filters, ("PageSize", size), ("Page", page)]
        if page > 0:
            query.append(("PageToken", f"PA{page * size}"))
        return f"{path}?{urlencode(query)}"

    return {
        key: [render(item) for item in chunk],
        "end": start + max(len(chunk) - 1, 0),
        "first_page_uri": uri(0),
        "next_page_uri": uri(number + 1) if start + size < len(items) else None,
        "page": number,
        "page_size": size,
        "previous_page_uri": uri(number - 1) if number > 0 else None,
        "start": start,
        "uri": uri(number),
    }


def create_app(emulator: Emulator) -> Flask:
    """The WSGI app serving ``emulator``."""
    app = Flask("phonebank.telephony.emulator")

    def authenticate(account_sid: str) -> None:
        auth = request.authorization
        user = auth.username if auth and auth.type == "basic" else None
        password = (auth.password if auth else None) or ""
        secret = (
            emulator.auth_token
            if user == emulator.account_sid
            else emulator.api_keys.get(user or "")
        )
        valid = secret is not None and hmac.compare_digest(password.encode(), secret.encode())
        # Twilio answers 401 (not 404) when the path names an account the credentials don't open.
        if not valid or account_sid != emulator.account_sid:
            raise TwilioError(
                401, 20003, "Authenticate", detail="Your AccountSid or AuthToken was incorrect."
            )

    def rest(operation: str):
        """A Twilio REST view: authenticate, log the request, answer errors as Twilio does."""

        def decorator(view):
            @functools.wraps(view)
            def wrapper(account_sid: str, **kwargs):
                params = request.form if request.method == "POST" else request.args
                auth = request.authorization
                unknown = sorted(set(params) - TWILIO_PARAMS[operation])
                entry = emulator.log.add(
                    "request",
                    operation=operation,
                    method=request.method,
                    path=request.path,
                    params=_flat(params),
                    query=_flat(request.args) if request.method == "POST" else {},
                    auth_user=auth.username if auth else None,
                    unknown_params=unknown,
                    status=None,
                )
                if unknown:
                    logger.warning("%s: parameters Twilio does not know: %s", operation, unknown)
                try:
                    authenticate(account_sid)
                    response = view(params=params, **kwargs)
                except TwilioError as error:
                    response = _error(error)
                entry["status"] = response.status_code
                delay = emulator.faults.rest_delay.get(operation)
                if delay:
                    gevent.sleep(delay)  # done, but the answer is held back
                response.headers["Twilio-Request-Id"] = new_sid("RQ")
                return response

            return wrapper

        return decorator

    # --- Calls ----------------------------------------------------------------------------------

    @app.post(f"{ACCOUNT}/Calls.json", endpoint="create_call")
    @rest("CreateCall")
    def create_call(params):
        return _json(call_json(emulator.create_call(params)), 201)

    @app.get(f"{ACCOUNT}/Calls.json", endpoint="list_calls")
    @rest("ListCall")
    def list_calls(params):
        calls = emulator.list_calls(params)
        return _json(_page(calls, "calls", call_json, params, request.path))

    @app.get(f"{ACCOUNT}/Calls/<sid>.json", endpoint="fetch_call")
    @rest("FetchCall")
    def fetch_call(params, sid):
        return _json(call_json(emulator.fetch_call(sid, request.path)))

    @app.post(f"{ACCOUNT}/Calls/<sid>.json", endpoint="update_call")
    @rest("UpdateCall")
    def update_call(params, sid):
        return _json(call_json(emulator.update_call(sid, params, request.path)))

    @app.delete(f"{ACCOUNT}/Calls/<sid>.json", endpoint="delete_call")
    @rest("DeleteCall")
    def delete_call(params, sid):
        emulator.delete_call(sid, request.path)
        return Response(status=204)

    # --- Conferences ----------------------------------------------------------------------------

    @app.get(f"{ACCOUNT}/Conferences.json", endpoint="list_conferences")
    @rest("ListConference")
    def list_conferences(params):
        conferences = emulator.list_conferences(params)
        return _json(_page(conferences, "conferences", conference_json, params, request.path))

    @app.get(f"{ACCOUNT}/Conferences/<sid>.json", endpoint="fetch_conference")
    @rest("FetchConference")
    def fetch_conference(params, sid):
        return _json(conference_json(emulator.fetch_conference(sid, request.path)))

    @app.post(f"{ACCOUNT}/Conferences/<sid>.json", endpoint="update_conference")
    @rest("UpdateConference")
    def update_conference(params, sid):
        return _json(conference_json(emulator.update_conference(sid, params, request.path)))

    # --- Participants ---------------------------------------------------------------------------

    participants = f"{ACCOUNT}/Conferences/<conference_sid>/Participants"

    @app.post(f"{participants}.json", endpoint="create_participant")
    @rest("CreateParticipant")
    def create_participant(params, conference_sid):
        participant = emulator.create_participant(conference_sid, params, request.path)
        return _json(participant_json(participant), 201)

    @app.get(f"{participants}.json", endpoint="list_participants")
    @rest("ListParticipant")
    def list_participants(params, conference_sid):
        found = emulator.list_participants(conference_sid, params, request.path)
        return _json(_page(found, "participants", participant_json, params, request.path))

    @app.get(f"{participants}/<call_sid>.json", endpoint="fetch_participant")
    @rest("FetchParticipant")
    def fetch_participant(params, conference_sid, call_sid):
        participant = emulator.fetch_participant(conference_sid, call_sid, request.path)
        return _json(participant_json(participant))

    @app.post(f"{participants}/<call_sid>.json", endpoint="update_participant")
    @rest("UpdateParticipant")
    def update_participant(params, conference_sid, call_sid):
        participant = emulator.update_participant(conference_sid, call_sid, params, request.path)
        return _json(participant_json(participant))

    @app.delete(f"{participants}/<call_sid>.json", endpoint="delete_participant")
    @rest("DeleteParticipant")
    def delete_participant(params, conference_sid, call_sid):
        emulator.delete_participant(conference_sid, call_sid, request.path)
        return Response(status=204)

    # --- control API ----------------------------------------------------------------------------

    def body() -> dict[str, Any]:
        data = request.get_json(silent=True)
        if data is None:
            return _flat(request.form)
        if not isinstance(data, dict):
            raise ValueError("the body must be a JSON object")
        return data

    def control(view):
        """A control view: JSON in and out; ValueError and TwilioError become 4xx answers."""

        @functools.wraps(view)
        def wrapper(**kwargs):
            try:
                return view(**kwargs)
            except TwilioError as error:
                return _error(error)
            except (ValueError, TypeError) as error:
                return _json({"error": str(error)}, 400)

        return wrapper

    @app.get("/_emulator/health")
    @control
    def health():
        return _json({"status": "ok", **emulator.config(), **emulator.stats()})

    @app.route("/_emulator/config", methods=["GET", "POST"])
    @control
    def config():
        if request.method == "POST":
            return _json(emulator.configure(body()))
        return _json(emulator.config())

    @app.route("/_emulator/scenarios", methods=["GET", "POST", "DELETE"])
    @control
    def scenarios():
        if request.method == "POST":
            return _json(emulator.set_scenarios(body()))
        if request.method == "DELETE":
            emulator.planner.scenarios.clear()
        return _json(dict(emulator.planner.scenarios))

    @app.route("/_emulator/faults", methods=["GET", "POST", "DELETE"])
    @control
    def faults():
        if request.method == "POST":
            emulator.faults.configure(body())
        elif request.method == "DELETE":
            emulator.faults.clear()
        return _json(emulator.faults.as_dict())

    @app.route("/_emulator/applications", methods=["GET", "POST"])
    @control
    def applications():
        if request.method == "POST":
            return _json(emulator.set_applications(body()))
        return _json(emulator.applications)

    @app.post("/_emulator/reset")
    @control
    def reset():
        emulator.reset()
        return _json({"status": "reset"})

    @app.get("/_emulator/log")
    @control
    def log():
        args = request.args
        entries = emulator.log.entries(
            since=int(args.get("since") or 0),
            limit=int(args["limit"]) if args.get("limit") else None,
            kind=args.get("kind"),
            type=args.get("type"),
            call_sid=args.get("call_sid"),
            conference_sid=args.get("conference_sid"),
            operation=args.get("operation"),
        )
        return _json({"entries": entries})

    @app.get("/_emulator/state")
    @control
    def state():
        return _json(emulator.state(active_only=request.args.get("active") in ("1", "true")))

    @app.get("/_emulator/stats")
    @control
    def stats():
        return _json(emulator.stats())

    @app.get("/_emulator/calls/<sid>")
    @control
    def call_state(sid):
        return _json(emulator.call_state(emulator.fetch_call(sid, f"call {sid}")))

    @app.post("/_emulator/calls/<sid>/hangup")
    @control
    def callee_hangs_up(sid):
        return _json(emulator.call_state(emulator.callee_hangs_up(sid)))

    # --- browser legs (what the Voice JS SDK's Device does against Twilio) ---------------------

    @app.post("/_emulator/client/connect")
    @control
    def client_connect():
        data = body()
        token = str(data.pop("token", "") or request.headers.get("X-Twilio-Token", ""))
        custom = data.pop("params", None)
        if custom is None:
            custom = data
        if not isinstance(custom, dict):
            raise ValueError("params must be an object")
        call = emulator.client_connect(token, custom)
        return _json(
            {
                "call_sid": call.sid,
                "status": call.status,
                "identity": call.client_identity,
                "application_sid": call.application_sid,
            },
            201,
        )

    @app.post("/_emulator/client/disconnect")
    @control
    def client_disconnect():
        data = body()
        call = emulator.client_disconnect(str(data.get("call_sid") or ""))
        return _json({"call_sid": call.sid, "status": call.status})

    @app.get("/_emulator/client/status")
    @control
    def client_status():
        return _json(emulator.client_status(request.args.get("call_sid", "")))

    @app.after_request
    def cors(response: Response) -> Response:
        if request.path.startswith("/_emulator/"):
            response.headers["Access-Control-Allow-Origin"] = request.headers.get("Origin", "*")
            response.headers["Access-Control-Allow-Methods"] = "GET, POST, DELETE, OPTIONS"
            response.headers["Access-Control-Allow-Headers"] = "Content-Type, Authorization"
            response.headers["Access-Control-Max-Age"] = "600"
            response.headers["Vary"] = "Origin"
        return response

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        if request.path.startswith(f"/{API_VERSION}/"):
            if error.code == 405:
                return _error(TwilioError(405, 20004, "Method not allowed"))
            return _error(
                TwilioError(404, 20404, f"The requested resource {request.path} was not found")
            )
        return _json({"error": error.description}, error.code or 500)

    return app
