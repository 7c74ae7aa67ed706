"""counselling appointments: reminder mails and video call links

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('counselling_slot', schema=None) as batch_op:
        batch_op.add_column(sa.Column('video_link', sa.String(length=500), nullable=True))
        batch_op.create_check_constraint('video_link_when_video', "video_link IS NULL OR mode = 'video'")

    with op.batch_alter_table('counselling_booking', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reminded_at', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('counselling_booking', schema=None) as batch_op:
        batch_op.drop_column('reminded_at')

    with op.batch_alter_table('counselling_slot', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_counselling_slot_video_link_when_video'), type_='check')
        batch_op.drop_column('video_link')
