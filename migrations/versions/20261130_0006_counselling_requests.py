"""counselling requests

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('counselling_request',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('learner_id', sa.Integer(), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('contact_times', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('handled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('handled_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['handled_by_id'], ['user.id'], name=op.f('fk_counselling_request_handled_by_id_user')),
    sa.ForeignKeyConstraint(['learner_id'], ['user.id'], name=op.f('fk_counselling_request_learner_id_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_counselling_request'))
    )
    with op.batch_alter_table('counselling_request', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_counselling_request_learner_id'), ['learner_id'], unique=False)
        batch_op.create_index('uq_counselling_request_one_open', ['learner_id'], unique=True, sqlite_where=sa.text('handled_at IS NULL'), postgresql_where=sa.text('handled_at IS NULL'))



def downgrade():
    with op.batch_alter_table('counselling_request', schema=None) as batch_op:
        batch_op.drop_index('uq_counselling_request_one_open', sqlite_where=sa.text('handled_at IS NULL'), postgresql_where=sa.text('handled_at IS NULL'))
        batch_op.drop_index(batch_op.f('ix_counselling_request_learner_id'))

    op.drop_table('counselling_request')
