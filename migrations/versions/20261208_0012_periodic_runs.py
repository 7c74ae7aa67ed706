"""ops: periodic tasks' last runs (periodic_run); outbox: when a mail was last tried

Revision ID: 20261208_periodic_01
Revises: 20261208_privacy_02
Create Date: 2026-12-08
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '20261208_periodic_01'
down_revision = '20261208_privacy_02'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'periodic_run',
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('runs', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('succeeded_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('error', sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint('name', name=op.f('pk_periodic_run')),
    )
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        # A mail tried before this column existed counts as tried now: its retry waits a full period.
        batch_op.add_column(sa.Column('last_attempt_at', sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE outbox_message SET last_attempt_at = CURRENT_TIMESTAMP WHERE attempts > 0")


def downgrade():
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.drop_column('last_attempt_at')
    op.drop_table('periodic_run')
