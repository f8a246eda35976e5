"""Staff build campaigns through the campaign pages: settings, survey, outcomes, members, list."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from phonebank.campaigns import services
from phonebank.campaigns.services import DEFAULT_OUTCOMES, CampaignError
from phonebank.models import (
    Campaign,
    CampaignMember,
    CampaignStatus,
    CampaignTarget,
    DialingMode,
    Outcome,
    OutcomeBucket,
    PhoneType,
    QuestionKind,
    Role,
    SurveyQuestion,
)
from phonebank.supporters import services as supporters
from tests import factories
from tests.conftest import sign_in

BLANK_WEEK = {f"weekdays-{day}-mode": "main" for day in range(7)}


def settings(**changes) -> dict:
    """A complete, valid settings form submission."""
    data = {
        "name": "Library levy",
        "description": "",
        "status": "draft",
        "dialing_mode": "preview",
        "caller_id": "",
        "window_start": "08:00",
        "window_end": "21:00",
        "max_attempts": "3",
        "phone_order": "mobile,home,work,unknown",
        "voicemail_text": "",
        "voicemail_url": "",
        "script": "Hi {first_name}, this is {volunteer_name}.",
        **BLANK_WEEK,
    }
    data.update(changes)
    return data


@pytest.fixture
def staff(client, users):
    sign_in(client, users[Role.STAFF].email)
    return users[Role.STAFF]


@pytest.fixture
def campaign(db, users):
    made = services.create_campaign("Levy calls", users[Role.STAFF])
    db.session.commit()
    return made


def text_of(response) -> str:
    """The page's text with tags stripped and whitespace collapsed, for message checks."""
    body = re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))
    return re.sub(r"\s+", " ", html.unescape(body))


def flashes(response) -> list[str]:
    page = response.get_data(as_text=True)
    return [
        re.sub(r"\s+", " ", html.unescape(m)).strip()
        for m in re.findall(r'<div class="flash flash-\w+" role="\w+">(.*?)</div>', page, re.S)
    ]


# --- access ----------------------------------------------------------------------------------


def every_campaign_url(app, campaign) -> list[tuple[str, str]]:
    """(method, url) for every rule of the campaigns blueprint, with real ids filled in."""
    question = SurveyQuestion(kind=QuestionKind.TEXT, prompt="Notes", position=1)
    campaign.questions.append(question)
    from phonebank.extensions import db

    db.session.commit()
    ids = {
        "campaign_id": campaign.id,
        "question_id": question.id,
        "outcome_id": campaign.outcomes[0].id,
        "user_id": 1,
    }
    urls = []
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("campaigns."):
            continue
        url = rule.build({name: ids[name] for name in rule.arguments})[1]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            urls.append((method, url))
    return urls


@pytest.mark.parametrize("role", [Role.VOLUNTEER, Role.LEAD], ids=lambda r: r.value)
def test_every_campaign_url_is_forbidden_below_staff(app, client, users, campaign, role):
    urls = every_campaign_url(app, campaign)
    assert len(urls) >= 18  # the list, the forms, and each editor's actions
    sign_in(client, users[role].email)
    for method, url in urls:
        response = client.open(url, method=method, data={"name": "x", "tag_id": "1"})
        assert response.status_code == 403, (method, url)
    assert client.get("/campaigns").status_code == 403


def test_campaign_pages_need_sign_in(app, client, users, campaign):
    for method, url in every_campaign_url(app, campaign):
        response = client.open(url, method=method)
        assert response.status_code == 302, (method, url)
        assert "/login" in response.headers["Location"]


def test_staff_nav_and_home_link_to_campaigns(app, client, staff, users):
    page = client.get("/").get_data(as_text=True)
    assert 'href="/campaigns"' in page
    assert 'href="/campaigns/new"' in page
    volunteer = app.test_client()
    sign_in(volunteer, users[Role.VOLUNTEER].email)
    assert 'href="/campaigns"' not in volunteer.get("/").get_data(as_text=True)


# --- the list and the settings form ----------------------------------------------------------


def test_list_shows_status_mode_progress_and_members(client, db, staff, users, campaign):
    campaign.status = CampaignStatus.ACTIVE
    campaign.dialing_mode = DialingMode.POWER
    people = [supporters.create_person(f"P{i}") for i in range(3)]
    for i, person in enumerate(people):
        supporters.add_phone(person, f"+1212555{i:04d}")
    person_ids = [p.id for p in people]
    services.add_people(campaign, person_ids)
    db.session.execute(
        CampaignTarget.__table__.update()
        .where(CampaignTarget.person_id == person_ids[0])
        .values(status="done", done_reason="talked")
    )
    db.session.add(CampaignMember(campaign_id=campaign.id, user_id=users[Role.VOLUNTEER].id))
    db.session.commit()
    response = client.get("/campaigns")
    assert response.status_code == 200
    row = re.search(r"Levy calls.*?</tr>", response.get_data(as_text=True), re.S).group(0)
    cells = [
        re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", c)).strip()
        for c in re.findall(r"<td.*?</td>", row, re.S)
    ]
    assert cells == ["active", "power", "3", "1 (33%)", "2", "1"]
    assert 'href="/campaigns/new"' in response.get_data(as_text=True)


def test_staff_creates_a_campaign_then_edits_every_setting(client, db, staff):
    response = client.get("/campaigns/new")
    assert response.status_code == 200
    assert b"Create campaign" in response.data

    response = client.post("/campaigns/new", data=settings(name="  Library levy  "))
    assert response.status_code == 302
    campaign = db.session.scalar(select(Campaign).where(Campaign.name == "Library levy"))
    assert response.headers["Location"] == f"/campaigns/{campaign.id}"
    assert campaign.created_by_id == staff.id
    assert campaign.status == CampaignStatus.DRAFT
    assert [o.code for o in campaign.outcomes] == [spec.code for spec in DEFAULT_OUTCOMES]
    assert "Library levy" in text_of(client.get(f"/campaigns/{campaign.id}"))

    response = client.post(
        f"/campaigns/{campaign.id}/edit",
        data=settings(
            name="Library levy, final week",
            description="Reminder calls before polling day.",
            status="active",
            dialing_mode="power",
            caller_id="(202) 555-0143",
            window_start="09:30",
            window_end="20:00",
            **{
                "weekdays-5-mode": "custom",
                "weekdays-5-start": "10:00",
                "weekdays-5-end": "18:00",
                "weekdays-6-mode": "none",
                # Times on a "main window" day are ignored.
                "weekdays-0-start": "11:00",
                "weekdays-0-end": "12:00",
            },
            max_attempts="5",
            phone_order="home,mobile,work,unknown",
            voicemail_text="Sorry we missed you: polls open at 7.",
            voicemail_url="https://example.org/levy.mp3",
            script="Hi {first_name}!\r\n\r\nI'm **{volunteer_name}** from {campaign_name}.",
        ),
        follow_redirects=True,
    )
    assert response.status_code == 200
    assert "Caller ID stored as +12025550143." in flashes(response)[0]
    db.session.expire_all()
    campaign = db.session.get(Campaign, campaign.id)
    assert campaign.name == "Library levy, final week"
    assert campaign.description == "Reminder calls before polling day."
    assert campaign.status == CampaignStatus.ACTIVE
    assert campaign.dialing_mode == DialingMode.POWER
    assert campaign.caller_id == "+12025550143"
    assert (campaign.window_start, campaign.window_end) == (9 * 60 + 30, 20 * 60)
    assert campaign.weekday_windows == {"5": [600, 1080], "6": None}
    assert campaign.max_attempts == 5
    assert campaign.phone_order == "home,mobile,work,unknown"
    assert campaign.voicemail_text == "Sorry we missed you: polls open at 7."
    assert campaign.voicemail_url == "https://example.org/levy.mp3"
    assert campaign.script == "Hi {first_name}!\n\nI'm **{volunteer_name}** from {campaign_name}."

    page = text_of(response)
    assert "09:30–20:00" in page
    assert "Saturday: 10:00–18:00" in page and "Sunday: no calls" in page
    assert "Home → Mobile → Work → Unknown" in page
    html = response.get_data(as_text=True)
    assert (
        "<p>Hi Alex!</p><p>I&#x27;m <strong>Staff</strong> from Library levy, final week.</p>"
        in html
    )

    # The form shows what is stored, ready for the next edit.
    form = client.get(f"/campaigns/{campaign.id}/edit").get_data(as_text=True)
    assert 'value="+12025550143"' in form
    assert 'value="09:30"' in form and 'value="20:00"' in form
    assert re.search(r'name="weekdays-6-mode".*?<option selected value="none">', form, re.S)
    assert 'id="weekdays-5-start" name="weekdays-5-start" type="time" value="10:00"' in form

    # Back to the main window every day, and a caller ID cleared.
    client.post(f"/campaigns/{campaign.id}/edit", data=settings(name="Levy"))
    db.session.expire_all()
    campaign = db.session.get(Campaign, campaign.id)
    assert (campaign.weekday_windows, campaign.caller_id) == ({}, "")


def test_midnight_ends_the_window_at_24_00(client, db, staff, campaign):
    client.post(
        f"/campaigns/{campaign.id}/edit", data=settings(window_start="18:00", window_end="00:00")
    )
    db.session.expire_all()
    assert db.session.get(Campaign, campaign.id).window_end == 24 * 60


SETTINGS_ERRORS = [
    ({"window_start": "21:00", "window_end": "08:00"}, "must end after it starts"),
    ({"window_start": ""}, "This field is required"),
    ({"caller_id": "12345"}, "That number looks wrong: wrong number of digits."),
    ({"caller_id": "call me"}, "That number looks wrong"),
    ({"weekdays-2-mode": "custom", "weekdays-2-start": "10:00"}, "Give both times"),
    (
        {"weekdays-3-mode": "custom", "weekdays-3-start": "12:00", "weekdays-3-end": "11:00"},
        "This day's hours must end after they start.",
    ),
    ({"max_attempts": "0"}, "Number must be between 1 and 20."),
    ({"phone_order": "mobile,mobile,home,work"}, "Choose one of the listed orders."),
    ({"voicemail_url": "ftp://example.org/x.mp3"}, "Give a full https:// address."),
    ({"script": "Hi {frist_name}"}, "Unknown merge field {frist_name}"),
    ({"name": "   "}, "This field is required."),
]


def test_settings_errors_are_shown_on_the_form(client, db, staff, campaign):
    for changes, message in SETTINGS_ERRORS:
        for url in (f"/campaigns/{campaign.id}/edit", "/campaigns/new"):
            response = client.post(url, data=settings(**changes))
            assert response.status_code == 422, (url, changes)
            assert message in text_of(response), (url, changes)
            assert "Some settings need fixing" in text_of(response)
    db.session.expire_all()
    assert db.session.scalars(select(Campaign.name)).all() == ["Levy calls"]  # nothing saved


def test_campaign_errors_from_the_service_are_shown_on_the_form(
    client, db, staff, campaign, monkeypatch
):
    def refuse(campaign):
        raise CampaignError("The calling window must start before it ends, within one day.")

    monkeypatch.setattr(services, "validate_settings", refuse)
    for url in (f"/campaigns/{campaign.id}/edit", "/campaigns/new"):
        response = client.post(url, data=settings(name="Changed"))
        assert response.status_code == 422
        assert "must start before it ends, within one day" in flashes(response)[0]
        assert 'value="Changed"' in response.get_data(as_text=True)  # the input is kept
    db.session.expire_all()
    assert db.session.scalars(select(Campaign.name)).all() == ["Levy calls"]


def test_script_preview_renders_for_a_sample_voter(client, staff):
    response = client.post(
        "/campaigns/script-preview",
        json={"script": "Hi {first_name} in {city}, {oops} <b>", "name": "Levy"},
    )
    assert response.json == {
        "html": "<p>Hi Alex in Springfield, {oops} &lt;b&gt;</p>",
        "unknown": ["oops"],
    }


def test_missing_campaign_is_404(client, staff):
    assert client.get("/campaigns/999").status_code == 404
    assert client.get("/campaigns/999/edit").status_code == 404


# --- survey questions ------------------------------------------------------------------------


def question(**fields) -> dict:
    data = {
        "kind": "single",
        "prompt": "Will you vote yes?",
        "choices": "",
        "show_if": "",
        "answer_tags": "",
        "event_id": "0",
        "rsvp_map": "",
    }
    data.update(fields)
    return {k: v for k, v in data.items() if v is not False}


def questions_of(db, campaign_id: int) -> list[SurveyQuestion]:
    db.session.expire_all()
    return services.ordered_questions(db.session.get(Campaign, campaign_id))


def test_questions_are_added_edited_reordered_and_deleted(client, db, staff, campaign):
    event = supporters.create_event("Saturday canvass", datetime(2030, 5, 4, 9, tzinfo=UTC))
    db.session.commit()
    url = f"/campaigns/{campaign.id}/questions"

    response = client.post(
        url,
        data=question(
            choices="Strong yes\r\nLean yes\r\n\r\nUndecided\r\nNo\r\n",
            is_main="y",
            answer_tags="strong YES => supporter, volunteer-yes\nLean yes => leaning",
        ),
    )
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/campaigns/{campaign.id}#questions")
    (main,) = questions_of(db, campaign.id)
    assert (main.kind, main.is_main, main.position) == (QuestionKind.SINGLE, True, 1)
    assert main.choices == ["Strong yes", "Lean yes", "Undecided", "No"]
    assert main.answer_tags == {
        "Strong yes": ["supporter", "volunteer-yes"],
        "Lean yes": ["leaning"],
    }

    # An RSVP question shown only after "Strong yes"; the RSVP map guessed from the answers.
    client.post(
        url,
        data=question(
            prompt="Will you come on Saturday?",
            choices="Yes\nMaybe\nNo",
            show_if=f"{main.id}|Strong yes",
            event_id=str(event.id),
        ),
    )
    client.post(url, data=question(kind="text", prompt="Notes for staff"))
    main, rsvp, notes = questions_of(db, campaign.id)
    assert (rsvp.show_if_question_id, rsvp.show_if_value) == (main.id, "Strong yes")
    assert (rsvp.event_id, rsvp.rsvp_map) == (
        event.id,
        {"Yes": "yes", "Maybe": "maybe", "No": "no"},
    )
    assert (notes.kind, notes.choices, notes.position) == (QuestionKind.TEXT, [], 3)
    page = text_of(client.get(f"/campaigns/{campaign.id}"))
    assert "if #1 is “Strong yes”" in page
    assert "RSVP to Saturday canvass" in page
    assert "“Strong yes” → tags supporter, volunteer-yes" in page

    # The edit page starts from what is stored.
    form = client.get(f"{url}/{rsvp.id}").get_data(as_text=True)
    assert f'<option selected value="{main.id}|Strong yes">' in form
    assert "Yes =&gt; yes\nMaybe =&gt; maybe\nNo =&gt; no</textarea>" in form
    response = client.post(
        f"{url}/{rsvp.id}",
        data=question(
            prompt="Can you come on Saturday?",
            choices="Yes\nPerhaps\nNo",
            show_if=f"{main.id}|Lean yes",
            event_id=str(event.id),
            rsvp_map="yes => yes\nPerhaps => maybe",
        ),
    )
    assert response.status_code == 302
    rsvp = questions_of(db, campaign.id)[1]
    assert rsvp.prompt == "Can you come on Saturday?"
    assert rsvp.choices == ["Yes", "Perhaps", "No"]
    assert rsvp.show_if_value == "Lean yes"
    assert rsvp.rsvp_map == {"Yes": "yes", "Perhaps": "maybe"}

    # Reorder: notes may move above the RSVP question, which may not move above its trigger.
    response = client.post(f"{url}/{notes.id}/move", data={"direction": "up"})
    assert response.status_code == 302
    assert [q.prompt for q in questions_of(db, campaign.id)] == [
        "Will you vote yes?",
        "Notes for staff",
        "Can you come on Saturday?",
    ]
    client.post(f"{url}/{rsvp.id}/move", data={"direction": "up"})
    client.post(f"{url}/{rsvp.id}/move", data={"direction": "up"})
    response = client.get(f"/campaigns/{campaign.id}")
    assert "so it must stay below it" in " ".join(flashes(response))
    assert [q.prompt for q in questions_of(db, campaign.id)] == [
        "Will you vote yes?",
        "Can you come on Saturday?",
        "Notes for staff",
    ]
    assert [q.position for q in questions_of(db, campaign.id)] == [1, 2, 3]

    # Delete: not the question another one depends on; the others, yes.
    client.post(f"{url}/{main.id}/delete", follow_redirects=False)
    assert "change or delete it first" in " ".join(flashes(client.get(f"/campaigns/{campaign.id}")))
    assert len(questions_of(db, campaign.id)) == 3
    client.post(f"{url}/{rsvp.id}/delete")
    client.post(f"{url}/{main.id}/delete")
    assert [(q.prompt, q.position) for q in questions_of(db, campaign.id)] == [
        ("Notes for staff", 1)
    ]


@pytest.fixture
def two_questions(db, campaign):
    first, _ = services.save_question(
        campaign, None, kind=QuestionKind.SINGLE, prompt="Support?", choices=["Yes", "No"]
    )
    second, _ = services.save_question(
        campaign,
        None,
        kind=QuestionKind.SINGLE,
        prompt="Volunteer?",
        choices=["Yes", "No"],
        show_if=(first.id, "Yes"),
    )
    db.session.commit()
    return first, second


QUESTION_ERRORS = [
    ({"choices": ""}, "A single-choice question needs at least two answers."),
    ({"kind": "multiple", "choices": "\n"}, "needs at least one answer"),
    ({"choices": "Yes\nyes"}, "The answer “yes” is listed twice."),
    ({"kind": "text", "choices": "", "is_main": "y"}, "The main question needs answers"),
    ({"kind": "text", "answer_tags": "Yes => x"}, "Tags and RSVPs need answers to choose from"),
    ({"kind": "text", "event_id": "{event}"}, "Tags and RSVPs need answers to choose from"),
    ({"answer_tags": "Yes => x"}, "A single-choice question needs at least two answers."),
    ({"choices": "Yes\nNo", "show_if": "{first}|Maybe"}, "“Maybe” is not one of the answers"),
    ({"choices": "Yes\nNo", "show_if": "{first}"}, "“” is not one of the answers"),
    ({"choices": "Yes\nNo", "show_if": "nonsense"}, "must name an earlier question"),
    ({"choices": "Yes\nNo", "show_if": "99999|Yes"}, "must name another question"),
    ({"choices": "Yes\nNo", "answer_tags": "Yes: supporter"}, "write each line as"),
    ({"choices": "Yes\nNo", "answer_tags": "Maybe => x"}, "“Maybe” is not one of"),
    (
        {"choices": "Yes\nNo", "event_id": "{event}", "rsvp_map": "Yes => perhaps"},
        "must map to yes, maybe or no",
    ),
    ({"choices": "Yes\nNo", "rsvp_map": "Yes => yes"}, "Pick the event these RSVPs are for"),
    ({"choices": "Come\nStay", "event_id": "{event}"}, "Say which answers are an RSVP"),
    (
        {"kind": "multiple", "choices": "Yes\nNo", "event_id": "{event}"},
        "An RSVP question must be single-choice",
    ),
    ({"choices": "Yes\nNo", "event_id": "424242"}, "Not a valid choice"),
]


def test_question_errors_are_shown(client, db, staff, campaign, two_questions):
    first, _ = two_questions
    event = supporters.create_event("Rally", datetime(2030, 1, 1, tzinfo=UTC))
    db.session.commit()
    for fields, message in QUESTION_ERRORS:
        data = question(**{k: v.format(first=first.id, event=event.id) for k, v in fields.items()})
        response = client.post(f"/campaigns/{campaign.id}/questions", data=data)
        assert response.status_code == 422, fields
        assert message in text_of(response), fields
    assert len(questions_of(db, campaign.id)) == 2


def test_show_if_cannot_reference_a_later_question(client, db, staff, campaign, two_questions):
    first, second = two_questions
    response = client.post(
        f"/campaigns/{campaign.id}/questions/{first.id}",
        data=question(prompt="Support?", choices="Yes\nNo", show_if=f"{second.id}|Yes"),
    )
    assert response.status_code == 422
    assert "must name an earlier question; “Volunteer?” comes later" in text_of(response)
    # The later question is not even offered.
    assert f'value="{second.id}|Yes"' not in response.get_data(as_text=True)
    assert questions_of(db, campaign.id)[0].show_if_question_id is None


def test_a_choice_another_question_depends_on_cannot_be_removed(
    client, db, staff, campaign, two_questions
):
    first, _ = two_questions
    response = client.post(
        f"/campaigns/{campaign.id}/questions/{first.id}",
        data=question(prompt="Support?", choices="Definitely\nNo"),
    )
    assert response.status_code == 422
    assert "“Volunteer?” is shown only after the answer “Yes”" in text_of(response)


def test_only_one_main_question(client, db, staff, campaign, two_questions):
    first, second = two_questions
    url = f"/campaigns/{campaign.id}/questions"
    client.post(
        f"{url}/{first.id}", data=question(prompt="Support?", choices="Yes\nNo", is_main="y")
    )
    response = client.post(
        f"{url}/{second.id}",
        data=question(
            prompt="Volunteer?", choices="Yes\nNo", show_if=f"{first.id}|Yes", is_main="y"
        ),
        follow_redirects=True,
    )
    assert "“Support?” is no longer the main question." in flashes(response)
    assert [q.is_main for q in questions_of(db, campaign.id)] == [False, True]


def test_question_of_another_campaign_is_404(client, db, staff, campaign, two_questions):
    other = services.create_campaign("Other")
    db.session.commit()
    first, _ = two_questions
    assert client.get(f"/campaigns/{other.id}/questions/{first.id}").status_code == 404
    assert client.post(f"/campaigns/{other.id}/questions/{first.id}/delete").status_code == 404


# --- outcomes --------------------------------------------------------------------------------


def outcome_rows(campaign: Campaign, **changes) -> dict:
    """The outcomes table as the page submits it; ``changes`` by outcome code."""
    data = {}
    for i, o in enumerate(campaign.outcomes):
        row = {
            "id": str(o.id),
            "title": o.label,
            "bucket": o.bucket.value,
            "retry_delay_minutes": ""
            if o.retry_delay_minutes is None
            else str(o.retry_delay_minutes),
            "ends_attempts": o.ends_attempts,
            "is_callback": o.is_callback,
            "effect": services.outcome_effect(o),
            "shortcut": o.shortcut or "",
            "active": o.active,
        }
        row.update(changes.get(o.code, {}))
        for key, value in row.items():
            if value is True:
                data[f"outcomes-{i}-{key}"] = "y"
            elif value is not False:
                data[f"outcomes-{i}-{key}"] = value
    return data


def outcomes_of(db, campaign_id: int) -> dict[str, Outcome]:
    db.session.expire_all()
    return {o.code: o for o in db.session.get(Campaign, campaign_id).outcomes}


def test_outcomes_are_edited(client, db, staff, campaign):
    page = client.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    assert 'name="outcomes-0-title"' in page and "when nobody answered" in page
    response = client.post(
        f"/campaigns/{campaign.id}/outcomes",
        data=outcome_rows(
            campaign,
            talked={"title": "Spoke with them", "shortcut": "t"},
            refused={"active": False, "shortcut": ""},
            no_answer={"retry_delay_minutes": "90", "title": "Nobody home"},
            call_back={"retry_delay_minutes": "30"},
            wrong_number={"effect": "phone:disconnected"},
            moved={"effect": "person:deceased", "shortcut": "m"},
            # The dialer's own outcomes keep their bucket whatever is submitted.
            busy={"bucket": "contact"},
        ),
    )
    assert response.status_code == 302
    assert response.headers["Location"].endswith("#outcomes")
    outcomes = outcomes_of(db, campaign.id)
    assert (outcomes["talked"].label, outcomes["talked"].shortcut) == ("Spoke with them", "t")
    assert (outcomes["refused"].active, outcomes["refused"].shortcut) == (False, None)
    assert (outcomes["no_answer"].label, outcomes["no_answer"].retry_delay_minutes) == (
        "Nobody home",
        90,
    )
    assert outcomes["call_back"].retry_delay_minutes == 30
    assert outcomes["wrong_number"].phone_reason == "disconnected"
    assert (outcomes["moved"].person_flag, outcomes["moved"].shortcut) == ("deceased", "m")
    assert outcomes["busy"].bucket == OutcomeBucket.RETRY

    # A bucket change carries its own settings: a "never" outcome becomes a retry one.
    client.post(
        f"/campaigns/{campaign.id}/outcomes",
        data=outcome_rows(
            campaign, moved={"bucket": "retry", "effect": "", "retry_delay_minutes": "1440"}
        ),
    )
    moved = outcomes_of(db, campaign.id)["moved"]
    assert (moved.bucket, moved.person_flag, moved.retry_delay_minutes) == (
        OutcomeBucket.RETRY,
        None,
        1440,
    )


OUTCOME_ERRORS = [
    ({"refused": {"shortcut": "1"}}, "“Talked to them” and “Refused” both use the key “1”"),
    ({"refused": {"shortcut": "12"}}, "Field cannot be longer than 1 character."),
    (
        {"refused": {"title": "Talked to them"}},
        "Two active outcomes are called “Talked to them”",
    ),
    ({"no_answer": {"active": False}}, "“No answer” is what phonebank records when nobody"),
    ({"no_answer": {"retry_delay_minutes": ""}}, "No answer: a retry outcome needs a delay"),
    ({"busy": {"retry_delay_minutes": "0"}}, "between 1 minute and 30 days"),
    ({"wrong_number": {"effect": ""}}, "Wrong number: say why the number is bad"),
    ({"deceased": {"effect": "phone:fax"}}, "Deceased: say which flag it sets"),
    ({"talked": {"effect": "person:moved"}}, "only “number bad” outcomes mark a phone"),
    ({"refused": {"is_callback": True}}, "Refused: a call-back cannot also end the attempts"),
    ({"fax": {"is_callback": True}}, "only contact outcomes can schedule a call-back"),
    ({"talked": {"title": ""}}, "This field is required."),
]


def test_outcome_errors_are_shown_and_nothing_is_saved(client, db, staff, campaign):
    for changes, message in OUTCOME_ERRORS:
        # Each submission also renames "moved": nothing of a refused submission is saved.
        data = outcome_rows(campaign, **changes, moved={"title": "Moved out"})
        response = client.post(f"/campaigns/{campaign.id}/outcomes", data=data)
        assert response.status_code == 422, changes
        assert message in " ".join(flashes(response)), changes
        assert outcomes_of(db, campaign.id)["moved"].label == "Moved away"


def test_inactive_outcomes_may_share_a_shortcut(client, db, staff, campaign):
    response = client.post(
        f"/campaigns/{campaign.id}/outcomes",
        data=outcome_rows(campaign, refused={"active": False}, hostile={"shortcut": "2"}),
    )
    assert response.status_code == 302


def test_custom_outcomes_are_added_and_deleted_and_defaults_restored(client, db, staff, campaign):
    url = f"/campaigns/{campaign.id}/outcomes"
    response = client.post(
        f"{url}/new",
        data={
            "title": "Spanish speaker",
            "bucket": "retry",
            "retry_delay_minutes": "60",
            "shortcut": "s",
        },
    )
    assert response.status_code == 302
    custom = outcomes_of(db, campaign.id)["spanish_speaker"]
    assert (custom.bucket, custom.retry_delay_minutes, custom.shortcut, custom.active) == (
        OutcomeBucket.RETRY,
        60,
        "s",
        True,
    )
    assert custom.position == len(DEFAULT_OUTCOMES)

    response = client.post(
        f"{url}/new", data={"title": "Language barrier", "bucket": "contact", "shortcut": "1"}
    )
    assert response.status_code == 422
    assert "both use the key “1”" in " ".join(flashes(response))
    response = client.post(f"{url}/new", data={"title": "Invalid", "bucket": "bad_number"})
    assert response.status_code == 422
    assert "say why the number is bad" in " ".join(flashes(response))
    assert 'value="Invalid"' in response.get_data(as_text=True)  # the input is kept

    client.post(f"{url}/{custom.id}/delete")
    assert "spanish_speaker" not in outcomes_of(db, campaign.id)

    # The dialer's own outcomes cannot be deleted while they are the only one for a situation.
    busy = outcomes_of(db, campaign.id)["busy"]
    client.post(f"{url}/{busy.id}/delete")
    assert "it cannot be deleted" in " ".join(flashes(client.get(f"/campaigns/{campaign.id}")))
    assert "busy" in outcomes_of(db, campaign.id)

    # Reset to defaults undoes edits and removes custom outcomes.
    client.post(f"{url}/new", data={"title": "Extra", "bucket": "contact"})
    client.post(url, data=outcome_rows(campaign, talked={"title": "Chatted", "shortcut": "x"}))
    talked = outcomes_of(db, campaign.id)["talked"]
    db.session.delete(talked)
    db.session.commit()
    response = client.post(f"{url}/reset", follow_redirects=True)
    assert "The outcomes are back to the defaults." in flashes(response)
    outcomes = outcomes_of(db, campaign.id)
    assert sorted(outcomes) == sorted(spec.code for spec in DEFAULT_OUTCOMES)
    assert (outcomes["talked"].label, outcomes["talked"].shortcut) == ("Talked to them", "1")
    ordered = sorted(outcomes.values(), key=lambda o: o.position)
    assert [o.code for o in ordered] == [spec.code for spec in DEFAULT_OUTCOMES]


# --- members ---------------------------------------------------------------------------------


def test_members_are_added_and_removed(client, db, staff, users, campaign):
    volunteer, lead = users[Role.VOLUNTEER], users[Role.LEAD]
    url = f"/campaigns/{campaign.id}/members"
    page = client.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    assert f'<option value="{volunteer.id}">' in page
    assert f'<option value="{staff.id}">' not in page  # staff work on every campaign

    for user in (volunteer, lead):
        response = client.post(url, data={"user_id": str(user.id)})
        assert response.status_code == 302
        assert response.headers["Location"].endswith("#members")
    db.session.expire_all()
    members = db.session.scalars(
        select(CampaignMember.user_id).where(CampaignMember.campaign_id == campaign.id)
    ).all()
    assert sorted(members) == sorted([volunteer.id, lead.id])
    page = client.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    assert "Every active volunteer and lead is on this campaign already." in page

    response = client.post(url, data={"user_id": str(staff.id)}, follow_redirects=True)
    assert "Choose a volunteer or lead from the list." in flashes(response)

    response = client.post(f"{url}/{volunteer.id}/remove", follow_redirects=True)
    assert f"{volunteer.name} is no longer on this campaign." in flashes(response)
    db.session.expire_all()
    members = db.session.scalars(
        select(CampaignMember.user_id).where(CampaignMember.campaign_id == campaign.id)
    ).all()
    assert members == [lead.id]
    response = client.post(f"{url}/{volunteer.id}/remove", follow_redirects=True)
    assert "That person is not on this campaign." in flashes(response)


# --- the call list ---------------------------------------------------------------------------


def person(first: str, number: str | None, *tags: str, **flags) -> int:
    made = supporters.create_person(first, "Voter", **flags)
    if number:
        supporters.add_phone(made, number, PhoneType.MOBILE)
    for tag in tags:
        supporters.tag_person(made, tag)
    return made.id


def test_people_are_added_by_tag_and_everyone_once(client, db, staff, campaign):
    ada = person("Ada", "+12025550101", "supporter")
    ben = person("Ben", "+12025550102", "supporter", "volunteer")
    person("Cy", "+12025550103", "supporter", do_not_call=True)
    person("Dee", None, "supporter")
    eve = person("Eve", "+12025550105")
    db.session.commit()
    supporter_tag = db.session.scalar(
        select(supporters.Tag.id).where(supporters.Tag.name == "supporter")
    )
    page = client.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    assert f'<option value="{supporter_tag}">supporter (4 people)</option>' in page

    url = f"/campaigns/{campaign.id}/list"
    response = client.post(f"{url}/tag", data={"tag_id": str(supporter_tag)}, follow_redirects=True)
    assert flashes(response) == [
        "Added 2 people tagged “supporter”; 0 already on the list. Left out: 1 flagged do not "
        "call, deceased or moved, 1 without a usable phone."
    ]
    response = client.post(f"{url}/tag", data={"tag_id": str(supporter_tag)}, follow_redirects=True)
    assert flashes(response)[0].startswith(
        "Added 0 people tagged “supporter”; 2 already on the list."
    )

    response = client.post(f"{url}/everyone", follow_redirects=True)
    assert flashes(response)[0].startswith(
        "Added 1 person from the supporter store; 2 already on the list."
    )
    db.session.expire_all()
    listed = db.session.scalars(
        select(CampaignTarget.person_id).where(CampaignTarget.campaign_id == campaign.id)
    ).all()
    assert sorted(listed) == sorted([ada, ben, eve])
    assert "3 on the list" in text_of(response)

    response = client.post(f"{url}/tag", data={"tag_id": "999"}, follow_redirects=True)
    assert "Choose a tag from the list." in flashes(response)


def test_call_list_counts_by_status_and_done_reason(client, db, staff, campaign):
    ids = [person(name, f"+1202555011{i}") for i, name in enumerate(["A", "B", "C", "D"])]
    services.add_people(campaign, ids)
    table = CampaignTarget.__table__
    db.session.execute(
        table.update()
        .where(table.c.person_id.in_(ids[:2]))
        .values(status="done", done_reason="refused")
    )
    db.session.execute(
        table.update()
        .where(table.c.person_id == ids[2])
        .values(status="done", done_reason="max_attempts")
    )
    db.session.commit()
    page = text_of(client.get(f"/campaigns/{campaign.id}"))
    assert "4 on the list 1 queued 0 with volunteers now 3 done" in page
    assert "Refused 2" in page
    assert "Reached the attempt limit 1" in page


# --- CSRF ------------------------------------------------------------------------------------


def test_changes_need_the_csrf_token(csrf_client, db):
    made = factories.one_user_per_role()
    campaign = services.create_campaign("Levy calls")
    db.session.commit()
    page = csrf_client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    csrf_client.post(
        "/login",
        data={"csrf_token": token, "email": made[Role.STAFF].email, "password": factories.PASSWORD},
    )
    outcome = campaign.outcomes[-1]
    for url in (
        f"/campaigns/{campaign.id}/outcomes/reset",
        f"/campaigns/{campaign.id}/outcomes/{outcome.id}/delete",
        f"/campaigns/{campaign.id}/list/everyone",
        "/campaigns/script-preview",
    ):
        assert csrf_client.post(url).status_code == 400, url
    page = csrf_client.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    response = csrf_client.post(
        f"/campaigns/{campaign.id}/outcomes/{outcome.id}/delete", data={"csrf_token": token}
    )
    assert response.status_code == 302
