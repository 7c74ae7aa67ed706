"""level decisions: a counsellor or admin sets a learner's level, with a reason

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('level_decision',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('learner_id', sa.Integer(), nullable=False),
    sa.Column('level', sa.String(length=8), nullable=False),
    sa.Column('previous_level', sa.String(length=8), nullable=True),
    sa.Column('decided_by_id', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['decided_by_id'], ['user.id'], name=op.f('fk_level_decision_decided_by_id_user')),
    sa.ForeignKeyConstraint(['learner_id'], ['user.id'], name=op.f('fk_level_decision_learner_id_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_level_decision'))
    )
    with op.batch_alter_table('level_decision', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_level_decision_learner_id'), ['learner_id'], unique=False)


def downgrade():
    with op.batch_alter_table('level_decision', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_level_decision_learner_id'))

    op.drop_table('level_decision')
