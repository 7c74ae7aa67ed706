"""learner level

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('learner_profile', schema=None) as batch_op:
        batch_op.add_column(sa.Column('level', sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column('level_source', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('level_set_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_learner_profile_level'), ['level'], unique=False)
        batch_op.create_check_constraint('level_has_source', '(level IS NULL) = (level_source IS NULL)')



def downgrade():
    with op.batch_alter_table('learner_profile', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_learner_profile_level_has_source'), type_='check')
        batch_op.drop_index(batch_op.f('ix_learner_profile_level'))
        batch_op.drop_column('level_set_at')
        batch_op.drop_column('level_source')
        batch_op.drop_column('level')

