"""self-assessment and placement attempts

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('bank_version',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version', sa.String(length=64), nullable=False),
    sa.Column('bank', sa.JSON(), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('is_live', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bank_version')),
    sa.UniqueConstraint('version', name=op.f('uq_bank_version_version'))
    )
    with op.batch_alter_table('bank_version', schema=None) as batch_op:
        batch_op.create_index('uq_bank_version_one_live', ['is_live'], unique=True, sqlite_where=sa.text('is_live'), postgresql_where=sa.text('is_live'))

    op.create_table('placement_attempt',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('learner_id', sa.Integer(), nullable=False),
    sa.Column('bank_version_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.Enum('open', 'finished', 'expired', name='attempt_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('state', sa.JSON(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('prior_level', sa.String(length=8), nullable=True),
    sa.Column('item_shown_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_activity_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('level', sa.String(length=8), nullable=True),
    sa.Column('theta', sa.Float(), nullable=True),
    sa.Column('sem', sa.Float(), nullable=True),
    sa.Column('result', sa.JSON(), nullable=True),
    sa.CheckConstraint('seq >= 0', name=op.f('ck_placement_attempt_seq_not_negative')),
    sa.ForeignKeyConstraint(['bank_version_id'], ['bank_version.id'], name=op.f('fk_placement_attempt_bank_version_id_bank_version')),
    sa.ForeignKeyConstraint(['learner_id'], ['user.id'], name=op.f('fk_placement_attempt_learner_id_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_placement_attempt'))
    )
    with op.batch_alter_table('placement_attempt', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_placement_attempt_learner_id'), ['learner_id'], unique=False)
        batch_op.create_index('uq_placement_attempt_one_open', ['learner_id'], unique=True, sqlite_where=sa.text("status = 'open'"), postgresql_where=sa.text("status = 'open'"))

    op.create_table('retake_permission',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('learner_id', sa.Integer(), nullable=False),
    sa.Column('granted_by_id', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['granted_by_id'], ['user.id'], name=op.f('fk_retake_permission_granted_by_id_user')),
    sa.ForeignKeyConstraint(['learner_id'], ['user.id'], name=op.f('fk_retake_permission_learner_id_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_retake_permission'))
    )
    with op.batch_alter_table('retake_permission', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_retake_permission_learner_id'), ['learner_id'], unique=False)

    op.create_table('self_assessment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('learner_id', sa.Integer(), nullable=False),
    sa.Column('ratings', sa.JSON(), nullable=False),
    sa.Column('step', sa.Integer(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['learner_id'], ['user.id'], name=op.f('fk_self_assessment_learner_id_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_self_assessment')),
    sa.UniqueConstraint('learner_id', name=op.f('uq_self_assessment_learner_id'))
    )
    op.create_table('placement_response',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('attempt_id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.String(length=64), nullable=False),
    sa.Column('answer', sa.Text(), nullable=False),
    sa.Column('correct', sa.Boolean(), nullable=False),
    sa.Column('time_ms', sa.Integer(), nullable=True),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['attempt_id'], ['placement_attempt.id'], name=op.f('fk_placement_response_attempt_id_placement_attempt'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_placement_response')),
    sa.UniqueConstraint('attempt_id', 'seq', name=op.f('uq_placement_response_attempt_id_seq'))
    )
    with op.batch_alter_table('placement_response', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_placement_response_item_id'), ['item_id'], unique=False)



def downgrade():
    with op.batch_alter_table('placement_response', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_placement_response_item_id'))

    op.drop_table('placement_response')
    op.drop_table('self_assessment')
    with op.batch_alter_table('retake_permission', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_retake_permission_learner_id'))

    op.drop_table('retake_permission')
    with op.batch_alter_table('placement_attempt', schema=None) as batch_op:
        batch_op.drop_index('uq_placement_attempt_one_open', sqlite_where=sa.text("status = 'open'"), postgresql_where=sa.text("status = 'open'"))
        batch_op.drop_index(batch_op.f('ix_placement_attempt_learner_id'))

    op.drop_table('placement_attempt')
    with op.batch_alter_table('bank_version', schema=None) as batch_op:
        batch_op.drop_index('uq_bank_version_one_live', sqlite_where=sa.text('is_live'), postgresql_where=sa.text('is_live'))

    op.drop_table('bank_version')
