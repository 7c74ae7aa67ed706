"""courses: an admin returns a course waiting for approval to its provider, with what to change

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('course', schema=None) as batch_op:
        batch_op.add_column(sa.Column('returned_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('returned_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('return_reason', sa.String(length=500), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_course_returned_by_id_user'), 'user', ['returned_by_id'], ['id'])
        batch_op.create_check_constraint('return_has_reason', "(returned_at IS NULL) = (return_reason IS NULL)")


def downgrade():
    with op.batch_alter_table('course', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_course_return_has_reason'), type_='check')
        batch_op.drop_constraint(batch_op.f('fk_course_returned_by_id_user'), type_='foreignkey')
        batch_op.drop_column('return_reason')
        batch_op.drop_column('returned_by_id')
        batch_op.drop_column('returned_at')
