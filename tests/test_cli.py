"""flask create-user and flask seed-demo."""

from sqlalchemy import func, select

from phonebank.models import Campaign, CampaignTarget, Person, Role, SurveyQuestion, User


def test_create_user(app, db):
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=["create-user", "--email", "Boss@Example.org", "--name", "Boss", "--role", "staff"],
        input="a-long-password\na-long-password\n",
    )
    assert result.exit_code == 0, result.output
    user = db.session.scalar(select(User).where(User.email == "boss@example.org"))
    assert user.role == Role.STAFF
    again = runner.invoke(
        args=["create-user", "--email", "boss@example.org", "--name", "B", "--password", "x" * 12]
    )
    assert again.exit_code != 0
    assert "already an account" in again.output


def test_create_user_refuses_a_short_password(app):
    result = app.test_cli_runner().invoke(
        args=["create-user", "--email", "a@example.org", "--name", "A", "--password", "short"]
    )
    assert result.exit_code != 0
    assert "at least 10 characters" in result.output


def test_seed_demo_is_complete_and_idempotent(app, db):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["seed-demo", "--password", "demo-password"])
    assert first.exit_code == 0, first.output
    assert "staff@phonebank.test" in first.output and "demo-password" in first.output
    second = runner.invoke(args=["seed-demo", "--password", "demo-password"])
    assert second.exit_code == 0, second.output
    assert "(0 new voters" in second.output
    campaign = db.session.scalar(select(Campaign))
    assert "{first_name}" in campaign.script
    assert db.session.scalar(select(func.count()).select_from(SurveyQuestion)) == 4
    assert db.session.scalar(select(func.count()).select_from(Person)) == 300
    assert db.session.scalar(select(func.count()).select_from(CampaignTarget)) == 300
    roles = set(db.session.scalars(select(User.role)))
    assert roles == set(Role)


def test_seed_demo_refuses_production(app):
    app.config["ENV_NAME"] = "production"
    result = app.test_cli_runner().invoke(args=["seed-demo"])
    assert result.exit_code != 0
    assert "Refusing" in result.output
