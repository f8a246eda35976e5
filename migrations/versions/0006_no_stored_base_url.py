"""calling sessions no longer store a base URL: webhook URLs come from PHONEBANK_PUBLIC_URL

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 15:20:00
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    # A plain DROP COLUMN (SQLite 3.35+ has it): rebuilding the table in batch mode would
    # lose its partial unique index on SQLite.
    op.drop_column('calling_sessions', 'base_url')


def downgrade():
    op.add_column(
        'calling_sessions',
        sa.Column('base_url', sa.String(length=200), nullable=False, server_default=''),
    )
