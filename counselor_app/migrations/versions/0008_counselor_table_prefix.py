"""every table named counselor_*, so it cannot clash with a host app's tables

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30

Mounted in a host app, our tables share the host's database: a host table "appointment" or
"partner" would clash with ours. Each table is renamed with its rows, and so are the names
that the naming convention (models/base.py) builds from a table's name (pk_, fk_, uq_, ck_,
ix_; the hand-named unique constraints follow the same "uq_<table>_..." pattern), and on
PostgreSQL the id sequences: a later migration finds every name where the models put it.
"""
import hashlib

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None
# Upgrading past it rewrites stored rows (every table renamed; on SQLite, copied row by
# row): `flask counselor db upgrade` backs the database up first (counselor_app.operations).
rewrites_data = True

PREFIX = 'counselor_'
TABLES = (
    'therapist', 'login_failure', 'form_draft', 'couple', 'partner', 'response',
    'response_change', 'flag', 'safety_alert', 'practice', 'strategy_text', 'session_plan',
    'issued_document', 'appointment', 'check_in', 'flag_status_record', 'homework_review',
    'session_note', 'note_addendum', 'private_note', 'audit_event',
)


def upgrade():
    _rename({table: PREFIX + table for table in TABLES})


def downgrade():
    _rename({PREFIX + table: table for table in TABLES})


def _rename(tables):
    bind = op.get_bind()
    for old, new in tables.items():
        # SQLite rewrites the other tables' REFERENCES clauses and the indexes to follow.
        op.rename_table(old, new)
    for old, new in tables.items():
        names = _renamed_objects(bind, old, new)
        if bind.dialect.name == 'postgresql':
            _rename_on_postgresql(bind, new, names)
        else:
            _rename_on_sqlite(bind, new, names)


def _renamed_objects(bind, old, new):
    """{(kind, old name): new name} for the named objects of table ``new`` (formerly ``old``)."""
    inspector = sa.inspect(bind)
    names = {}
    pk = inspector.get_pk_constraint(new)['name']
    names[('constraint', pk)] = _moved(pk, old, new)
    for unique in inspector.get_unique_constraints(new):
        names[('constraint', unique['name'])] = _moved(unique['name'], old, new)
    for check in inspector.get_check_constraints(new):
        names[('constraint', check['name'])] = _moved(check['name'], old, new)
    for fk in inspector.get_foreign_keys(new):
        # fk_<table>_<column>_<referred table>: the referred table is renamed too (already).
        convention = f"fk_{new}_{fk['constrained_columns'][0]}_{fk['referred_table']}"
        names[('constraint', fk['name'])] = _fit(bind, convention)
    for index in inspector.get_indexes(new):
        if 'duplicates_constraint' not in index:  # PostgreSQL: renamed with its constraint
            names[('index', index['name'])] = _moved(index['name'], old, new)
    return names


def _moved(name, old, new):
    """"ix_couple_status" for table couple is "ix_counselor_couple_status" for counselor_couple
    (and back)."""
    kind, _, rest = name.partition('_')
    if not rest.startswith(old):
        raise RuntimeError(f'{name!r} does not follow the naming convention for {old!r}')
    return f'{kind}_{new}{rest[len(old):]}'


def _fit(bind, name):
    """A convention name longer than the backend allows, shortened as SQLAlchemy does when it
    creates the constraint: cut, and made unique again by four hex digits of its MD5."""
    limit = bind.dialect.max_identifier_length
    if len(name) <= limit:
        return name
    digest = hashlib.md5(name.encode(), usedforsecurity=False).hexdigest()
    return f'{name[:limit - 8]}_{digest[-4:]}'


def _rename_on_postgresql(bind, table, names):
    for (kind, old), new in names.items():
        if kind == 'index':
            op.execute(f'ALTER INDEX "{old}" RENAME TO "{new}"')
        else:
            op.execute(f'ALTER TABLE "{table}" RENAME CONSTRAINT "{old}" TO "{new}"')
    # The id column's sequence takes the table's name too, as a table created new would have.
    sequence = bind.scalar(sa.text("SELECT pg_get_serial_sequence(:table, 'id')"),
                           {'table': table})
    if sequence:
        op.execute(f'ALTER SEQUENCE {sequence} RENAME TO "{table}_id_seq"')


def _rename_on_sqlite(bind, table, names):
    """SQLite cannot rename a constraint or an index: the table is rebuilt from its own CREATE
    TABLE text with the new constraint names (SQLite's documented way to change a table's
    definition), its rows copied, and its indexes made again under their new names."""
    definition = bind.scalar(
        sa.text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = :table"),
        {'table': table},
    )
    renamed = _sqlite_rename_constraints(definition, names)
    temporary = f'_rebuild_{table}'
    renamed = renamed.replace(_sqlite_header(definition, table), f'CREATE TABLE "{temporary}"', 1)
    indexes = sa.inspect(bind).get_indexes(table)
    op.execute(renamed)
    # Both names are ours (TABLES above), never input.
    op.execute(f'INSERT INTO "{temporary}" SELECT * FROM "{table}"')  # nosec B608
    op.drop_table(table)
    op.rename_table(temporary, table)
    for index in indexes:
        op.create_index(names[('index', index['name'])], table, index['column_names'],
                        unique=bool(index['unique']))


def _sqlite_header(definition, table):
    for header in (f'CREATE TABLE "{table}"', f'CREATE TABLE {table}'):
        if definition.startswith(header):
            return header
    raise RuntimeError(f'Unexpected definition of {table!r}')


def _sqlite_rename_constraints(definition, names):
    for (kind, old), new in names.items():
        if kind == 'index':
            continue
        for quoted in (f'CONSTRAINT "{old}" ', f'CONSTRAINT {old} '):
            if quoted in definition:
                definition = definition.replace(quoted, f'CONSTRAINT {new} ', 1)
                break
        else:
            raise RuntimeError(f'Constraint {old!r} not found in the definition')
    return definition
