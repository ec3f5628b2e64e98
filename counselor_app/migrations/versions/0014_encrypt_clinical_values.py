"""encryption at rest of every clinical value: answers, scores, safety disclosures, pronouns

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02

Revision 0007 encrypted the free text; this one encrypts what is left that speaks of a person:
each partner's answers at check-ins, the safety items they disclosed, the answers and scores
behind every flag, its severity and the partners it concerns, check-in totals, homework
outcomes, where each challenge stood at an appointment, which answer changed after completion,
and pronouns. Every value becomes a Fernet token under the app's current data key (see
counselor_app/encryption.py), so the migration needs the same keys as the app that runs it.
The columns become text; the enum columns lose their CHECK constraints, which could only have
read ciphertext (the models check the values).
"""
from alembic import op
import sqlalchemy as sa
from flask import current_app

from counselor_app.encryption import EXTENSION


# revision identifiers, used by Alembic.
revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None
# Upgrading past it rewrites stored rows (every clinical value is encrypted in place):
# `flask counselor db upgrade` backs the database up first (counselor_app.operations).
rewrites_data = True

STRING_COLUMNS = {
    ('counselor_partner', 'pronouns'): sa.String(length=40),
    ('counselor_flag', 'partners'): sa.String(length=2),
    ('counselor_safety_alert', 'partners'): sa.String(length=2),
    ('counselor_safety_notice', 'partners'): sa.String(length=2),
    ('counselor_response_change', 'item_id'): sa.String(length=60),
}
JSON_COLUMNS = {
    ('counselor_flag', 'evidence'): sa.JSON(),
    ('counselor_flag', 'hits'): sa.JSON(),
    ('counselor_safety_alert', 'positive_items'): sa.JSON(),
    ('counselor_check_in', 'answers'): sa.JSON(),
}
INTEGER_COLUMNS = {('counselor_check_in', 'total'): sa.Integer()}
# (table, column): (enum name, its values); the CHECK constraint is ck_<table>_<enum name>.
ENUM_COLUMNS = {
    ('counselor_flag', 'severity'): ('flag_severity', ('low', 'moderate', 'high')),
    ('counselor_flag', 'decided_severity'): ('flag_decided_severity', ('low', 'moderate', 'high')),
    ('counselor_homework_review', 'outcome'): ('homework_outcome', ('done', 'partly', 'not_done')),
    ('counselor_flag_status_record', 'status'): ('flag_progress', ('active', 'improving', 'resolved')),
}
CLEAR_TYPES = {
    **STRING_COLUMNS,
    **JSON_COLUMNS,
    **INTEGER_COLUMNS,
    **{column: sa.String(length=20) for column in ENUM_COLUMNS},
}


def _by_table():
    tables = {}
    for table, name in CLEAR_TYPES:
        tables.setdefault(table, []).append(name)
    return tables


def _rewrite(table, columns, change, batch=500):
    """Apply ``change`` to every non-null value of ``columns`` (text by then), ``batch`` rows at
    a time."""
    bind = op.get_bind()
    handle = sa.table(table, sa.column('id', sa.Integer()),
                      *(sa.column(name, sa.Text()) for name in columns))
    ids = bind.execute(sa.select(handle.c.id).order_by(handle.c.id)).scalars().all()
    for start in range(0, len(ids), batch):
        chunk = ids[start:start + batch]
        for row in bind.execute(sa.select(handle).where(handle.c.id.in_(chunk))).all():
            values = {name: change(getattr(row, name)) for name in columns
                      if getattr(row, name) is not None}
            if values:
                bind.execute(handle.update().where(handle.c.id == row.id).values(**values))


def _retype(table, columns, to_text):
    """Each column of ``table`` to text (``to_text``) or back to its clear type: an enum's CHECK
    constraint is dropped first, or made again after. PostgreSQL is told how to convert."""
    dialect = op.get_bind().dialect
    with op.batch_alter_table(table) as batch_op:
        for name in columns:
            clear = CLEAR_TYPES[(table, name)]
            old, new = (clear, sa.Text()) if to_text else (sa.Text(), clear)
            enum = ENUM_COLUMNS.get((table, name))
            check = op.f(f'ck_{table}_{enum[0]}') if enum else None
            if check and to_text:
                batch_op.drop_constraint(check, type_='check')
            using = {}
            if dialect.name == 'postgresql':
                using = {'postgresql_using': f'{name}::{new.compile(dialect=dialect)}'}
            batch_op.alter_column(name, type_=new, existing_type=old, **using)
            if check and not to_text:
                values = ', '.join(f"'{value}'" for value in enum[1])
                batch_op.create_check_constraint(check, f'{name} IN ({values})')


def upgrade():
    if op.get_bind().dialect.name == 'sqlite':
        # SQLite would keep the clear values in the file's free pages (the tables copied by
        # batch mode, the rows rewritten): zeroed instead. PostgreSQL keeps old row versions
        # until VACUUM FULL, which the README asks for after this upgrade.
        op.execute('PRAGMA secure_delete = ON')
    cipher = current_app.extensions[EXTENSION]
    # As text, each value is what the models encrypt: JSON text, digits, an enum's value.
    encrypt = lambda value: cipher.encrypt(str(value).encode()).decode('ascii')  # noqa: E731
    for table, columns in _by_table().items():
        _retype(table, columns, to_text=True)
        _rewrite(table, columns, encrypt)


def downgrade():
    cipher = current_app.extensions[EXTENSION]
    decrypt = lambda value: cipher.decrypt(value.encode('ascii')).decode()  # noqa: E731
    for table, columns in _by_table().items():
        _rewrite(table, columns, decrypt)
        _retype(table, columns, to_text=False)
