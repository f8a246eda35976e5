"""calling sessions accept a browser audio leg only while one is expected, and hold it as
pending until it joins the conference

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 19:20:00
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('calling_sessions', sa.Column('audio_expected_until', sa.DateTime(timezone=True), nullable=True))
    op.add_column('calling_sessions', sa.Column('audio_pending_sid', sa.String(length=40), nullable=True))


def downgrade():
    op.drop_column('calling_sessions', 'audio_pending_sid')
    op.drop_column('calling_sessions', 'audio_expected_until')
