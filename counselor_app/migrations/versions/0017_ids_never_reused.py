"""ids never reused: SQLite tables rebuilt with AUTOINCREMENT

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04

Without AUTOINCREMENT, SQLite gives a new row the table's highest id plus one, so the records
of the next couple after an erase took the erased couple's ids, and the audit trail's rows
about the erased records named the new ones. Each table is rebuilt (batch mode: copy, drop,
rename) with AUTOINCREMENT, and SQLite's counter for it (sqlite_sequence) starts past every id
the table holds and every id the audit trail names for it: records erased before this upgrade
keep their ids to themselves too.

PostgreSQL needs nothing: every id column takes its value from a sequence (SERIAL, made by
0001-0012 and renamed by 0008), and a sequence never goes back.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None
# On SQLite every table is rebuilt with its rows: `flask counselor db upgrade` backs the
# database up first (counselor_app.operations). On PostgreSQL it changes nothing.
rewrites_data = True

# Every table with an integer id at this revision (counselor_rate_limit's key is a string).
TABLES = (
    'counselor_therapist', 'counselor_login_failure', 'counselor_form_draft',
    'counselor_couple', 'counselor_partner', 'counselor_response', 'counselor_response_change',
    'counselor_flag', 'counselor_safety_alert', 'counselor_practice',
    'counselor_strategy_text', 'counselor_session_plan', 'counselor_issued_document',
    'counselor_appointment', 'counselor_check_in', 'counselor_flag_status_record',
    'counselor_homework_review', 'counselor_session_note', 'counselor_note_addendum',
    'counselor_private_note', 'counselor_audit_event', 'counselor_invitation',
    'counselor_maintenance', 'counselor_safety_notice',
)
# Where the audit trail names a record of a table: its object types (counselor_app.audit at
# this revision), and its therapist_id and couple_id columns.
AUDITED_AS = {
    'counselor_therapist': ('therapist',),
    'counselor_couple': ('couple',),
    'counselor_appointment': ('appointment',),
    'counselor_session_plan': ('plan',),
    'counselor_flag': ('flag',),
    'counselor_issued_document': ('document',),
    'counselor_invitation': ('invitation',),
    'counselor_check_in': ('check-in',),
}
AUDIT_COLUMNS = {'counselor_therapist': 'therapist_id', 'counselor_couple': 'couple_id'}


def upgrade():
    if op.get_bind().dialect.name != 'sqlite':
        return
    for table in TABLES:
        with op.batch_alter_table(
            table, recreate='always', table_kwargs={'sqlite_autoincrement': True}
        ):
            pass
    for table in TABLES:
        _start_counter_past(table, _highest_id_known(table))


def downgrade():
    if op.get_bind().dialect.name != 'sqlite':
        return
    for table in TABLES:
        with op.batch_alter_table(
            table, recreate='always', table_kwargs={'sqlite_autoincrement': False}
        ) as batch_op:
            # AUTOINCREMENT's primary key is written in the column, without a name: the named
            # constraint comes back, as 0008 and an older model left it.
            batch_op.create_primary_key(f'pk_{table}', ['id'])


def _highest_id_known(table):
    """The highest id the table holds, or the audit trail names for it (an erased record's)."""
    bind = op.get_bind()
    rows = sa.table(table, sa.column('id'))
    ids = [bind.scalar(sa.select(sa.func.max(rows.c.id)))]
    audit = sa.table('counselor_audit_event', sa.column('object_type'), sa.column('object_id'),
                     sa.column('therapist_id'), sa.column('couple_id'))
    if types := AUDITED_AS.get(table):
        ids.append(bind.scalar(sa.select(sa.func.max(audit.c.object_id))
                               .where(audit.c.object_type.in_(types))))
    if column := AUDIT_COLUMNS.get(table):
        ids.append(bind.scalar(sa.select(sa.func.max(audit.c[column]))))
    return max((value for value in ids if value is not None), default=0)


def _start_counter_past(table, highest):
    """sqlite_sequence holds the last id given per AUTOINCREMENT table; the copy of the rows
    set it to the highest copied, and the audit trail may know a higher one."""
    if not highest:
        return
    sequence = sa.table('sqlite_sequence', sa.column('name'), sa.column('seq'))
    bind = op.get_bind()
    bind.execute(sa.delete(sequence).where(sequence.c.name == table))
    bind.execute(sa.insert(sequence).values(name=table, seq=highest))
