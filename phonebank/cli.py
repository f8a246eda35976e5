"""Command-line tasks: ``flask create-user`` and ``flask seed-demo``."""

from __future__ import annotations

import random
import secrets
from datetime import UTC, datetime, timedelta

import click
from flask import Flask, current_app
from sqlalchemy import select

from phonebank.auth import services as accounts
from phonebank.campaigns import services as campaigns
from phonebank.extensions import db
from phonebank.models import (
    Campaign,
    CampaignMember,
    CampaignStatus,
    DialingMode,
    PhoneType,
    QuestionKind,
    Role,
    SurveyQuestion,
    User,
)
from phonebank.supporters import services as supporters

DEMO_CAMPAIGN = "Get out the vote — demo"
DEMO_CALLER_ID = "+12025550100"  # fictional; set a real Twilio number for real calls
DEMO_SCRIPT = """Hi {first_name}, this is {volunteer_name}, a volunteer with the Riverside \
Community Campaign.

We're calling neighbours about the vote on Thursday the 12th. Do you have a moment?

**If yes:** Can we count on your support for the new library levy?

**If they support it:** Thank you! Polls are open 7am to 8pm. Would you like to come to our \
volunteer evening on Saturday?

**If unsure:** That's fine — the levy funds longer opening hours and the children's reading \
programme. Is there anything you'd like to know?

Thank you for your time, {first_name}. Have a good evening!"""

# US numbers 555-0100..0199 are reserved for fictional use in every area code.
DEMO_AREA_CODES = [("212", "NY"), ("312", "IL"), ("303", "CO"), ("213", "CA")]
FIRST_NAMES = (
    "Ada Ben Carla Dev Elena Femi Grace Hiro Imani Jon Kavya Luis Maya Noor Omar Priya "
    "Quinn Rosa Sam Tariq Uma Victor Wen Xavier Yara Zoe"
).split()
LAST_NAMES = (
    "Adams Baker Chen Diaz Evans Fischer Garcia Hughes Ito Johnson Kim Lopez Morgan Nguyen "
    "Okafor Patel Quintero Rossi Singh Turner Usman Valdez Walsh Young Zhang"
).split()
DEMO_USERS = [
    ("staff@phonebank.test", "Sam Staff", Role.STAFF),
    ("lead@phonebank.test", "Lee Lead", Role.LEAD),
    ("volunteer@phonebank.test", "Val Volunteer", Role.VOLUNTEER),
]


def init_app(app: Flask) -> None:
    app.cli.add_command(create_user_command)
    app.cli.add_command(seed_demo_command)
    from phonebank.api.cli import api_cli, webhooks_cli
    from phonebank.lists.cli import lists_cli
    from phonebank.results.cli import exports_cli, results_cli

    app.cli.add_command(api_cli)
    app.cli.add_command(webhooks_cli)
    app.cli.add_command(lists_cli)
    app.cli.add_command(exports_cli)
    app.cli.add_command(results_cli)


@click.command("create-user")
@click.option("--email", prompt=True)
@click.option("--name", prompt=True)
@click.option(
    "--role",
    type=click.Choice([r.value for r in Role]),
    default=Role.STAFF.value,
    show_default=True,
)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
def create_user_command(email: str, name: str, role: str, password: str) -> None:
    """Create an account (the first staff account, typically)."""
    try:
        user = accounts.create_user(email, name, password, Role(role))
    except accounts.AccountError as exc:
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    click.echo(f"Created {user.role.value} account {user.email}.")


@click.command("seed-demo")
@click.option("--voters", default=300, show_default=True, help="Demo voters to create (max 400).")
@click.option("--password", default=None, help="Password for the demo users (random if omitted).")
@click.option("--allow-production", is_flag=True, help="Seed even in a production environment.")
def seed_demo_command(voters: int, password: str | None, allow_production: bool) -> None:
    """Create demo users, a campaign with a script and survey, and demo voters.

    Safe to run again: existing demo users keep their accounts and get the new password.
    """
    if current_app.config["ENV_NAME"] == "production" and not allow_production:
        raise click.ClickException(
            "Refusing to create demo accounts in production (pass --allow-production to insist)."
        )
    if not 1 <= voters <= 100 * len(DEMO_AREA_CODES):
        raise click.ClickException(f"--voters must be between 1 and {100 * len(DEMO_AREA_CODES)}")
    password = password or secrets.token_urlsafe(9)
    users = {}
    for email, name, role in DEMO_USERS:
        user = db.session.scalar(select(User).where(User.email == email))
        if user is None:
            user = accounts.create_user(email, name, password, role)
        else:
            user.password_hash = accounts.hash_password(password)
            user.is_active_account = True
        users[role] = user
    campaign = seed_campaign(users)
    created = seed_voters(campaign, voters)
    db.session.commit()
    click.echo(f"Demo campaign: {campaign.name} ({created} new voters, seed is idempotent)")
    click.echo("Demo accounts (all share one password):")
    for email, _, role in DEMO_USERS:
        click.echo(f"  {role.value:<10} {email}")
    click.echo(f"  password   {password}")


def seed_campaign(users: dict[Role, User]) -> Campaign:
    campaign = db.session.scalar(select(Campaign).where(Campaign.name == DEMO_CAMPAIGN))
    if campaign is None:
        campaign = campaigns.create_campaign(
            DEMO_CAMPAIGN,
            created_by=users[Role.STAFF],
            description="Library levy reminder calls for the Riverside demo district.",
            status=CampaignStatus.ACTIVE,
            script=DEMO_SCRIPT,
            dialing_mode=DialingMode.PREVIEW,
            caller_id=DEMO_CALLER_ID,
            voicemail_text=(
                "Hi, this is a volunteer with the Riverside Community Campaign, calling about "
                "the library levy vote on Thursday the twelfth. Polls are open 7 to 8. Thank you!"
            ),
        )
        support = SurveyQuestion(
            campaign=campaign,
            position=1,
            kind=QuestionKind.SINGLE,
            prompt="Will you vote yes on the library levy?",
            choices=["Strong yes", "Lean yes", "Undecided", "Lean no", "Strong no"],
            is_main=True,
            answer_tags={"Strong yes": ["levy-supporter"], "Lean yes": ["levy-supporter"]},
        )
        db.session.add(support)
        db.session.flush()
        event = supporters.create_event(
            "Saturday volunteer evening",
            datetime.now(UTC).replace(hour=22, minute=0, second=0, microsecond=0)
            + timedelta(days=7),
            place="Riverside Library, community room",
        )
        db.session.add_all(
            [
                SurveyQuestion(
                    campaign=campaign,
                    position=2,
                    kind=QuestionKind.SINGLE,
                    prompt="Would you come to the Saturday volunteer evening?",
                    choices=["Yes", "Maybe", "No"],
                    show_if_question_id=support.id,
                    show_if_value="Strong yes",
                    answer_tags={"Yes": ["volunteer-yes"]},
                    event_id=event.id,
                    rsvp_map={"Yes": "yes", "Maybe": "maybe", "No": "no"},
                ),
                SurveyQuestion(
                    campaign=campaign,
                    position=3,
                    kind=QuestionKind.MULTIPLE,
                    prompt="Which issues matter most to them?",
                    choices=["Opening hours", "Children's programmes", "Cost", "Digital access"],
                ),
                SurveyQuestion(
                    campaign=campaign, position=4, kind=QuestionKind.TEXT, prompt="Notes for staff"
                ),
            ]
        )
    for role in (Role.LEAD, Role.VOLUNTEER):
        member = db.session.scalar(
            select(CampaignMember).where(
                CampaignMember.campaign_id == campaign.id,
                CampaignMember.user_id == users[role].id,
            )
        )
        if member is None:
            db.session.add(CampaignMember(campaign_id=campaign.id, user_id=users[role].id))
    db.session.flush()
    return campaign


def seed_voters(campaign: Campaign, count: int) -> int:
    """Demo voters with numbers from the fictional 555-01XX ranges, on the campaign's list."""
    rng = random.Random(20261127)
    created = 0
    person_ids = []
    for i in range(count):
        area, state = DEMO_AREA_CODES[i // 100]
        number = f"+1{area}55501{i % 100:02d}"
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        external_id = ("demo", f"V{i + 1:05d}")
        person = supporters.find_person_by_external_id(*external_id)
        if person is None:
            person = supporters.create_person(first, last)
            supporters.add_external_id(person, *external_id)
            supporters.add_phone(
                person, number, rng.choice([PhoneType.MOBILE, PhoneType.HOME]), source="demo"
            )
            supporters.add_address(
                person,
                line1=f"{rng.randint(1, 999)} Main Street",
                city="Riverside",
                region=state,
                country="US",
                source="demo",
            )
            created += 1
        person_ids.append(person.id)
    campaigns.add_people(campaign, person_ids)
    return created
