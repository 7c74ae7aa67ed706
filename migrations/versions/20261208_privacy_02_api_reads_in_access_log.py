"""access log: reads through the provider API name the token

Revision ID: 20261208_privacy_02
Revises: 20261208_privacy_01
Create Date: 2026-12-08
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '20261208_privacy_02'
down_revision = '20261208_privacy_01'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('access_log', schema=None) as batch_op:
        batch_op.add_column(sa.Column('api_token_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_access_log_api_token_id_api_token'), 'api_token',
                                    ['api_token_id'], ['id'])


def downgrade():
    with op.batch_alter_table('access_log', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_access_log_api_token_id_api_token'), type_='foreignkey')
        batch_op.drop_column('api_token_id')
