"""calls keep a volunteer's outcome that replaced an automatic one (conflict, for staff), and
when a long call was last checked with the provider

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 16:50:00
"""
from alembic import op
import sqlalchemy as sa

from sqlalchemy.dialects import postgresql


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('calls', sa.Column('checked_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('calls', sa.Column('conflict', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True))


def downgrade():
    op.drop_column('calls', 'checked_at')
    op.drop_column('calls', 'conflict')
