"""mail retention: an outbox row keeps its template; its subject and body may be cleared once settled

Revision ID: 20261208_privacy_01
Revises: 20261208_courses_01
Create Date: 2026-12-08

The retention prune (langjourney/privacy) clears the subject and body of sent and failed mails some
days old; a pending mail must keep both (a CHECK says so). Rows written before this revision have
no template (NULL).
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '20261208_privacy_01'
down_revision = '20261208_courses_01'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.add_column(sa.Column('template', sa.String(length=100), nullable=True))
        batch_op.alter_column('subject', existing_type=sa.String(length=255), nullable=True)
        batch_op.alter_column('body', existing_type=sa.Text(), nullable=True)
        batch_op.create_check_constraint(
            'pending_has_content', "status <> 'pending' OR (subject IS NOT NULL AND body IS NOT NULL)")


def downgrade():
    # A cleared mail has no text to bring back: it gets an empty subject and body.
    op.execute("UPDATE outbox_message SET subject = '' WHERE subject IS NULL")
    op.execute("UPDATE outbox_message SET body = '' WHERE body IS NULL")
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_outbox_message_pending_has_content'), type_='check')
        batch_op.alter_column('body', existing_type=sa.Text(), nullable=False)
        batch_op.alter_column('subject', existing_type=sa.String(length=255), nullable=False)
        batch_op.drop_column('template')
