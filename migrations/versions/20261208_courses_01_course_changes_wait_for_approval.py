"""courses: changes to a published course that learners chose it for wait for an admin's approval
(the proposed values are kept on the course); the change log holds any field's values

Revision ID: 20261208_courses_01
Revises: 20261208_auth_01
Create Date: 2026-12-08
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '20261208_courses_01'
down_revision = '20261208_auth_01'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('course', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pending_change', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('pending_change_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('pending_change_by_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_course_pending_change_by_id_user'), 'user',
                                    ['pending_change_by_id'], ['id'])
    # Titles and addresses are up to 200 characters, lists of days and statuses longer than 64.
    with op.batch_alter_table('course_change', schema=None) as batch_op:
        batch_op.alter_column('old_value', existing_type=sa.String(length=64), type_=sa.String(length=500),
                              existing_nullable=True)
        batch_op.alter_column('new_value', existing_type=sa.String(length=64), type_=sa.String(length=500),
                              existing_nullable=True)


def downgrade():
    with op.batch_alter_table('course_change', schema=None) as batch_op:
        batch_op.alter_column('new_value', existing_type=sa.String(length=500), type_=sa.String(length=64),
                              existing_nullable=True)
        batch_op.alter_column('old_value', existing_type=sa.String(length=500), type_=sa.String(length=64),
                              existing_nullable=True)
    with op.batch_alter_table('course', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_course_pending_change_by_id_user'), type_='foreignkey')
        batch_op.drop_column('pending_change_by_id')
        batch_op.drop_column('pending_change_at')
        batch_op.drop_column('pending_change')
