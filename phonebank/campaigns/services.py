"""Campaigns: defaults, settings, scripts and their call lists."""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import exists, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from phonebank.campaigns.zones import NO_TIME_ZONE, callee_zone_key, has_zone
from phonebank.extensions import db
from phonebank.models import (
    Address,
    Campaign,
    CampaignMember,
    CampaignTarget,
    DoNotCallNumber,
    Event,
    Outcome,
    OutcomeBucket,
    Person,
    PersonTag,
    Phone,
    PhoneStatus,
    QuestionKind,
    Role,
    SurveyQuestion,
    TargetStatus,
    User,
)
from phonebank.results.tallies import campaign_zone_name


class CampaignError(ValueError):
    """A campaign setting phonebank cannot accept; the message says why."""


@dataclass(frozen=True)
class OutcomeSpec:
    code: str
    label: str
    bucket: OutcomeBucket
    shortcut: str | None = None
    ends_attempts: bool = False
    retry_delay_minutes: int | None = None
    is_callback: bool = False
    phone_reason: str | None = None
    person_flag: str | None = None
    auto_for: str | None = None


C, R, B, N = (
    OutcomeBucket.CONTACT,
    OutcomeBucket.RETRY,
    OutcomeBucket.BAD_NUMBER,
    OutcomeBucket.NEVER,
)

# Every new campaign starts with these (editable): VAN's meanings, PRODUCT.md's buckets.
DEFAULT_OUTCOMES = [
    OutcomeSpec("talked", "Talked to them", C, "1", ends_attempts=True),
    OutcomeSpec("refused", "Refused", C, "2", ends_attempts=True),
    OutcomeSpec("hostile", "Hostile", C, "3", ends_attempts=True),
    OutcomeSpec("call_back", "Call back later", C, "4", is_callback=True),
    OutcomeSpec("no_answer", "No answer", R, "5", retry_delay_minutes=240, auto_for="no-answer"),
    OutcomeSpec("busy", "Busy", R, "6", retry_delay_minutes=60, auto_for="busy"),
    OutcomeSpec("machine", "Answering machine", R, retry_delay_minutes=240, auto_for="machine"),
    OutcomeSpec("left_message", "Left message", R, "7", ends_attempts=True, auto_for="voicemail"),
    OutcomeSpec("wrong_number", "Wrong number", B, "8", phone_reason="wrong_number"),
    OutcomeSpec(
        "disconnected", "Disconnected", B, "9", phone_reason="disconnected", auto_for="failed"
    ),
    OutcomeSpec("fax", "Fax", B, phone_reason="fax", auto_for="fax"),
    OutcomeSpec("do_not_call", "Do not call", N, "0", person_flag="do_not_call"),
    OutcomeSpec("deceased", "Deceased", N, person_flag="deceased"),
    OutcomeSpec("moved", "Moved away", N, person_flag="moved"),
]

PHONE_TYPES = ("mobile", "home", "work", "unknown")


def add_default_outcomes(campaign: Campaign) -> None:
    for position, spec in enumerate(DEFAULT_OUTCOMES):
        campaign.outcomes.append(Outcome(position=position, **spec.__dict__))


def create_campaign(name: str, created_by: User | None = None, **settings) -> Campaign:
    """A new draft campaign with the default outcome list."""
    if not name.strip():
        raise CampaignError("A campaign needs a name.")
    campaign = Campaign(name=name.strip(), created_by_id=created_by.id if created_by else None)
    # Column defaults only apply at INSERT; validation needs them now.
    for column in Campaign.__table__.columns:
        default = column.default
        if default is not None and getattr(campaign, column.key) is None:
            setattr(campaign, column.key, default.arg(None) if default.is_callable else default.arg)
    for key, value in settings.items():
        if not hasattr(Campaign, key):
            raise CampaignError(f"unknown campaign setting {key}")
        setattr(campaign, key, value)
    validate_settings(campaign)
    add_default_outcomes(campaign)
    campaign.tallies_zone = campaign_zone_name(campaign)  # nothing to count yet
    db.session.add(campaign)
    db.session.flush()
    return campaign


def validate_settings(campaign: Campaign) -> None:
    if not 0 <= campaign.window_start < campaign.window_end <= 24 * 60:
        raise CampaignError("The calling window must start before it ends, within one day.")
    for day, window in (campaign.weekday_windows or {}).items():
        if day not in {str(d) for d in range(7)}:
            raise CampaignError(f"Unknown weekday {day!r} in the weekday windows.")
        if window is not None and not (len(window) == 2 and 0 <= window[0] < window[1] <= 24 * 60):
            raise CampaignError("Each weekday window must start before it ends.")
    if not 1 <= campaign.max_attempts <= 20:
        raise CampaignError("Attempts per person must be between 1 and 20.")
    order = [p.strip() for p in (campaign.phone_order or "").split(",") if p.strip()]
    if sorted(order) != sorted(PHONE_TYPES):
        raise CampaignError(f"The phone order must list each of {', '.join(PHONE_TYPES)} once.")
    if campaign.caller_id and not re.fullmatch(r"\+[1-9]\d{6,14}", campaign.caller_id):
        raise CampaignError("The caller ID must be a full number in +E.164 form.")


def outcome_by_code(campaign_id: int, code: str) -> Outcome | None:
    return db.session.scalar(
        select(Outcome).where(Outcome.campaign_id == campaign_id, Outcome.code == code)
    )


def auto_outcome(campaign_id: int, situation: str) -> Outcome | None:
    """The outcome phonebank records itself for no-answer, busy, failed, machine, voicemail."""
    return db.session.scalar(
        select(Outcome)
        .where(
            Outcome.campaign_id == campaign_id,
            Outcome.auto_for == situation,
            Outcome.active.is_(True),
        )
        .order_by(Outcome.position)
        .limit(1)
    )


def campaigns_open_to(user: User) -> list[Campaign]:
    """Campaigns this person may call for: active ones they are a member of (staff: all)."""
    from phonebank.models import CampaignStatus

    query = select(Campaign).where(Campaign.status == CampaignStatus.ACTIVE)
    if not user.has_role(Role.STAFF):
        query = query.join(CampaignMember).where(CampaignMember.user_id == user.id)
    return list(db.session.scalars(query.order_by(Campaign.name)))


def can_call_for(user: User, campaign: Campaign) -> bool:
    if user.has_role(Role.STAFF):
        return True
    return (
        db.session.scalar(
            select(CampaignMember.id).where(
                CampaignMember.campaign_id == campaign.id, CampaignMember.user_id == user.id
            )
        )
        is not None
    )


# --- scripts -------------------------------------------------------------------------------

MERGE_FIELD = re.compile(r"\{([a-z_]+)\}")


def render_script(template: str, fields: dict[str, str]) -> str:
    """The script as safe HTML: merge fields filled, **bold** kept, paragraphs and line breaks.

    Unknown fields stay visible as ``{name}`` so staff notice typos.
    """
    escaped = html.escape(template)

    def fill(match: re.Match) -> str:
        key = match.group(1)
        return html.escape(fields[key]) if key in fields else match.group(0)

    text = MERGE_FIELD.sub(fill, escaped)
    text = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", text)
    text = re.sub(r"(?<!\*)\*(?!\s)(.+?)(?<!\s)\*(?!\*)", r"<em>\1</em>", text)
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    return "".join(f"<p>{p.replace(chr(10), '<br>')}</p>" for p in paragraphs)


def script_fields(person: Person, volunteer: User, campaign: Campaign) -> dict[str, str]:
    address = next((a for a in person.addresses if a.is_primary), None)
    return {
        "first_name": person.first_name or "there",
        "last_name": person.last_name,
        "full_name": person.full_name,
        "city": address.city if address else "",
        "volunteer_name": volunteer.name.split(" ")[0],
        "volunteer_full_name": volunteer.name,
        "campaign_name": campaign.name,
    }


# --- call lists ----------------------------------------------------------------------------


def zone_key_for(person: Person, phones: Iterable[Phone] | None = None) -> str:
    """The person's zone key from their primary address and good phones (campaigns/zones.py:
    the same derivation as a list import's)."""
    address: Address | None = next((a for a in person.addresses if a.is_primary), None)
    return callee_zone_key(
        (address.time_zone, address.region, address.postcode, address.country)
        if address is not None
        else None,
        [
            (phone.number, phone.time_zones.split())
            for phone in (phones if phones is not None else person.phones)
            if phone.status == PhoneStatus.OK
        ],
    )


def add_people(campaign: Campaign, person_ids: Iterable[int]) -> int:
    """Put people on a campaign's call list; people already on it are left as they are.

    Returns how many were added.
    """
    ids = sorted(set(person_ids))
    added = 0
    for start in range(0, len(ids), 1000):
        chunk = ids[start : start + 1000]
        people = db.session.scalars(select(Person).where(Person.id.in_(chunk))).all()
        rows = []
        for person in people:
            key = zone_key_for(person)
            # Nobody knows the local time of a person with no zone: they could never be called
            # inside the law's hours, so they are listed as unreachable rather than queued.
            row = {"campaign_id": campaign.id, "person_id": person.id, "zone_key": key}
            if has_zone(key):
                row["status"] = TargetStatus.QUEUED.value
            else:
                row.update(status=TargetStatus.DONE.value, done_reason=NO_TIME_ZONE)
            rows.append(row)
        if not rows:
            continue
        dialect = db.session.get_bind().dialect.name
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        before = _count_targets(campaign.id)
        db.session.execute(
            insert(CampaignTarget)
            .values(rows)
            .on_conflict_do_nothing(index_elements=["campaign_id", "person_id"])
        )
        added += _count_targets(campaign.id) - before
    db.session.flush()
    from phonebank.calling.queue import forget_zone_keys

    forget_zone_keys(campaign.id)
    return added


def _count_targets(campaign_id: int) -> int:
    return db.session.scalar(select(func.count()).where(CampaignTarget.campaign_id == campaign_id))


# --- staff pages: summaries, survey questions, outcomes, members ---------------------------

# The merge fields script_fields fills; anything else in braces is a typo staff should see.
SCRIPT_FIELD_NAMES = (
    "first_name",
    "last_name",
    "full_name",
    "city",
    "volunteer_name",
    "volunteer_full_name",
    "campaign_name",
)


def sample_script_fields(volunteer: User, campaign_name: str) -> dict[str, str]:
    """Merge fields for a made-up voter, so staff can preview a script before anyone calls."""
    return {
        "first_name": "Alex",
        "last_name": "Rivera",
        "full_name": "Alex Rivera",
        "city": "Springfield",
        "volunteer_name": volunteer.name.split(" ")[0],
        "volunteer_full_name": volunteer.name,
        "campaign_name": campaign_name or "Your campaign",
    }


def unknown_merge_fields(template: str) -> list[str]:
    return sorted({m for m in MERGE_FIELD.findall(template or "") if m not in SCRIPT_FIELD_NAMES})


@dataclass(frozen=True)
class CampaignSummary:
    campaign: Campaign
    on_list: int
    queued: int
    done: int
    members: int


STATUS_ORDER = {"active": 0, "paused": 1, "draft": 2, "finished": 3}


def campaign_summaries() -> list[CampaignSummary]:
    """Every campaign with its list progress and member count (active ones first)."""
    targets: dict[int, dict[str, int]] = {}
    for campaign_id, status, count in db.session.execute(
        select(CampaignTarget.campaign_id, CampaignTarget.status, func.count()).group_by(
            CampaignTarget.campaign_id, CampaignTarget.status
        )
    ):
        targets.setdefault(campaign_id, {})[TargetStatus(status).value] = count
    members = dict(
        db.session.execute(
            select(CampaignMember.campaign_id, func.count()).group_by(CampaignMember.campaign_id)
        ).all()
    )
    campaigns = sorted(
        db.session.scalars(select(Campaign)),
        key=lambda c: (STATUS_ORDER.get(c.status.value, 9), c.name.lower(), c.id),
    )
    return [
        CampaignSummary(
            campaign=c,
            on_list=sum(targets.get(c.id, {}).values()),
            queued=targets.get(c.id, {}).get("queued", 0),
            done=targets.get(c.id, {}).get("done", 0),
            members=members.get(c.id, 0),
        )
        for c in campaigns
    ]


def target_counts(campaign: Campaign) -> tuple[dict[str, int], list[tuple[str, int]]]:
    """How many people on the list are in each status, and why the finished ones finished."""
    by_status = {s.value: 0 for s in TargetStatus}
    for status, count in db.session.execute(
        select(CampaignTarget.status, func.count())
        .where(CampaignTarget.campaign_id == campaign.id)
        .group_by(CampaignTarget.status)
    ):
        by_status[TargetStatus(status).value] = count
    reasons = db.session.execute(
        select(CampaignTarget.done_reason, func.count())
        .where(
            CampaignTarget.campaign_id == campaign.id,
            CampaignTarget.status == TargetStatus.DONE,
        )
        .group_by(CampaignTarget.done_reason)
        .order_by(func.count().desc())
    ).all()
    return by_status, [(reason or "unknown", count) for reason, count in reasons]


@dataclass(frozen=True)
class ListAddition:
    added: int
    already: int
    flagged: int  # do not call, deceased or moved: never called, so not added
    no_phone: int  # no usable phone: the queue could never call them


def add_people_from_store(campaign: Campaign, tag_id: int | None = None) -> ListAddition:
    """Put everyone in the supporter store (or everyone with a tag) on the call list.

    People flagged do-not-call, deceased or moved, merged duplicates and people without a
    usable phone are left off; people already on the list stay as they are.
    """
    query = select(Person.id, Person.do_not_call, Person.deceased, Person.moved).where(
        Person.merged_into_id.is_(None)
    )
    if tag_id is not None:
        query = query.join(PersonTag, PersonTag.person_id == Person.id).where(
            PersonTag.tag_id == tag_id
        )
    rows = db.session.execute(query).all()
    flagged = {row.id for row in rows if row.do_not_call or row.deceased or row.moved}
    candidates = [row.id for row in rows if row.id not in flagged]
    with_phone: set[int] = set()
    for start in range(0, len(candidates), 1000):
        chunk = candidates[start : start + 1000]
        with_phone.update(
            db.session.scalars(
                select(Phone.person_id)
                .where(
                    Phone.person_id.in_(chunk),
                    Phone.status == PhoneStatus.OK,
                    ~exists().where(DoNotCallNumber.number == Phone.number),
                )
                .distinct()
            )
        )
    ids = [i for i in candidates if i in with_phone]
    added = add_people(campaign, ids)
    return ListAddition(
        added=added,
        already=len(ids) - added,
        flagged=len(flagged),
        no_phone=len(candidates) - len(ids),
    )


def add_member(campaign: Campaign, user: User) -> None:
    """Assign a volunteer or lead to a campaign (staff work on every campaign already)."""
    if user.has_role(Role.STAFF):
        raise CampaignError(f"{user.name} is staff and can work on every campaign already.")
    if not user.is_active_account:
        raise CampaignError(f"{user.name}'s account is deactivated.")
    if any(m.user_id == user.id for m in campaign.members):
        raise CampaignError(f"{user.name} is already on this campaign.")
    campaign.members.append(CampaignMember(user_id=user.id))
    db.session.flush()


def remove_member(campaign: Campaign, user_id: int) -> CampaignMember:
    member = next((m for m in campaign.members if m.user_id == user_id), None)
    if member is None:
        raise CampaignError("That person is not on this campaign.")
    campaign.members.remove(member)
    db.session.flush()
    return member


# --- survey questions ------------------------------------------------------------------------

RSVP_VALUES = ("yes", "maybe", "no")
ANSWER_ARROW = "=>"


def ordered_questions(campaign: Campaign) -> list[SurveyQuestion]:
    return sorted(campaign.questions, key=lambda q: (q.position, q.id or 0))


def clean_choices(lines: Iterable[str]) -> list[str]:
    """Answers as staff typed them, one per line: trimmed, blanks dropped, repeats refused."""
    choices: list[str] = []
    seen: set[str] = set()
    for line in lines:
        choice = line.strip()
        if not choice:
            continue
        if len(choice) > 200:
            raise CampaignError(f"Answers are at most 200 characters: {choice[:40]}…")
        if choice.lower() in seen:
            raise CampaignError(f"The answer “{choice}” is listed twice.")
        seen.add(choice.lower())
        choices.append(choice)
    return choices


def _answer_lines(text: str, choices: list[str], what: str) -> list[tuple[str, str]]:
    """``Answer => value`` lines, each answer matched (ignoring case) to one of the choices."""
    by_lower = {c.lower(): c for c in choices}
    pairs = []
    for raw in (text or "").splitlines():
        line = raw.strip()
        if not line:
            continue
        answer, arrow, value = line.rpartition(ANSWER_ARROW)
        if not arrow:
            raise CampaignError(f"{what}: write each line as “Answer {ANSWER_ARROW} …” ({line}).")
        choice = by_lower.get(answer.strip().lower())
        if choice is None:
            raise CampaignError(
                f"{what}: “{answer.strip()}” is not one of this question's answers."
            )
        pairs.append((choice, value.strip()))
    return pairs


def parse_answer_tags(text: str, choices: list[str]) -> dict[str, list[str]]:
    """``Strong yes => supporter, volunteer-yes`` lines to {"Strong yes": [...]}."""
    tags: dict[str, list[str]] = {}
    for choice, value in _answer_lines(text, choices, "Tags"):
        for tag in (t.strip() for t in value.split(",")):
            if not tag:
                continue
            if len(tag) > 80:
                raise CampaignError(f"Tags: tag names are at most 80 characters ({tag[:40]}…).")
            if tag not in tags.setdefault(choice, []):
                tags[choice].append(tag)
    return {choice: names for choice, names in tags.items() if names}


def parse_rsvp_map(text: str, choices: list[str]) -> dict[str, str]:
    """``Yes => yes`` lines to {"Yes": "yes"}; each value is yes, maybe or no."""
    mapping: dict[str, str] = {}
    for choice, value in _answer_lines(text, choices, "RSVP"):
        status = value.lower()
        if status not in RSVP_VALUES:
            raise CampaignError(f"RSVP: “{choice}” must map to yes, maybe or no, not “{value}”.")
        mapping[choice] = status
    return mapping


def guess_rsvp_map(choices: list[str]) -> dict[str, str]:
    """Answers named Yes, Maybe or No map to those RSVPs."""
    return {c: c.strip().lower() for c in choices if c.strip().lower() in RSVP_VALUES}


def format_answer_lines(mapping: dict[str, object], choices: list[str]) -> str:
    """The ``Answer => value`` lines for a stored mapping, in the order of the answers
    (PostgreSQL's JSONB keeps its own key order)."""
    mapping = mapping or {}
    order = {choice: i for i, choice in enumerate(choices)}
    lines = []
    for choice in sorted(mapping, key=lambda c: (order.get(c, len(order)), c)):
        value = mapping[choice]
        shown = ", ".join(value) if isinstance(value, list) else str(value)
        lines.append(f"{choice} {ANSWER_ARROW} {shown}")
    return "\n".join(lines)


def check_choices(kind: QuestionKind, choices: list[str], answer_effects: bool = False) -> None:
    """Choice questions need answers; ``answer_effects`` (tags, RSVPs) need a choice question."""
    if kind == QuestionKind.TEXT and choices:
        raise CampaignError("A text question has no answers to choose from: clear them.")
    if kind == QuestionKind.TEXT and answer_effects:
        raise CampaignError("Tags and RSVPs need answers to choose from, not free text.")
    if kind == QuestionKind.SINGLE and len(choices) < 2:
        raise CampaignError("A single-choice question needs at least two answers.")
    if kind == QuestionKind.MULTIPLE and not choices:
        raise CampaignError("A multiple-choice question needs at least one answer.")


def save_question(
    campaign: Campaign,
    question: SurveyQuestion | None,
    *,
    kind: QuestionKind,
    prompt: str,
    choices: list[str],
    is_main: bool = False,
    show_if: tuple[int, str] | None = None,
    answer_tags: dict[str, list[str]] | None = None,
    event_id: int | None = None,
    rsvp_map: dict[str, str] | None = None,
) -> tuple[SurveyQuestion, str | None]:
    """Add a question (``question`` None) or change one, after checking it fits the survey.

    Returns the question and a notice for staff (the main-question flag moved), if any.
    """
    kind = QuestionKind(kind)
    prompt = (prompt or "").strip()
    answer_tags = answer_tags or {}
    rsvp_map = dict(rsvp_map or {})
    if not prompt:
        raise CampaignError("A question needs its wording.")
    if len(prompt) > 500:
        raise CampaignError("A question is at most 500 characters.")
    check_choices(kind, choices, bool(answer_tags or event_id or rsvp_map))
    if kind == QuestionKind.TEXT and is_main:
        raise CampaignError("The main question needs answers to choose from.")

    questions = ordered_questions(campaign)
    others = [q for q in questions if question is None or q.id != question.id]
    earlier = others if question is None else questions[: questions.index(question)]
    if show_if is not None:
        target_id, value = show_if
        target = next((q for q in others if q.id == target_id), None)
        if target is None:
            raise CampaignError("“Show only if” must name another question of this campaign.")
        if target not in earlier:
            raise CampaignError(
                f"“Show only if” must name an earlier question; “{target.prompt}” comes later."
            )
        if target.kind == QuestionKind.TEXT or value not in target.choices:
            raise CampaignError(f"“{value}” is not one of the answers to “{target.prompt}”.")
    if question is not None:
        for dependent in (q for q in others if q.show_if_question_id == question.id):
            if kind == QuestionKind.TEXT or dependent.show_if_value not in choices:
                raise CampaignError(
                    f"“{dependent.prompt}” is shown only after the answer "
                    f"“{dependent.show_if_value}”: keep that answer, or change that question first."
                )
    if event_id:
        if db.session.get(Event, event_id) is None:
            raise CampaignError("That event no longer exists.")
        if kind != QuestionKind.SINGLE:
            raise CampaignError("An RSVP question must be single-choice (one answer, one RSVP).")
        rsvp_map = rsvp_map or guess_rsvp_map(choices)
        if not rsvp_map:
            raise CampaignError(
                "Say which answers are an RSVP, e.g. “Yes => yes” (one line per answer)."
            )
    elif rsvp_map:
        raise CampaignError("Pick the event these RSVPs are for, or clear the RSVP lines.")

    notice = None
    if is_main:
        for other in others:
            if other.is_main:
                other.is_main = False
                notice = f"“{other.prompt}” is no longer the main question."
    if question is None:
        question = SurveyQuestion(
            position=max((q.position for q in questions), default=0) + 1, kind=kind, prompt=prompt
        )
        campaign.questions.append(question)
    question.kind = kind
    question.prompt = prompt
    question.choices = list(choices)
    question.is_main = bool(is_main)
    question.show_if_question_id, question.show_if_value = show_if or (None, None)
    question.answer_tags = {c: list(t) for c, t in answer_tags.items()}
    question.event_id = event_id or None
    question.rsvp_map = rsvp_map if event_id else {}
    db.session.flush()
    return question, notice


def move_question(question: SurveyQuestion, step: int) -> bool:
    """Move a question up (-1) or down (+1); a question stays after the one that shows it."""
    campaign = question.campaign
    questions = ordered_questions(campaign)
    index = questions.index(question)
    other = index + step
    if step not in (-1, 1) or not 0 <= other < len(questions):
        return False
    questions[index], questions[other] = questions[other], questions[index]
    for position, q in enumerate(questions):
        if q.show_if_question_id is not None:
            shown_by = next((p for p in questions if p.id == q.show_if_question_id), None)
            if shown_by is not None and questions.index(shown_by) > position:
                raise CampaignError(
                    f"“{q.prompt}” is shown only after an answer to “{shown_by.prompt}”, "
                    "so it must stay below it."
                )
    for position, q in enumerate(questions, start=1):
        q.position = position
    db.session.flush()
    return True


def delete_question(question: SurveyQuestion) -> None:
    campaign = question.campaign
    dependents = [q for q in campaign.questions if q.show_if_question_id == question.id]
    if dependents:
        raise CampaignError(
            f"“{dependents[0].prompt}” is shown only after an answer to this question: "
            "change or delete it first."
        )
    campaign.questions.remove(question)
    for position, q in enumerate(ordered_questions(campaign), start=1):
        q.position = position
    db.session.flush()


# --- outcomes --------------------------------------------------------------------------------

PHONE_REASONS = {"wrong_number": "Wrong number", "disconnected": "Disconnected", "fax": "Fax"}
OUTCOME_PERSON_FLAGS = {"do_not_call": "Do not call", "deceased": "Deceased", "moved": "Moved away"}
# When the dialer records an outcome by itself (Outcome.auto_for), in words for staff.
AUTO_SITUATIONS = {
    "no-answer": "nobody answered",
    "busy": "the line was busy",
    "failed": "the call could not be placed",
    "machine": "a machine answered, no message left",
    "voicemail": "a machine answered and the message was left",
    "fax": "a fax machine answered",
}
MAX_RETRY_DELAY_MINUTES = 30 * 24 * 60


def apply_outcome_settings(
    outcome: Outcome,
    *,
    label: str,
    bucket: OutcomeBucket,
    retry_delay_minutes: int | None,
    ends_attempts: bool,
    is_callback: bool,
    effect: str,
    shortcut: str | None,
    active: bool,
) -> None:
    """Set one outcome from the staff form; ``effect`` is ``phone:<reason>``,
    ``person:<flag>`` or empty. Outcomes the dialer records itself keep their bucket."""
    label = (label or "").strip()
    if not label:
        raise CampaignError("Every outcome needs a label.")
    if len(label) > 80:
        raise CampaignError(f"Outcome labels are at most 80 characters ({label[:40]}…).")
    bucket = OutcomeBucket(bucket) if outcome.auto_for is None else outcome.bucket
    kind, _, value = (effect or "").partition(":")
    phone_reason = value if kind == "phone" and value in PHONE_REASONS else None
    person_flag = value if kind == "person" and value in OUTCOME_PERSON_FLAGS else None
    if bucket == OutcomeBucket.BAD_NUMBER and phone_reason is None:
        raise CampaignError(
            f"{label}: say why the number is bad (wrong number, disconnected or fax)."
        )
    if bucket == OutcomeBucket.NEVER and person_flag is None:
        raise CampaignError(
            f"{label}: say which flag it sets (do not call, deceased or moved away)."
        )
    if effect and bucket not in (OutcomeBucket.BAD_NUMBER, OutcomeBucket.NEVER):
        raise CampaignError(
            f"{label}: only “number bad” outcomes mark a phone and only “never” outcomes "
            "flag a person; set the marker to “—”."
        )
    if retry_delay_minutes is not None and not 1 <= retry_delay_minutes <= MAX_RETRY_DELAY_MINUTES:
        raise CampaignError(f"{label}: the retry delay must be between 1 minute and 30 days.")
    if bucket == OutcomeBucket.RETRY and retry_delay_minutes is None and not ends_attempts:
        raise CampaignError(f"{label}: a retry outcome needs a delay in minutes.")
    if is_callback and bucket != OutcomeBucket.CONTACT:
        raise CampaignError(f"{label}: only contact outcomes can schedule a call-back.")
    if is_callback and ends_attempts:
        raise CampaignError(f"{label}: a call-back cannot also end the attempts.")
    shortcut = (shortcut or "").strip() or None
    if shortcut is not None and len(shortcut) != 1:
        raise CampaignError(f"{label}: a keyboard shortcut is one character.")
    outcome.label = label
    outcome.bucket = bucket
    keeps_delay = bucket in (OutcomeBucket.RETRY, OutcomeBucket.CONTACT)
    outcome.retry_delay_minutes = retry_delay_minutes if keeps_delay else None
    outcome.ends_attempts = bool(ends_attempts)
    outcome.is_callback = bool(is_callback)
    outcome.phone_reason = phone_reason
    outcome.person_flag = person_flag
    outcome.shortcut = shortcut
    outcome.active = bool(active)


def outcome_effect(outcome: Outcome) -> str:
    """The ``effect`` value apply_outcome_settings takes, for this outcome as stored."""
    if outcome.phone_reason:
        return f"phone:{outcome.phone_reason}"
    if outcome.person_flag:
        return f"person:{outcome.person_flag}"
    return ""


def validate_outcomes(campaign: Campaign) -> None:
    """Rules across the list: unique keys and labels, and the dialer's own outcomes covered."""
    active = [o for o in campaign.outcomes if o.active]
    if not active:
        raise CampaignError("At least one outcome must stay active.")
    keys: dict[str, Outcome] = {}
    labels: dict[str, Outcome] = {}
    for outcome in sorted(active, key=lambda o: (o.position, o.id or 0)):
        if outcome.shortcut:
            clash = keys.get(outcome.shortcut.lower())
            if clash is not None:
                raise CampaignError(
                    f"“{clash.label}” and “{outcome.label}” both use the key "
                    f"“{outcome.shortcut}”: each shortcut must be unique."
                )
            keys[outcome.shortcut.lower()] = outcome
        clash = labels.get(outcome.label.lower())
        if clash is not None:
            raise CampaignError(f"Two active outcomes are called “{outcome.label}”.")
        labels[outcome.label.lower()] = outcome
    situations = {o.auto_for for o in campaign.outcomes if o.auto_for}
    for situation in sorted(situations):
        if not any(o.auto_for == situation for o in active):
            last = next(o for o in campaign.outcomes if o.auto_for == situation)
            raise CampaignError(
                f"“{last.label}” is what phonebank records when "
                f"{AUTO_SITUATIONS.get(situation, situation)}: keep it active."
            )


def _outcome_code(campaign: Campaign, label: str) -> str:
    base = re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")[:30] or "outcome"
    taken = {o.code for o in campaign.outcomes}
    code, n = base, 2
    while code in taken:
        code, n = f"{base}_{n}", n + 1
    return code


def add_outcome(campaign: Campaign, **settings) -> Outcome:
    """A custom outcome at the end of the list (settings as apply_outcome_settings takes)."""
    outcome = Outcome(
        code="",
        position=max((o.position for o in campaign.outcomes), default=-1) + 1,
        label="",
        bucket=OutcomeBucket(settings["bucket"]),
    )
    apply_outcome_settings(outcome, **settings)
    outcome.code = _outcome_code(campaign, outcome.label)
    campaign.outcomes.append(outcome)
    validate_outcomes(campaign)
    db.session.flush()
    return outcome


def _outcome_used(outcome: Outcome) -> bool:
    from phonebank.models import Call

    return (
        db.session.scalar(select(Call.id).where(Call.outcome_id == outcome.id).limit(1)) is not None
    )


def delete_outcome(outcome: Outcome) -> None:
    """Remove an outcome nobody has recorded yet; a used one can only be deactivated."""
    campaign = outcome.campaign
    if outcome.auto_for and not any(
        o.active and o.auto_for == outcome.auto_for and o.id != outcome.id
        for o in campaign.outcomes
    ):
        raise CampaignError(
            f"“{outcome.label}” is what phonebank records when "
            f"{AUTO_SITUATIONS.get(outcome.auto_for, outcome.auto_for)}: it cannot be deleted."
        )
    if _outcome_used(outcome):
        raise CampaignError(
            f"“{outcome.label}” has been recorded on calls already: deactivate it instead."
        )
    campaign.outcomes.remove(outcome)
    db.session.flush()


def reset_outcomes(campaign: Campaign) -> None:
    """Back to DEFAULT_OUTCOMES: defaults restored, custom outcomes deleted (or deactivated
    without a shortcut when calls recorded them)."""
    by_code = {o.code: o for o in campaign.outcomes}
    defaults = {spec.code for spec in DEFAULT_OUTCOMES}
    for outcome in list(campaign.outcomes):
        if outcome.code in defaults:
            continue
        if _outcome_used(outcome):
            outcome.active = False
            outcome.shortcut = None
            outcome.position = len(DEFAULT_OUTCOMES) + outcome.position
        else:
            campaign.outcomes.remove(outcome)
    for position, spec in enumerate(DEFAULT_OUTCOMES):
        outcome = by_code.get(spec.code)
        if outcome is None:
            campaign.outcomes.append(Outcome(position=position, **spec.__dict__))
            continue
        for key, value in spec.__dict__.items():
            setattr(outcome, key, value)
        outcome.position = position
        outcome.active = True
    db.session.flush()
