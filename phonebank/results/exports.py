"""The CSV exports: calls, people, VAN-ready canvass results, Action Network and NationBuilder
people files, and the do-not-call list. Each is a header and batches of rows read with a
keyset over ids (flat memory whatever the size), written by an export job
(``results/jobs.py``) outside the web process.

Filters (``ExportJob.filters``): ``start``/``end`` (local days in the campaign's zone),
``outcome`` (a code), ``bucket``, ``volunteer_id``, ``question_id`` with ``answer``.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ARRAY,
    Integer,
    Text,
    and_,
    any_,
    bindparam,
    case,
    cast,
    column,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import aliased

from phonebank.campaigns.hours import parse_zone_key, zone_info
from phonebank.extensions import db
from phonebank.models import (
    Address,
    Call,
    Campaign,
    CampaignTarget,
    DoNotCallNumber,
    Email,
    ExportJob,
    ExportKind,
    ExternalId,
    Outcome,
    OutcomeBucket,
    Person,
    PersonTag,
    Phone,
    SurveyQuestion,
    Tag,
    User,
)
from phonebank.models.base import Base
from phonebank.results.services import Period, parse_period
from phonebank.results.tallies import campaign_zone

BATCH = 2000
Batches = Iterator[list[list[Any]]]

# VAN's canvass result short names (for non-contacts), suggested for phonebank's outcomes.
VAN_RESULT_DEFAULTS = {
    "no_answer": "NH",
    "busy": "BZ",
    "machine": "NH",
    "left_message": "LM",
    "wrong_number": "WN",
    "disconnected": "DC",
    "fax": "FX",
    "refused": "RF",
    "hostile": "HO",
    "deceased": "DE",
    "moved": "MV",
    "do_not_call": "DNC",
    "call_back": "CB",
}


@dataclass
class Export:
    """What a job writes: a file name, a header, its rows, and (for progress) how many. On
    PostgreSQL, ``copy_query`` (when given) produces the same rows as text, already
    neutralised, for ``COPY ... TO STDOUT`` (tests hold the two to each other)."""

    filename: str
    header: list[str]
    batches: Batches
    total: int | None
    copy_query: Any = None


def masked(number: str) -> str:
    return "•••• ••• " + number[-4:] if number else ""


def _iso(value: datetime | None) -> str:
    return value.isoformat(timespec="seconds") if value else ""


def _local(value: datetime | None, zone: ZoneInfo | None) -> str:
    if value is None or zone is None:
        return ""
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")


class LocalTimes:
    """Local wall-clock text of UTC times in one zone, fast: the zone's offset is looked up
    once per UTC hour (offsets change on the hour, or on the half hour in a few zones, whose
    times are then converted one by one)."""

    def __init__(self, zone: ZoneInfo | None):
        self.zone = zone
        self.offsets: dict[tuple, Any] = {}

    def __call__(self, value: datetime | None) -> str:
        if value is None or self.zone is None:
            return ""
        hour = (value.year, value.month, value.day, value.hour)
        offset = self.offsets.get(hour)
        if offset is None:
            start = value.replace(minute=0, second=0, microsecond=0)
            offset = start.astimezone(self.zone).utcoffset()
            end = (start + timedelta(minutes=59, seconds=59)).astimezone(self.zone).utcoffset()
            offset = self.offsets[hour] = offset if offset == end else False
        if offset is False:
            return _local(value, self.zone)
        t = value + offset
        return f"{t.year:04d}-{t.month:02d}-{t.day:02d} {t.hour:02d}:{t.minute:02d}:{t.second:02d}"


def _callee_zone(zone_key: str) -> tuple[ZoneInfo | None, str]:
    zones, _ = parse_zone_key(zone_key or "")
    if not zones:
        return None, ""
    return zone_info(zones[0]), " ".join(zones)


def _label(value: Any) -> str:
    if isinstance(value, list):
        return "; ".join(str(v) for v in value)
    return "" if value is None else str(value)


# --- filters -------------------------------------------------------------------------------


def call_filters(campaign: Campaign, filters: dict[str, Any]) -> list:
    """SQL conditions on ``Call`` (joined to its outcome) for an export's filters."""
    conditions = [Call.campaign_id == campaign.id]
    period: Period = parse_period(filters.get("start"), filters.get("end"))
    low, high = period.utc_bounds(campaign_zone(campaign))
    moment = func.coalesce(Call.dialed_at, Call.created_at)
    if low is not None:
        conditions.append(moment >= low)
    if high is not None:
        conditions.append(moment < high)
    if filters.get("outcome"):
        conditions.append(Outcome.code == filters["outcome"])
    if filters.get("bucket"):
        conditions.append(Outcome.bucket == OutcomeBucket(filters["bucket"]))
    if filters.get("volunteer_id"):
        conditions.append(Call.volunteer_id == int(filters["volunteer_id"]))
    return conditions


def _answer_matches(answers: dict, filters: dict[str, Any]) -> bool:
    """The question/answer filter, applied in Python (answers are JSON on both databases)."""
    question_id = filters.get("question_id")
    if not question_id:
        return True
    value = (answers or {}).get(str(question_id))
    wanted = filters.get("answer")
    if not wanted:
        return value not in (None, "", [])
    return wanted in value if isinstance(value, list) else value == wanted


def _keyset(
    query, id_column, transform: Callable[[list], list[list[Any]]], plain: bool = False
) -> Batches:
    """Rows of ``query`` in id order, BATCH at a time, each batch turned into CSV rows.
    ``plain`` queries (columns, no ORM entities) run on the session's connection, skipping
    the ORM's row loading."""
    last = 0
    run = db.session.connection().execute if plain else db.session.execute
    while True:
        rows = run(query.where(id_column > last).order_by(id_column).limit(BATCH)).all()
        if not rows:
            return
        last = rows[-1][0]
        yield transform(rows)
        if not plain:
            # Keep the session's memory flat: let go of the batch's rows (only those, so
            # what else was loaded is not fetched again).
            for row in rows:
                for item in row:
                    if isinstance(item, Base) and item in db.session:
                        db.session.expunge(item)


def _in(column, values: list):
    """``column IN values``; on PostgreSQL as ``= ANY(:array)``, one parameter however many."""
    if db.session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam("values", values, type_=ARRAY(Integer)))
    return column.in_(values)


def _external_ids(person_ids: list[int]) -> dict[int, dict[str, str]]:
    found: dict[int, dict[str, str]] = defaultdict(dict)
    for person_id, system, value in db.session.connection().execute(
        select(ExternalId.person_id, ExternalId.system, ExternalId.value).where(
            _in(ExternalId.person_id, person_ids)
        )
    ):
        found[person_id].setdefault(system, value)
    return found


def _systems(campaign: Campaign) -> list[str]:
    """The external id systems held by the campaign's people (a column each)."""
    return sorted(
        db.session.scalars(
            select(ExternalId.system)
            .join(CampaignTarget, CampaignTarget.person_id == ExternalId.person_id)
            .where(CampaignTarget.campaign_id == campaign.id)
            .distinct()
        )
    )


def _questions(campaign: Campaign) -> list[SurveyQuestion]:
    return list(
        db.session.scalars(
            select(SurveyQuestion)
            .where(SurveyQuestion.campaign_id == campaign.id)
            .order_by(SurveyQuestion.position, SurveyQuestion.id)
        )
    )


def _count(query) -> int:
    return db.session.scalar(select(func.count()).select_from(query.subquery())) or 0


# --- calls ---------------------------------------------------------------------------------


def calls_export(job: ExportJob) -> Export:
    """One row per call: the person, the phone (full number for staff only), who called,
    which attempt, the outcome, each survey answer (labelled), notes, RSVP, times in UTC and
    in the callee's local time, duration, who answered."""
    campaign = db.session.get(Campaign, job.campaign_id)
    questions = _questions(campaign)
    systems = _systems(campaign)
    events = {q.id: q for q in questions if q.event_id is not None}
    header = [
        "call_id", *[f"{s}_id" for s in systems], "first_name", "last_name", "phone",
        "phone_type", "campaign", "volunteer", "attempt", "outcome", "outcome_label", "bucket",
        *[q.prompt for q in questions], "notes", "rsvp", "started_utc", "answered_utc",
        "ended_utc", "callee_time_zone", "started_local", "answered_local", "ended_local",
        "duration_seconds", "answered_by", "corrected_from",
    ]  # fmt: skip
    earlier = aliased(Call)
    attempt = (
        select(func.count())
        .where(earlier.target_id == Call.target_id, earlier.id <= Call.id)
        .scalar_subquery()
        .label("attempt")
    )
    # Plain columns, not ORM objects: a million rows stream at a few microseconds each.
    query = (
        select(
            Call.id,
            Call.person_id,
            Call.volunteer_id,
            Call.outcome_id,
            Call.answers,
            Call.notes,
            Call.dialed_at,
            Call.created_at,
            Call.answered_at,
            Call.ended_at,
            Call.duration_seconds,
            Call.answered_by,
            Call.conflict,
            Person.first_name,
            Person.last_name,
            Phone.number,
            Phone.type,
            CampaignTarget.zone_key,
            attempt,
        )  # fmt: skip
        .join(Person, Person.id == Call.person_id)
        .join(Phone, Phone.id == Call.phone_id)
        .join(CampaignTarget, CampaignTarget.id == Call.target_id)
        .outerjoin(Outcome, Outcome.id == Call.outcome_id)
        .where(*call_filters(campaign, job.filters))
    )
    full = job.full_numbers
    none = ("", "", "")
    outcomes = {
        o.id: (o.code, o.label, o.bucket.value)
        for o in db.session.scalars(select(Outcome).where(Outcome.campaign_id == campaign.id))
    }
    question_keys = [str(q.id) for q in questions]
    rsvp_questions = [(str(q.id), q.prompt, q.rsvp_map or {}) for q in events.values()]
    name = campaign.name
    names: dict[int, str] = {}
    zones: dict[str, tuple[LocalTimes, str]] = {}

    def rows(batch: list) -> list[list[Any]]:
        ids = _external_ids([r.person_id for r in batch])
        missing = {r.volunteer_id for r in batch} - set(names)
        if missing:
            names.update(
                db.session.execute(select(User.id, User.name).where(User.id.in_(missing))).all()
            )
        out = []
        check = bool(job.filters.get("question_id"))
        for r in batch:
            answers = r.answers or {}
            if check and not _answer_matches(answers, job.filters):
                continue
            zone = zones.get(r.zone_key)
            if zone is None:
                info, label = _callee_zone(r.zone_key)
                zone = zones[r.zone_key] = (LocalTimes(info), label)
            local, zone_names = zone
            code, label, bucket = outcomes.get(r.outcome_id, none)
            rsvp = "; ".join(
                f"{prompt}: {rsvp_map.get(_first(answers[key]), '')}"
                for key, prompt, rsvp_map in rsvp_questions
                if answers.get(key) not in (None, "", [])
            ) if rsvp_questions else ""  # fmt: skip
            held = ids.get(r.person_id, {})
            started = r.dialed_at or r.created_at
            out.append(
                [
                    r.id,
                    *[held.get(s, "") for s in systems],
                    r.first_name,
                    r.last_name,
                    r.number if full else masked(r.number),
                    r.type.value,
                    name,
                    names.get(r.volunteer_id, ""),
                    r.attempt,
                    code,
                    label,
                    bucket,
                    *[_label(answers.get(key)) for key in question_keys],
                    r.notes,
                    rsvp,
                    _iso(started),
                    _iso(r.answered_at),
                    _iso(r.ended_at),
                    zone_names,
                    local(started),
                    local(r.answered_at),
                    local(r.ended_at),
                    r.duration_seconds if r.duration_seconds is not None else "",
                    r.answered_by or "",
                    (r.conflict or {}).get("automatic_outcome", "") if r.conflict else "",
                ]
            )
        return out

    return Export(
        f"{_slug(campaign.name)}-calls.csv",
        header,
        _keyset(query, Call.id, rows, plain=True),
        _count(query),
        _calls_copy_query(campaign, job, questions, systems, events) if _on_postgres() else None,
    )


# --- the same, in SQL (PostgreSQL) -----------------------------------------------------------


def _on_postgres() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def _safe_sql(value):
    """``csvfile.safe_cell`` in SQL: text that could run as a formula gets a leading '."""
    text_value = func.coalesce(cast(value, Text), "")
    return case((text_value.regexp_match("^[=+@\t\r-]"), "'" + text_value), else_=text_value)


def _utc_sql(value):
    """``_iso``: 2026-06-10T16:00:00+00:00, or ""."""
    return func.coalesce(
        func.to_char(func.timezone("UTC", value), 'YYYY-MM-DD"T"HH24:MI:SS"+00:00"'), ""
    )


def _answer_sql(key: str):
    """``_label`` of one answer: a list joined with "; "."""
    item = Call.answers[key]
    elements = (
        select(func.string_agg(column("value", Text), literal("; ")))
        .select_from(func.jsonb_array_elements_text(item).alias("value"))
        .scalar_subquery()
    )
    return case((func.jsonb_typeof(item) == "array", elements), else_=item.as_string())


def _calls_copy_query(campaign, job, questions, systems, events):
    zones_text = func.split_part(CampaignTarget.zone_key, "|", 1)
    first_zone = func.split_part(zones_text, " ", 1)

    def local(value):
        return case(
            (or_(first_zone == "", value.is_(None)), ""),
            else_=func.to_char(func.timezone(first_zone, value), "YYYY-MM-DD HH24:MI:SS"),
        )

    earlier = aliased(Call)
    attempt = (
        select(func.count())
        .where(earlier.target_id == Call.target_id, earlier.id <= Call.id)
        .scalar_subquery()
    )
    started = func.coalesce(Call.dialed_at, Call.created_at)
    number = Phone.number if job.full_numbers else "•••• ••• " + func.right(Phone.number, 4)
    system_ids = [
        select(ExternalId.value)
        .where(ExternalId.person_id == Call.person_id, ExternalId.system == system)
        .order_by(ExternalId.id)
        .limit(1)
        .scalar_subquery()
        for system in systems
    ]
    rsvp_parts = []
    for q in events.values():
        answer = Call.answers[str(q.id)]
        status = cast(literal(json.dumps(q.rsvp_map or {})), JSONB).op("->>")(answer.as_string())
        rsvp_parts.append(
            case(
                (
                    and_(
                        func.jsonb_typeof(answer).in_(["string", "number"]),
                        answer.as_string() != "",
                    ),
                    literal(f"{q.prompt}: ") + func.coalesce(status, ""),
                ),
            )
        )
    rsvp = func.concat_ws("; ", *rsvp_parts) if rsvp_parts else literal("")
    columns = [
        Call.id, *system_ids, Person.first_name, Person.last_name, number, Phone.type,
        literal(campaign.name), User.name, attempt, Outcome.code, Outcome.label, Outcome.bucket,
        *[_answer_sql(str(q.id)) for q in questions], Call.notes, rsvp, _utc_sql(started),
        _utc_sql(Call.answered_at), _utc_sql(Call.ended_at), zones_text, local(started),
        local(Call.answered_at), local(Call.ended_at), Call.duration_seconds,
        Call.answered_by, Call.conflict["automatic_outcome"].as_string(),
    ]  # fmt: skip
    query = (
        select(*[_safe_sql(c) for c in columns])
        .join(Person, Person.id == Call.person_id)
        .join(Phone, Phone.id == Call.phone_id)
        .join(User, User.id == Call.volunteer_id)
        .join(CampaignTarget, CampaignTarget.id == Call.target_id)
        .outerjoin(Outcome, Outcome.id == Call.outcome_id)
        .where(*call_filters(campaign, job.filters), *_answer_filter_sql(job.filters))
        .order_by(Call.id)
    )
    return query


def _answer_filter_sql(filters: dict) -> list:
    """``_answer_matches`` in SQL."""
    question_id = filters.get("question_id")
    if not question_id:
        return []
    value = Call.answers[str(question_id)]
    wanted = filters.get("answer")
    if wanted:
        return [value.op("@>")(func.to_jsonb(cast(literal(wanted), Text)))]
    empty = [cast(literal('""'), JSONB), cast(literal("[]"), JSONB)]
    return [Call.answers.op("?")(str(question_id)), cast(value, JSONB).notin_(empty)]


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, list) and value else value


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")[:60] or "campaign"


# --- people --------------------------------------------------------------------------------


def _people_rows(campaign: Campaign, job: ExportJob):
    """The campaign's people in id order, with their latest call's outcome and answers."""
    query = (
        select(CampaignTarget.id, CampaignTarget, Person)
        .join(Person, Person.id == CampaignTarget.person_id)
        .where(CampaignTarget.campaign_id == campaign.id, Person.merged_into_id.is_(None))
    )
    return query


def _latest_calls(target_ids: list[int]) -> dict[int, tuple[Call, Outcome | None]]:
    latest = (
        select(func.max(Call.id))
        .where(Call.target_id.in_(target_ids), Call.outcome_id.is_not(None))
        .group_by(Call.target_id)
    )
    found = {}
    for call, outcome in db.session.execute(
        select(Call, Outcome)
        .join(Outcome, Outcome.id == Call.outcome_id)
        .where(Call.id.in_(latest))
    ):
        found[call.target_id] = (call, outcome)
    return found


def _people_details(person_ids: list[int]) -> dict[int, dict[str, Any]]:
    details: dict[int, dict[str, Any]] = defaultdict(
        lambda: {"tags": [], "phones": [], "email": ""}
    )
    for person_id, name in db.session.execute(
        select(PersonTag.person_id, Tag.name)
        .join(Tag, Tag.id == PersonTag.tag_id)
        .where(PersonTag.person_id.in_(person_ids))
        .order_by(Tag.name)
    ):
        details[person_id]["tags"].append(name)
    for person_id, number, kind, status in db.session.execute(
        select(Phone.person_id, Phone.number, Phone.type, Phone.status)
        .where(Phone.person_id.in_(person_ids))
        .order_by(Phone.id)
    ):
        details[person_id]["phones"].append((number, kind.value, status.value))
    for person_id, address in db.session.execute(
        select(Email.person_id, Email.address)
        .where(Email.person_id.in_(person_ids))
        .order_by(Email.id)
    ):
        details[person_id]["email"] = details[person_id]["email"] or address
    for address in db.session.scalars(
        select(Address).where(Address.person_id.in_(person_ids), Address.is_primary.is_(True))
    ):
        details[address.person_id]["address"] = address
    return details


def people_export(job: ExportJob, flavour: str = "people") -> Export:
    """The campaign's people with their latest outcome, answers, tags and flags; or in the
    column names Action Network or NationBuilder imports read, tags from answers included."""
    campaign = db.session.get(Campaign, job.campaign_id)
    questions = _questions(campaign)
    systems = _systems(campaign)
    query = _people_rows(campaign, job)
    if job.filters.get("outcome"):
        query = query.where(CampaignTarget.last_outcome == job.filters["outcome"])
    full = job.full_numbers
    if flavour == "nationbuilder":
        header = ["external_id", "first_name", "last_name", "email", "phone_number",
                  "mobile_number", "address1", "city", "state", "zip", "tag_list",
                  "do_not_call", "note"]  # fmt: skip
    elif flavour == "action_network":
        header = ["first_name", "last_name", "email", "zip_code", "phone_number",
                  "can2_user_address", "can2_user_city", "can2_state_abbreviated", "tags",
                  *[q.prompt for q in questions]]  # fmt: skip
    else:
        header = [*[f"{s}_id" for s in systems], "first_name", "last_name", "email", "phone",
                  "phone_type", "city", "state", "postcode", "status", "last_outcome",
                  "last_called_utc", *[q.prompt for q in questions], "tags", "do_not_call",
                  "deceased", "moved"]  # fmt: skip

    def rows(batch: list) -> list[list[Any]]:
        person_ids = [r[2].id for r in batch]
        details = _people_details(person_ids)
        latest = _latest_calls([r[0] for r in batch])
        ids = _external_ids(person_ids) if systems or flavour == "nationbuilder" else {}
        out = []
        for target_id, target, person in batch:
            call, outcome = latest.get(target_id, (None, None))
            answers = (call.answers if call else None) or {}
            if not _answer_matches(answers, job.filters):
                continue
            info = details[person.id]
            phones = info["phones"]
            good = [p for p in phones if p[2] == "ok"] or phones
            phone = good[0] if good else ("", "", "")
            mobile = next((p for p in good if p[1] == "mobile"), None)
            address = info.get("address")

            def number(n: str) -> str:
                return n if full else masked(n)

            if flavour == "nationbuilder":
                out.append(
                    [
                        next(iter(ids.get(person.id, {}).values()), ""),
                        person.first_name, person.last_name, info["email"],
                        number(phone[0]), number(mobile[0]) if mobile else "",
                        address.line1 if address else "", address.city if address else "",
                        address.region if address else "", address.postcode if address else "",
                        ", ".join(info["tags"]), person.do_not_call,
                        f"{campaign.name}: {outcome.label}" if outcome else "",
                    ]
                )  # fmt: skip
            elif flavour == "action_network":
                out.append(
                    [
                        person.first_name, person.last_name, info["email"],
                        address.postcode if address else "", number(phone[0]),
                        address.line1 if address else "", address.city if address else "",
                        address.region if address else "", ", ".join(info["tags"]),
                        *[_label(answers.get(str(q.id))) for q in questions],
                    ]
                )  # fmt: skip
            else:
                out.append(
                    [
                        *[ids.get(person.id, {}).get(s, "") for s in systems],
                        person.first_name, person.last_name, info["email"], number(phone[0]),
                        phone[1], address.city if address else "",
                        address.region if address else "", address.postcode if address else "",
                        target.status.value, target.last_outcome or "",
                        _iso(call.dialed_at or call.created_at) if call else "",
                        *[_label(answers.get(str(q.id))) for q in questions],
                        ", ".join(info["tags"]), person.do_not_call, person.deceased,
                        person.moved,
                    ]
                )  # fmt: skip
        return out

    names = {"nationbuilder": "nationbuilder", "action_network": "action-network"}
    return Export(
        f"{_slug(campaign.name)}-{names.get(flavour, 'people')}.csv",
        header,
        _keyset(query, CampaignTarget.id, rows),
        _count(query),
    )


# --- VAN -----------------------------------------------------------------------------------


def van_mapping(campaign: Campaign) -> dict[str, Any]:
    """The campaign's saved VAN mapping, with VAN's result codes suggested where unset:
    ``{"results": {outcome code: result code}, "questions": {question id: {"id": VAN survey
    question id, "responses": {answer: VAN response id}}}, "date_format": ...}``."""
    saved = dict((campaign.export_mappings or {}).get("van") or {})
    results = {o.code: VAN_RESULT_DEFAULTS.get(o.code, "") for o in campaign.outcomes}
    results.update(saved.get("results") or {})
    return {
        "results": results,
        "questions": saved.get("questions") or {},
        "contact_type": saved.get("contact_type") or "Phone",
    }


def van_export(job: ExportJob) -> Export:
    """Canvass results VAN's bulk upload accepts: per call either one row with a result code
    (a non-contact, or a contact with no mapped answer) or one row per mapped survey response,
    never both in one row. Calls of people with no VanID are left out (counted)."""
    campaign = db.session.get(Campaign, job.campaign_id)
    mapping = van_mapping(campaign)
    zone = campaign_zone(campaign)
    header = ["VanID", "DateCanvassed", "ContactType", "ResultCode", "SurveyQuestionID",
              "SurveyResponseID", "phonebank_call_id"]  # fmt: skip
    query = (
        select(Call.id, Call, Outcome, ExternalId.value)
        .join(Outcome, Outcome.id == Call.outcome_id)
        .join(
            ExternalId,
            and_(ExternalId.person_id == Call.person_id, ExternalId.system == "van"),
        )
        .where(*call_filters(campaign, job.filters))
    )

    def rows(batch: list) -> list[list[Any]]:
        out = []
        for _, call, outcome, van_id in batch:
            if not _answer_matches(call.answers, job.filters):
                continue
            day = (call.dialed_at or call.created_at).astimezone(zone).strftime("%m/%d/%Y")
            base = [van_id, day, mapping["contact_type"]]
            responses = []
            if outcome.bucket == OutcomeBucket.CONTACT:
                for question_id, answer in (call.answers or {}).items():
                    mapped = mapping["questions"].get(str(question_id)) or {}
                    for value in answer if isinstance(answer, list) else [answer]:
                        response = (mapped.get("responses") or {}).get(str(value))
                        if mapped.get("id") and response:
                            responses.append((mapped["id"], response))
            if responses:
                out.extend([*base, "", q, r, call.id] for q, r in responses)
            elif mapping["results"].get(outcome.code):
                out.append([*base, mapping["results"][outcome.code], "", "", call.id])
        return out

    return Export(
        f"{_slug(campaign.name)}-van-canvass-results.csv",
        header,
        _keyset(query, Call.id, rows),
        _count(query),
    )


# --- do not call ---------------------------------------------------------------------------


def do_not_call_export(job: ExportJob) -> Export:
    """The organisation's do-not-call list: number, when and why it was added, by whom."""
    header = ["number", "added_utc", "reason", "source", "added_by"]
    query = select(DoNotCallNumber.number, DoNotCallNumber, User.name).outerjoin(
        User, User.id == DoNotCallNumber.added_by_id
    )
    if job.filters.get("q"):
        query = query.where(DoNotCallNumber.number.contains(job.filters["q"]))

    def batches() -> Batches:
        last = ""
        while True:
            rows = db.session.execute(
                query.where(DoNotCallNumber.number > last)
                .order_by(DoNotCallNumber.number)
                .limit(BATCH)
            ).all()
            if not rows:
                return
            last = rows[-1][0]
            yield [
                [n, _iso(entry.added_at), entry.reason, entry.source, by or ""]
                for n, entry, by in rows
            ]

    return Export("do-not-call.csv", header, batches(), _count(query))


BUILDERS: dict[ExportKind, Callable[[ExportJob], Export]] = {
    ExportKind.CALLS: calls_export,
    ExportKind.PEOPLE: people_export,
    ExportKind.VAN: van_export,
    ExportKind.ACTION_NETWORK: lambda job: people_export(job, "action_network"),
    ExportKind.NATIONBUILDER: lambda job: people_export(job, "nationbuilder"),
    ExportKind.DO_NOT_CALL: do_not_call_export,
}
