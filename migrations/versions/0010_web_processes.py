"""web processes beat a heartbeat; socket connections belong to the process holding them

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 19:40:00
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'web_processes',
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('beat_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_web_processes')),
    )
    op.create_index(op.f('ix_web_processes_beat_at'), 'web_processes', ['beat_at'], unique=False)
    with op.batch_alter_table('socket_connections') as batch:
        batch.add_column(sa.Column('process', sa.String(length=64), nullable=True))
        batch.create_index(batch.f('ix_socket_connections_process'), ['process'], unique=False)


def downgrade():
    with op.batch_alter_table('socket_connections') as batch:
        batch.drop_index(batch.f('ix_socket_connections_process'))
        batch.drop_column('process')
    op.drop_index(op.f('ix_web_processes_beat_at'), table_name='web_processes')
    op.drop_table('web_processes')
