"""counselling appointments: the times counsellors publish and the learners' bookings of them

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('counselling_slot',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('counsellor_id', sa.Integer(), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('mode', sa.Enum('in_person', 'phone', 'video', name='appointment_mode', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('place', sa.String(length=200), nullable=True),
    sa.Column('languages', sa.JSON(), nullable=False),
    sa.Column('language_mask', sa.SmallInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('cancelled_by_id', sa.Integer(), nullable=True),
    sa.Column('cancel_reason', sa.String(length=300), nullable=True),
    sa.CheckConstraint("mode <> 'in_person' OR place IS NOT NULL", name=op.f('ck_counselling_slot_place_when_in_person')),
    sa.CheckConstraint('(cancelled_at IS NULL) = (cancelled_by_id IS NULL)', name=op.f('ck_counselling_slot_cancel_has_author')),
    sa.CheckConstraint('ends_at > starts_at', name=op.f('ck_counselling_slot_times_ordered')),
    sa.CheckConstraint('language_mask > 0 AND language_mask < 16', name=op.f('ck_counselling_slot_language_mask_range')),
    sa.ForeignKeyConstraint(['cancelled_by_id'], ['user.id'], name=op.f('fk_counselling_slot_cancelled_by_id_user')),
    sa.ForeignKeyConstraint(['counsellor_id'], ['user.id'], name=op.f('fk_counselling_slot_counsellor_id_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_counselling_slot'))
    )
    with op.batch_alter_table('counselling_slot', schema=None) as batch_op:
        batch_op.create_index('ix_counselling_slot_counsellor_starts_at', ['counsellor_id', 'starts_at'], unique=False)
        batch_op.create_index('ix_counselling_slot_starts_at', ['starts_at'], unique=False)

    op.create_table('counselling_booking',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('slot_id', sa.Integer(), nullable=False),
    sa.Column('learner_id', sa.Integer(), nullable=False),
    sa.Column('language', sa.String(length=5), nullable=False),
    sa.Column('note', sa.String(length=500), nullable=True),
    sa.Column('phone', sa.String(length=32), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('cancelled_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint('(cancelled_at IS NULL) = (cancelled_by_id IS NULL)', name=op.f('ck_counselling_booking_cancel_has_author')),
    sa.ForeignKeyConstraint(['cancelled_by_id'], ['user.id'], name=op.f('fk_counselling_booking_cancelled_by_id_user')),
    sa.ForeignKeyConstraint(['learner_id'], ['user.id'], name=op.f('fk_counselling_booking_learner_id_user'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['slot_id'], ['counselling_slot.id'], name=op.f('fk_counselling_booking_slot_id_counselling_slot')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_counselling_booking'))
    )
    with op.batch_alter_table('counselling_booking', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_counselling_booking_learner_id'), ['learner_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_counselling_booking_slot_id'), ['slot_id'], unique=False)
        batch_op.create_index('uq_counselling_booking_one_per_slot', ['slot_id'], unique=True, sqlite_where=sa.text('cancelled_at IS NULL'), postgresql_where=sa.text('cancelled_at IS NULL'))



def downgrade():
    with op.batch_alter_table('counselling_booking', schema=None) as batch_op:
        batch_op.drop_index('uq_counselling_booking_one_per_slot', sqlite_where=sa.text('cancelled_at IS NULL'), postgresql_where=sa.text('cancelled_at IS NULL'))
        batch_op.drop_index(batch_op.f('ix_counselling_booking_slot_id'))
        batch_op.drop_index(batch_op.f('ix_counselling_booking_learner_id'))

    op.drop_table('counselling_booking')
    with op.batch_alter_table('counselling_slot', schema=None) as batch_op:
        batch_op.drop_index('ix_counselling_slot_starts_at')
        batch_op.drop_index('ix_counselling_slot_counsellor_starts_at')

    op.drop_table('counselling_slot')
