"""waitlists, offers, allocation policy and log

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('allocation_policy',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('offer_hours', sa.Integer(), nullable=False),
    sa.Column('max_waitlists', sa.Integer(), nullable=False),
    sa.Column('tier_rules', sa.JSON(), nullable=False),
    sa.Column('default_tier', sa.Integer(), nullable=False),
    sa.Column('lottery_seed', sa.String(length=64), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('max_waitlists > 0', name=op.f('ck_allocation_policy_max_waitlists_positive')),
    sa.CheckConstraint('offer_hours > 0', name=op.f('ck_allocation_policy_offer_hours_positive')),
    sa.ForeignKeyConstraint(['created_by_id'], ['user.id'], name=op.f('fk_allocation_policy_created_by_id_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_allocation_policy')),
    sa.UniqueConstraint('version', name=op.f('uq_allocation_policy_version'))
    )
    op.create_table('allocation_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('learner_id', sa.Integer(), nullable=True),
    sa.Column('course_id', sa.Integer(), nullable=True),
    sa.Column('entry_id', sa.Integer(), nullable=True),
    sa.Column('offer_id', sa.Integer(), nullable=True),
    sa.Column('policy_version', sa.Integer(), nullable=True),
    sa.Column('tier', sa.Integer(), nullable=True),
    sa.Column('lottery', sa.String(length=64), nullable=True),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('detail', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['course_id'], ['course.id'], name=op.f('fk_allocation_event_course_id_course'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['learner_id'], ['user.id'], name=op.f('fk_allocation_event_learner_id_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_allocation_event'))
    )
    with op.batch_alter_table('allocation_event', schema=None) as batch_op:
        batch_op.create_index('ix_allocation_event_course_at', ['course_id', 'at'], unique=False)
        batch_op.create_index(batch_op.f('ix_allocation_event_learner_id'), ['learner_id'], unique=False)

    op.create_table('waitlist_entry',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('learner_id', sa.Integer(), nullable=False),
    sa.Column('course_id', sa.Integer(), nullable=False),
    sa.Column('level', sa.String(length=8), nullable=False),
    sa.Column('status', sa.Enum('waiting', 'offered', 'accepted', 'declined', 'expired', 'left', 'cancelled', name='entry_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('joined_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('tier_override', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['course_id'], ['course.id'], name=op.f('fk_waitlist_entry_course_id_course'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['learner_id'], ['user.id'], name=op.f('fk_waitlist_entry_learner_id_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_waitlist_entry'))
    )
    with op.batch_alter_table('waitlist_entry', schema=None) as batch_op:
        batch_op.create_index('ix_waitlist_entry_course_status', ['course_id', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_waitlist_entry_learner_id'), ['learner_id'], unique=False)
        batch_op.create_index('uq_waitlist_entry_one_active', ['learner_id', 'course_id'], unique=True, sqlite_where=sa.text("status IN ('waiting', 'offered')"), postgresql_where=sa.text("status IN ('waiting', 'offered')"))

    op.create_table('offer',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('entry_id', sa.Integer(), nullable=False),
    sa.Column('learner_id', sa.Integer(), nullable=False),
    sa.Column('course_id', sa.Integer(), nullable=False),
    sa.Column('policy_version', sa.Integer(), nullable=False),
    sa.Column('status', sa.Enum('open', 'accepted', 'declined', 'expired', 'cancelled', name='offer_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('offered_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint('expires_at > offered_at', name=op.f('ck_offer_expires_after_offer')),
    sa.ForeignKeyConstraint(['course_id'], ['course.id'], name=op.f('fk_offer_course_id_course'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['entry_id'], ['waitlist_entry.id'], name=op.f('fk_offer_entry_id_waitlist_entry'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['learner_id'], ['user.id'], name=op.f('fk_offer_learner_id_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_offer'))
    )
    with op.batch_alter_table('offer', schema=None) as batch_op:
        batch_op.create_index('ix_offer_course_status', ['course_id', 'status'], unique=False)
        batch_op.create_index('ix_offer_status_expires', ['status', 'expires_at'], unique=False)
        batch_op.create_index('uq_offer_one_open_per_entry', ['entry_id'], unique=True, sqlite_where=sa.text("status = 'open'"), postgresql_where=sa.text("status = 'open'"))
        batch_op.create_index('uq_offer_one_open_per_learner', ['learner_id'], unique=True, sqlite_where=sa.text("status = 'open'"), postgresql_where=sa.text("status = 'open'"))



def downgrade():
    with op.batch_alter_table('offer', schema=None) as batch_op:
        batch_op.drop_index('uq_offer_one_open_per_learner', sqlite_where=sa.text("status = 'open'"), postgresql_where=sa.text("status = 'open'"))
        batch_op.drop_index('uq_offer_one_open_per_entry', sqlite_where=sa.text("status = 'open'"), postgresql_where=sa.text("status = 'open'"))
        batch_op.drop_index('ix_offer_status_expires')
        batch_op.drop_index('ix_offer_course_status')

    op.drop_table('offer')
    with op.batch_alter_table('waitlist_entry', schema=None) as batch_op:
        batch_op.drop_index('uq_waitlist_entry_one_active', sqlite_where=sa.text("status IN ('waiting', 'offered')"), postgresql_where=sa.text("status IN ('waiting', 'offered')"))
        batch_op.drop_index(batch_op.f('ix_waitlist_entry_learner_id'))
        batch_op.drop_index('ix_waitlist_entry_course_status')

    op.drop_table('waitlist_entry')
    with op.batch_alter_table('allocation_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_allocation_event_learner_id'))
        batch_op.drop_index('ix_allocation_event_course_at')

    op.drop_table('allocation_event')
    op.drop_table('allocation_policy')
