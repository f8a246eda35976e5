"""The HTTP API, ``/api/v1``: the supporter store for the events and email modules and other
integrations. JSON in and out, API keys only (``Authorization: Bearer pb_…``): a signed-in
browser's cookies open nothing here. docs/api.md describes it for people; ``openapi.json``
for machines."""

from __future__ import annotations

import functools
import time
from datetime import datetime
from typing import Any

from flask import Blueprint, g, jsonify, request
from sqlalchemy import insert, select, text, update

from phonebank.api import keys
from phonebank.api.people import (
    ApiError,
    apply,
    create_or_match,
    lock_version,
    on_campaign,
    parse_person,
    people_json,
    person_json,
)
from phonebank.extensions import csrf, db
from phonebank.models import (
    Activity,
    ApiKey,
    ApiRequest,
    ApiScope,
    Attendance,
    DoNotCallNumber,
    Event,
    Person,
    RsvpStatus,
    SurveyQuestion,
    Tag,
    utcnow,
)
from phonebank.supporters import changes
from phonebank.supporters import services as supporters
from phonebank.supporters.services import SupporterError

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)  # no cookies are accepted here, so there is no cross-site request to forge

MAX_PAGE = 500
CANVASS_KINDS = ("call", "call_correction", "canvass")


# --- plumbing ------------------------------------------------------------------------------


def api_view(scope: ApiScope | None):
    """Authenticate the key, check its scope and rate; answer ApiErrors as JSON."""

    def decorator(view):
        @functools.wraps(view)
        def wrapped(*args, **kwargs):
            g.api_started = time.monotonic()
            try:
                g.api_key = _authenticate()
                if scope is not None and scope.value not in g.api_key.scopes:
                    raise ApiError(403, f"This key does not have the {scope.value} scope.")
                retry = keys.limiter.hit(g.api_key)
                if retry is not None:
                    raise ApiError(
                        429,
                        f"This key may make {g.api_key.rate_per_minute} requests a minute.",
                        **{"Retry-After": str(retry)},
                    )
                return view(*args, **kwargs)
            except ApiError as exc:
                db.session.rollback()
                return error(exc)

        return wrapped

    return decorator


def _authenticate():
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(
            401,
            "Send an API key: Authorization: Bearer pb_… (staff make keys under Integrations).",
            **{"WWW-Authenticate": 'Bearer realm="phonebank"'},
        )
    key = keys.authenticate(token.strip())
    if key is None:
        raise ApiError(
            401,
            "This API key is not valid (or was revoked).",
            **{"WWW-Authenticate": 'Bearer realm="phonebank", error="invalid_token"'},
        )
    return key


TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    409: "Conflict",
    412: "Precondition failed",
    422: "Unprocessable",
    428: "Precondition required",
    429: "Too many requests",
}


def error(exc: ApiError):
    response = jsonify(error=exc.title or TITLES.get(exc.status, "Error"), detail=exc.detail)
    response.status_code = exc.status
    for name, value in exc.headers.items():
        response.headers[name] = value
    return response


@bp.after_request
def log_request(response):
    """Every API call is logged: key, method, path, status, time. (A key's ``last_used_at``
    is written at most once a minute per process, so busy keys do not queue on its row.)"""
    key = getattr(g, "api_key", None)
    started = getattr(g, "api_started", None)
    try:
        db.session.rollback()
        db.session.execute(
            insert(ApiRequest.__table__),
            {
                "key_id": key.id if key is not None else None,
                "at": utcnow(),
                "method": request.method,
                "path": request.full_path.rstrip("?")[:300],
                "status": response.status_code,
                "ip": (request.remote_addr or "")[:64],
                "milliseconds": int((time.monotonic() - started) * 1000) if started else 0,
            },
        )
        if db.session.get_bind().dialect.name == "postgresql":
            # A request log entry may be lost if PostgreSQL itself crashes in the next moment;
            # not waiting for its WAL flush halves the cost of logging every call.
            db.session.execute(text("SET LOCAL synchronous_commit TO OFF"))
        if key is not None and keys.due_for_last_used(key.id):
            db.session.execute(
                update(ApiKey.__table__)
                .where(ApiKey.__table__.c.id == key.id)
                .values(last_used_at=utcnow())
            )
        db.session.commit()
    except Exception:
        db.session.rollback()
    response.headers["Cache-Control"] = "no-store"
    return response


def body() -> Any:
    data = request.get_json(silent=True)
    if data is None:
        raise ApiError(400, "Send a JSON body with Content-Type: application/json.")
    return data


def limit_arg() -> int:
    raw = request.args.get("limit", "100")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE:
        raise ApiError(400, f"limit is a number from 1 to {MAX_PAGE}.")
    return int(raw)


def int_arg(name: str, default: int = 0) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit():
        raise ApiError(400, f"{name} is a whole number (the cursor from the last page).")
    return int(raw)


def parse_time(raw: Any, name: str, status: int) -> datetime:
    """An ISO 8601 time with its offset, or the ``status`` answer saying what is wrong."""
    try:
        moment = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError as exc:
        raise ApiError(status, f"{name} is an ISO 8601 time with its offset.") from exc
    if moment.tzinfo is None:
        raise ApiError(status, f"{name} needs a time zone offset (e.g. 2026-11-03T00:00:00Z).")
    return moment


def time_arg(name: str) -> datetime | None:
    raw = request.args.get(name)
    return parse_time(raw, name, 400) if raw else None


def page(items: list, cursor_of, limit: int, **extra) -> dict[str, Any]:
    """A page of items; ``next`` is the cursor for the next page (absent on the last)."""
    answer: dict[str, Any] = {"items": items, **extra}
    if len(items) == limit:
        answer["next"] = str(cursor_of(items[-1]))
    return answer


def restricted_campaign() -> int | None:
    return g.api_key.campaign_id


def person_or_404(person_id: int) -> Person:
    person = supporters.get_person(person_id)
    campaign = restricted_campaign()
    if person is None or (
        campaign is not None
        and db.session.scalar(
            select(Person.id).where(Person.id == person.id, on_campaign(campaign))
        )
        is None
    ):
        raise ApiError(404, f"There is no person {person_id}.")
    return person


def with_etag(payload: dict, status: int = 200):
    response = jsonify(payload)
    response.status_code = status
    response.headers["ETag"] = f'"{payload["version"]}"'
    return response


def expected_version() -> int:
    raw = request.headers.get("If-Match", "").strip()
    if not raw:
        raise ApiError(
            428,
            'Send If-Match with the ETag from your last GET, e.g. If-Match: "3".',
        )
    raw = raw.removeprefix("W/").strip('"')
    if not raw.isdigit():
        raise ApiError(412, "If-Match holds the person's ETag, a quoted version number.")
    return int(raw)


def module_name() -> str:
    return f"api:{g.api_key.name}"[:40]


# --- people --------------------------------------------------------------------------------


@bp.get("/people")
@api_view(ApiScope.READ_PEOPLE)
def list_people():
    """People in id order from ``after``; ``modified_since``, ``email``, ``phone`` and
    ``identifier`` narrow the list. Merged-away records are left out."""
    limit, after = limit_arg(), int_arg("after")
    query = (
        select(Person.id)
        .where(Person.id > after, Person.merged_into_id.is_(None))
        .order_by(Person.id)
        .limit(limit)
    )
    since = time_arg("modified_since")
    if since is not None:
        query = query.where(Person.updated_at >= since)
    if request.args.get("email"):
        ids = [p.id for p in supporters.find_people_by_email(request.args["email"])]
        query = query.where(Person.id.in_(ids))
    if request.args.get("phone"):
        try:
            number = supporters.normalize_phone(request.args["phone"])
        except SupporterError as exc:
            raise ApiError(400, f"phone: {exc}") from exc
        query = query.where(Person.id.in_([p.id for p in supporters.find_people_by_phone(number)]))
    if request.args.get("identifier"):
        system, _, value = request.args["identifier"].partition(":")
        found = supporters.find_person_by_external_id(system, value) if value else None
        query = query.where(Person.id == (found.id if found else -1))
    if restricted_campaign() is not None:
        query = query.where(on_campaign(restricted_campaign()))
    people = people_json(list(db.session.scalars(query)))
    db.session.rollback()
    return jsonify(page(people, lambda p: p["id"], limit))


@bp.get("/people/<int:person_id>")
@api_view(ApiScope.READ_PEOPLE)
def get_person(person_id: int):
    found = people_json([person_id]) if restricted_campaign() is None else []
    if found and found[0]["merged_into"] is None:
        payload = found[0]  # the common case, in two queries
    else:  # merged away (answer with the survivor), or a key for one campaign
        payload = person_json(person_or_404(person_id))
    db.session.rollback()
    return with_etag(payload)


@bp.post("/people")
@api_view(ApiScope.WRITE_PEOPLE)
def create_person():
    """Match (external id, then phone and name, then email and name) or create."""
    parsed = parse_person(body())
    person, matched_by = create_or_match(
        parsed, module=module_name(), allowed_campaign=restricted_campaign()
    )
    db.session.commit()
    payload = {**person_json(db.session.get(Person, person.id)), "matched_by": matched_by}
    db.session.rollback()
    return with_etag(payload, 200 if matched_by else 201)


@bp.patch("/people/<int:person_id>")
@api_view(ApiScope.WRITE_PEOPLE)
def update_person(person_id: int):
    """Change a person you read at a version (If-Match): lists add, fields replace, flags
    raise (do_not_call is never withdrawn)."""
    expected = expected_version()
    parsed = parse_person(body())
    person = person_or_404(person_id)
    if person.id != person_id:
        raise ApiError(409, f"Person {person_id} was merged into {person.id}: update that one.")
    lock_version(person, expected)
    apply(person, parsed, module_name(), restricted_campaign())
    changes.touch(person.id)  # every accepted update is a new version
    db.session.commit()
    payload = person_json(db.session.get(Person, person.id))
    db.session.rollback()
    return with_etag(payload)


@bp.get("/people/<int:person_id>/taggings")
@api_view(ApiScope.READ_PEOPLE)
def person_taggings(person_id: int):
    person = person_or_404(person_id)
    items = [{"tag": t.name} for t in person.tags]
    db.session.rollback()
    return jsonify(items=items)


@bp.post("/people/<int:person_id>/taggings")
@api_view(ApiScope.WRITE_PEOPLE)
def add_tagging(person_id: int):
    data = body()
    if not isinstance(data, dict) or not isinstance(data.get("tag"), str):
        raise ApiError(422, 'Send {"tag": "name"}.')
    person = person_or_404(person_id)
    try:
        added = supporters.tag_person(person, data["tag"], source=module_name())
    except SupporterError as exc:
        raise ApiError(422, str(exc)) from exc
    db.session.commit()
    return jsonify(tag=data["tag"].strip(), added=added), 201 if added else 200


@bp.delete("/people/<int:person_id>/taggings/<path:tag>")
@api_view(ApiScope.WRITE_PEOPLE)
def remove_tagging(person_id: int, tag: str):
    person = person_or_404(person_id)
    if not supporters.untag_person(person, tag):
        raise ApiError(404, f"Person {person_id} does not have the tag {tag!r}.")
    db.session.commit()
    return "", 204


@bp.get("/tags")
@api_view(ApiScope.READ_PEOPLE)
def list_tags():
    limit, after = limit_arg(), int_arg("after")
    tags = db.session.scalars(select(Tag).where(Tag.id > after).order_by(Tag.id).limit(limit))
    items = [{"id": t.id, "name": t.name} for t in tags]
    db.session.rollback()
    return jsonify(page(items, lambda t: t["id"], limit))


@bp.get("/questions")
@api_view(ApiScope.READ_PEOPLE)
def list_questions():
    """Survey questions (of the key's campaign, or ``campaign``), with their choices."""
    query = select(SurveyQuestion).order_by(SurveyQuestion.campaign_id, SurveyQuestion.position)
    campaign = restricted_campaign() or (int_arg("campaign") or None)
    if campaign is not None:
        query = query.where(SurveyQuestion.campaign_id == campaign)
    items = [
        {
            "id": q.id,
            "campaign": q.campaign_id,
            "kind": q.kind.value,
            "prompt": q.prompt,
            "choices": list(q.choices or []),
            "main": q.is_main,
        }
        for q in db.session.scalars(query)
    ]
    db.session.rollback()
    return jsonify(items=items)


# --- canvasses -----------------------------------------------------------------------------


def labelled(answers: Any) -> list[dict[str, Any]]:
    """Answers as a list of ``{question_id, question, answer}`` (other modules' canvasses may
    name questions phonebank does not have: their id is null)."""
    if isinstance(answers, dict):
        return [{"question_id": None, "question": str(k), "answer": v} for k, v in answers.items()]
    return [
        {
            "question_id": a.get("question_id"),
            "question": a.get("question", ""),
            "answer": a.get("answer"),
        }
        for a in answers or []
        if isinstance(a, dict)
    ]


def canvass_json(activity: Activity) -> dict[str, Any]:
    payload = dict(activity.payload or {})
    return {
        "id": activity.id,
        "person": activity.person_id,
        "campaign": activity.campaign_id,
        "module": activity.module,
        "kind": activity.kind,
        "occurred_at": activity.occurred_at.isoformat(),
        "contact_type": payload.pop("contact_type", "phone"),
        "outcome": payload.pop("outcome", None),
        "bucket": payload.pop("bucket", None),
        "answers": labelled(payload.pop("answers", [])),
        "notes": payload.pop("notes", ""),
        "details": payload,
    }


@bp.get("/canvasses")
@api_view(ApiScope.READ_CANVASSES)
def list_canvasses():
    """Calls with their outcomes and answers, and canvasses recorded by other modules, in the
    order recorded (``after``: the last id seen)."""
    limit, after = limit_arg(), int_arg("after")
    query = (
        select(Activity)
        .where(Activity.id > after, Activity.kind.in_(CANVASS_KINDS))
        .order_by(Activity.id)
        .limit(limit)
    )
    campaign = restricted_campaign() or (int_arg("campaign") or None)
    if campaign is not None:
        query = query.where(Activity.campaign_id == campaign)
    if request.args.get("person"):
        query = query.where(Activity.person_id == int_arg("person"))
    since = time_arg("since")
    if since is not None:
        query = query.where(Activity.occurred_at >= since)
    items = [canvass_json(a) for a in db.session.scalars(query)]
    db.session.rollback()
    return jsonify(page(items, lambda c: c["id"], limit))


@bp.post("/canvasses")
@api_view(ApiScope.WRITE_CANVASSES)
def record_canvass():
    """Another module's contact with a person, with its answers: written to the person's
    history as one entry (and to the change feed)."""
    data = body()
    if not isinstance(data, dict) or not isinstance(data.get("person"), int):
        raise ApiError(422, 'Send {"person": <id>, "contact_type": "...", "outcome": "..."}.')
    person = person_or_404(data["person"])
    contact_type = data.get("contact_type", "other")
    outcome = data.get("outcome")
    answers = data.get("answers", {})
    notes = data.get("notes", "")
    if not isinstance(contact_type, str) or not contact_type.strip():
        raise ApiError(422, "contact_type is text: phone, door, event, email, other.")
    if outcome is not None and not isinstance(outcome, str):
        raise ApiError(422, "outcome is text.")
    if not isinstance(answers, dict | list) or not isinstance(notes, str):
        raise ApiError(
            422,
            'answers is a list of {"question": ..., "answer": ...} (or an object of question '
            "to answer); notes is text.",
        )
    occurred = data.get("occurred_at")
    moment = None if occurred is None else parse_time(occurred, "occurred_at", 422)
    campaign = data.get("campaign", restricted_campaign())
    if restricted_campaign() is not None and campaign != restricted_campaign():
        raise ApiError(403, "This key records canvasses for its own campaign only.")
    activity = supporters.record_activity(
        person,
        kind="canvass",
        module=module_name(),
        campaign_id=campaign if isinstance(campaign, int) else None,
        payload={
            "contact_type": contact_type.strip()[:40],
            "outcome": outcome,
            "answers": labelled(answers),
            "notes": notes[:5000],
        },
        occurred_at=moment,
    )
    db.session.commit()
    payload = canvass_json(db.session.get(Activity, activity.id))
    db.session.rollback()
    return jsonify(payload), 201


# --- events and attendances ----------------------------------------------------------------


def event_json(event: Event) -> dict[str, Any]:
    return {
        "id": event.id,
        "title": event.title,
        "start_date": event.starts_at.isoformat(),
        "end_date": event.ends_at.isoformat() if event.ends_at else None,
        "location": event.place,
        "postal_code": event.postcode,
        "time_zone": event.time_zone,
        "capacity": event.capacity,
    }


def attendance_json(attendance: Attendance) -> dict[str, Any]:
    return {
        "id": attendance.id,
        "event": attendance.event_id,
        "person": attendance.person_id,
        "status": attendance.status.value,
        "source": attendance.source,
        "modified_date": attendance.updated_at.isoformat(),
    }


@bp.get("/events")
@api_view(ApiScope.READ_EVENTS)
def list_events():
    limit, after = limit_arg(), int_arg("after")
    query = select(Event).where(Event.id > after).order_by(Event.id).limit(limit)
    items = [event_json(e) for e in db.session.scalars(query)]
    db.session.rollback()
    return jsonify(page(items, lambda e: e["id"], limit))


@bp.post("/events")
@api_view(ApiScope.WRITE_EVENTS)
def create_event():
    data = body()
    if not isinstance(data, dict):
        raise ApiError(400, "Send a JSON object.")
    starts = parse_time(data.get("start_date", ""), "start_date", 422)
    ends = parse_time(data["end_date"], "end_date", 422) if data.get("end_date") else None
    capacity = data.get("capacity")
    if capacity is not None and (not isinstance(capacity, int) or isinstance(capacity, bool)):
        raise ApiError(422, "capacity is a whole number.")
    try:
        event = supporters.create_event(
            str(data.get("title", "")),
            starts,
            ends_at=ends,
            place=str(data.get("location", "")),
            postcode=str(data.get("postal_code", "")),
            time_zone=str(data.get("time_zone", "")),
            capacity=capacity,
        )
    except SupporterError as exc:
        raise ApiError(422, str(exc)) from exc
    db.session.commit()
    payload = event_json(event)
    db.session.rollback()
    return jsonify(payload), 201


def event_or_404(event_id: int) -> Event:
    event = db.session.get(Event, event_id)
    if event is None:
        raise ApiError(404, f"There is no event {event_id}.")
    return event


@bp.get("/events/<int:event_id>")
@api_view(ApiScope.READ_EVENTS)
def get_event(event_id: int):
    payload = event_json(event_or_404(event_id))
    db.session.rollback()
    return jsonify(payload)


@bp.get("/events/<int:event_id>/attendances")
@api_view(ApiScope.READ_EVENTS)
def list_attendances(event_id: int):
    event_or_404(event_id)
    limit, after = limit_arg(), int_arg("after")
    query = (
        select(Attendance)
        .where(Attendance.event_id == event_id, Attendance.id > after)
        .order_by(Attendance.id)
        .limit(limit)
    )
    items = [attendance_json(a) for a in db.session.scalars(query)]
    db.session.rollback()
    return jsonify(page(items, lambda a: a["id"], limit))


@bp.post("/events/<int:event_id>/attendances")
@api_view(ApiScope.WRITE_EVENTS)
def record_attendance(event_id: int):
    """An RSVP: ``{"person": id, "status": "yes" | "maybe" | "no" | ...}``."""
    event = event_or_404(event_id)
    data = body()
    if not isinstance(data, dict) or not isinstance(data.get("person"), int):
        raise ApiError(422, 'Send {"person": <id>, "status": "yes"}.')
    statuses = [s.value for s in RsvpStatus]
    if data.get("status") not in statuses:
        raise ApiError(422, f"status is one of {', '.join(statuses)}.")
    person = supporters.get_person(data["person"])
    if person is None:
        raise ApiError(422, f"There is no person {data['person']}.")
    attendance = supporters.record_rsvp(
        person, event, RsvpStatus(data["status"]), module=module_name()
    )
    db.session.commit()
    payload = attendance_json(db.session.get(Attendance, attendance.id))
    db.session.rollback()
    return jsonify(payload), 201


# --- do-not-call ---------------------------------------------------------------------------


def do_not_call_json(row: DoNotCallNumber) -> dict[str, Any]:
    return {
        "number": row.number,
        "reason": row.reason,
        "source": row.source,
        "added_date": row.added_at.isoformat(),
    }


@bp.get("/do_not_call")
@api_view(ApiScope.READ_DO_NOT_CALL)
def list_do_not_call():
    """The organisation's do-not-call numbers in number order (``after``: the last number)."""
    limit = limit_arg()
    after = request.args.get("after", "")
    query = (
        select(DoNotCallNumber)
        .where(DoNotCallNumber.number > after)
        .order_by(DoNotCallNumber.number)
        .limit(limit)
    )
    items = [do_not_call_json(row) for row in db.session.scalars(query)]
    db.session.rollback()
    return jsonify(page(items, lambda r: r["number"], limit))


@bp.post("/do_not_call")
@api_view(ApiScope.WRITE_DO_NOT_CALL)
def add_do_not_call():
    data = body()
    if not isinstance(data, dict) or not isinstance(data.get("number"), str):
        raise ApiError(422, 'Send {"number": "+12025550123", "reason": "..."}.')
    try:
        number = supporters.normalize_phone(data["number"])
        row = supporters.add_to_do_not_call(
            number, reason=str(data.get("reason", ""))[:200], source=module_name()
        )
    except SupporterError as exc:
        raise ApiError(422, str(exc)) from exc
    db.session.commit()
    payload = do_not_call_json(row)
    db.session.rollback()
    return jsonify(payload), 201


# --- the change feed -----------------------------------------------------------------------


@bp.get("/changes")
@api_view(ApiScope.READ_CHANGES)
def list_changes():
    """Changes after cursor ``after`` in feed order; ``types`` narrows them; ``wait`` (up to
    25 s) holds the request open until there is something."""
    limit, after = limit_arg(), int_arg("after")
    types = [t for t in request.args.get("types", "").split(",") if t]
    unknown = sorted(set(types) - set(changes.EVENT_TYPES))
    if unknown:
        raise ApiError(400, f"Unknown change type(s): {', '.join(unknown)}.")
    wait = min(int_arg("wait"), 25)
    deadline = time.monotonic() + wait
    while True:
        found = changes.read(after, limit, types or None)
        items = [changes.as_json(c) for c in found]
        db.session.rollback()
        if items or time.monotonic() >= deadline:
            break
        time.sleep(0.5)
    cursor = items[-1]["id"] if items else after
    return jsonify(items=items, next=str(cursor))


@bp.get("/openapi.json")
def openapi():
    from phonebank.api.openapi import spec

    return jsonify(spec())
