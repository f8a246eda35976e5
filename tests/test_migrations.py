"""The schema comes from the migrations: one head, and the models match them."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import Migrate
from sqlalchemy import inspect

from phonebank.extensions import db as _db


def script_directory(app):
    config = app.extensions["migrate"].migrate.get_config()
    return ScriptDirectory.from_config(config)


def test_there_is_one_head(app):
    assert len(script_directory(app).get_heads()) == 1


def test_models_match_the_migrated_schema(app, db):
    """What autogenerate would write now: nothing (tests build the schema from migrations)."""
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diff = compare_metadata(context, _db.metadata)
    assert diff == []


def test_database_is_at_the_head_revision(app, db):
    head = script_directory(app).get_current_head()
    with db.engine.connect() as connection:
        assert MigrationContext.configure(connection).get_current_revision() == head
        tables = set(inspect(connection).get_table_names())
    assert {"people", "phones", "activities", "users", "invites", "events"} <= tables


def test_flask_migrate_is_bound(app):
    assert isinstance(app.extensions["migrate"].migrate, Migrate)
