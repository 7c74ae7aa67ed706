"""courses: approval, weekday mask, enrolments, course change log, provider API tokens

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30

"""
from alembic import op
import sqlalchemy as sa

WEEKDAY_BITS = {day: 1 << i for i, day in enumerate(('mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'))}


# revision identifiers, used by Alembic.
revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('api_token',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('provider_id', sa.Integer(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('prefix', sa.String(length=12), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['user.id'], name=op.f('fk_api_token_created_by_id_user')),
    sa.ForeignKeyConstraint(['provider_id'], ['provider.id'], name=op.f('fk_api_token_provider_id_provider')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_token')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_api_token_token_hash'))
    )
    with op.batch_alter_table('api_token', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_token_provider_id'), ['provider_id'], unique=False)

    op.create_table('course_change',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('course_id', sa.Integer(), nullable=False),
    sa.Column('changed_by_id', sa.Integer(), nullable=True),
    sa.Column('field', sa.String(length=32), nullable=False),
    sa.Column('old_value', sa.String(length=64), nullable=True),
    sa.Column('new_value', sa.String(length=64), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['changed_by_id'], ['user.id'], name=op.f('fk_course_change_changed_by_id_user')),
    sa.ForeignKeyConstraint(['course_id'], ['course.id'], name=op.f('fk_course_change_course_id_course'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_course_change'))
    )
    with op.batch_alter_table('course_change', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_course_change_course_id'), ['course_id'], unique=False)

    op.create_table('enrolment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('learner_id', sa.Integer(), nullable=False),
    sa.Column('course_id', sa.Integer(), nullable=False),
    sa.Column('level', sa.String(length=8), nullable=False),
    sa.Column('status', sa.Enum('accepted', 'confirmed', 'mismatch', 'dropped_out', 'completed', 'cancelled', name='enrolment_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('accepted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('confirm_by', sa.Date(), nullable=False),
    sa.Column('confirmed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('attendance_percent', sa.SmallInteger(), nullable=True),
    sa.Column('final_test_result', sa.SmallInteger(), nullable=True),
    sa.Column('mismatch_level', sa.String(length=8), nullable=True),
    sa.Column('override_by_id', sa.Integer(), nullable=True),
    sa.Column('override_reason', sa.String(length=500), nullable=True),
    sa.Column('reminded_on', sa.Date(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status <> 'completed' OR (attendance_percent IS NOT NULL AND final_test_result IS NOT NULL)", name=op.f('ck_enrolment_completed_has_results')),
    sa.CheckConstraint("status <> 'confirmed' OR confirmed_at IS NOT NULL", name=op.f('ck_enrolment_confirmed_has_time')),
    sa.CheckConstraint('(override_reason IS NULL) = (override_by_id IS NULL)', name=op.f('ck_enrolment_override_has_author')),
    sa.CheckConstraint('attendance_percent IS NULL OR attendance_percent BETWEEN 0 AND 100', name=op.f('ck_enrolment_attendance_range')),
    sa.CheckConstraint('final_test_result IS NULL OR final_test_result BETWEEN 0 AND 100', name=op.f('ck_enrolment_final_test_range')),
    sa.ForeignKeyConstraint(['course_id'], ['course.id'], name=op.f('fk_enrolment_course_id_course')),
    sa.ForeignKeyConstraint(['learner_id'], ['user.id'], name=op.f('fk_enrolment_learner_id_user')),
    sa.ForeignKeyConstraint(['override_by_id'], ['user.id'], name=op.f('fk_enrolment_override_by_id_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_enrolment'))
    )
    with op.batch_alter_table('enrolment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_enrolment_course_id'), ['course_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_enrolment_learner_id'), ['learner_id'], unique=False)
        batch_op.create_index('ix_enrolment_status_confirm_by', ['status', 'confirm_by'], unique=False)
        # Partial unique indexes (written by hand): one active course per learner, a level once.
        batch_op.create_index('uq_enrolment_level_once', ['learner_id', 'level'], unique=True, sqlite_where=sa.text("status IN ('accepted', 'confirmed', 'completed')"), postgresql_where=sa.text("status IN ('accepted', 'confirmed', 'completed')"))
        batch_op.create_index('uq_enrolment_one_active_course', ['learner_id'], unique=True, sqlite_where=sa.text("status IN ('accepted', 'confirmed')"), postgresql_where=sa.text("status IN ('accepted', 'confirmed')"))

    # Existing courses: new columns are added nullable, filled, then made NOT NULL; published courses
    # count as approved when they were created (they were published before approval existed).
    with op.batch_alter_table('course', schema=None) as batch_op:
        batch_op.add_column(sa.Column('eligible_statuses', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('weekday_mask', sa.SmallInteger(), nullable=True))
        batch_op.add_column(sa.Column('approved_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('approved_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('updated_at', sa.DateTime(timezone=True), nullable=True))
    course = sa.table('course', sa.column('id', sa.Integer()), sa.column('weekdays', sa.JSON()),
                      sa.column('weekday_mask', sa.SmallInteger()), sa.column('eligible_statuses', sa.JSON()),
                      sa.column('is_published', sa.Boolean()), sa.column('created_at', sa.DateTime(timezone=True)),
                      sa.column('approved_at', sa.DateTime(timezone=True)),
                      sa.column('updated_at', sa.DateTime(timezone=True)))
    conn = op.get_bind()
    for row in conn.execute(sa.select(course.c.id, course.c.weekdays)).all():
        mask = sum(WEEKDAY_BITS.get(day, 0) for day in set(row.weekdays or ()))
        conn.execute(course.update().where(course.c.id == row.id).values(weekday_mask=mask, eligible_statuses=[]))
    conn.execute(course.update().values(updated_at=course.c.created_at))
    conn.execute(course.update().where(course.c.is_published == sa.true()).values(approved_at=course.c.created_at))
    with op.batch_alter_table('course', schema=None) as batch_op:
        batch_op.alter_column('eligible_statuses', existing_type=sa.JSON(), nullable=False)
        batch_op.alter_column('weekday_mask', existing_type=sa.SmallInteger(), nullable=False)
        batch_op.alter_column('updated_at', existing_type=sa.DateTime(timezone=True), nullable=False)
        batch_op.create_index('ix_course_county', ['county'], unique=False)
        batch_op.create_index('ix_course_published_level_start', ['is_published', 'level', 'start_date'], unique=False)
        batch_op.create_index('ix_course_published_start', ['is_published', 'start_date', 'id'], unique=False)
        batch_op.create_index('ix_course_town', ['town'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_course_approved_by_id_user'), 'user', ['approved_by_id'], ['id'])
        # Check constraints are not autogenerated for existing tables: written by hand.
        batch_op.create_check_constraint('times_ordered', 'ends_at_time > starts_at_time')
        batch_op.create_check_constraint('place_unless_online',
                                         "mode = 'online' OR (county IS NOT NULL AND town IS NOT NULL)")
        batch_op.create_check_constraint('weekday_mask_range', 'weekday_mask > 0 AND weekday_mask < 128')
        batch_op.create_check_constraint('published_is_approved', 'NOT is_published OR approved_at IS NOT NULL')

    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('is_provider_admin', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.create_check_constraint('provider_admin_is_provider', "NOT is_provider_admin OR role = 'provider'")


def downgrade():
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_user_provider_admin_is_provider'), type_='check')
        batch_op.drop_column('is_provider_admin')

    with op.batch_alter_table('course', schema=None) as batch_op:
        for name in ('published_is_approved', 'weekday_mask_range', 'place_unless_online', 'times_ordered'):
            batch_op.drop_constraint(batch_op.f(f'ck_course_{name}'), type_='check')
        batch_op.drop_constraint(batch_op.f('fk_course_approved_by_id_user'), type_='foreignkey')
        batch_op.drop_index('ix_course_town')
        batch_op.drop_index('ix_course_published_start')
        batch_op.drop_index('ix_course_published_level_start')
        batch_op.drop_index('ix_course_county')
        batch_op.drop_column('updated_at')
        batch_op.drop_column('approved_by_id')
        batch_op.drop_column('approved_at')
        batch_op.drop_column('weekday_mask')
        batch_op.drop_column('eligible_statuses')

    with op.batch_alter_table('enrolment', schema=None) as batch_op:
        batch_op.drop_index('uq_enrolment_one_active_course')
        batch_op.drop_index('uq_enrolment_level_once')
        batch_op.drop_index('ix_enrolment_status_confirm_by')
        batch_op.drop_index(batch_op.f('ix_enrolment_learner_id'))
        batch_op.drop_index(batch_op.f('ix_enrolment_course_id'))

    op.drop_table('enrolment')
    with op.batch_alter_table('course_change', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_course_change_course_id'))

    op.drop_table('course_change')
    with op.batch_alter_table('api_token', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_token_provider_id'))

    op.drop_table('api_token')
