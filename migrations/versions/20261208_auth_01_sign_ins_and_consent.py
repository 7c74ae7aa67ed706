"""auth: one row per sign-in (sign-out, idle timeout and "sign out everywhere" end it); registration
consent stored; new registrants confirm their e-mail address

Revision ID: 20261208_auth_01
Revises: 0011
Create Date: 2026-12-08
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '20261208_auth_01'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade():
    # Sessions issued before this revision carried "<id>:<password stamp>"; they match no row and
    # so end here: everyone signs in once more.
    op.create_table('user_session',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('is_remembered', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_user_session_user_id_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_user_session')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_user_session_token_hash'))
    )
    with op.batch_alter_table('user_session', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_user_session_user_id'), ['user_id'], unique=False)

    op.create_table('registration_consent',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('notice_version', sa.String(length=64), nullable=False),
    sa.Column('wording', sa.String(length=1000), nullable=False),
    sa.Column('locale', sa.String(length=5), nullable=False),
    sa.Column('given_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_registration_consent_user_id_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_registration_consent'))
    )
    with op.batch_alter_table('registration_consent', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_registration_consent_user_id'), ['user_id'], unique=False)

    # Accounts that exist already count as confirmed (staff were created so; learners have signed in).
    # Their consent was asked but not stored: there is nothing to backfill it from.
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email_confirmed_at', sa.DateTime(timezone=True), nullable=True))
    op.execute('UPDATE "user" SET email_confirmed_at = created_at')


def downgrade():
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.drop_column('email_confirmed_at')
    with op.batch_alter_table('registration_consent', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_registration_consent_user_id'))
    op.drop_table('registration_consent')
    with op.batch_alter_table('user_session', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_user_session_user_id'))
    op.drop_table('user_session')
