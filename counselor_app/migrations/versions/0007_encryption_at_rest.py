"""encryption at rest of clinical free text; form drafts kept over an expired session

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22

Every value below is rewritten as a Fernet token under the app's current data key (see
counselor_app/encryption.py), so the migration needs the same keys as the app that runs it.
JSON columns become text columns that hold one token for the whole document.
"""
from alembic import op
import sqlalchemy as sa
from flask import current_app

from counselor_app.encryption import EXTENSION


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None
# Upgrading past it rewrites stored rows (every clinical value is encrypted in place):
# `flask counselor db upgrade` backs the database up first (counselor_app.operations).
rewrites_data = True

TEXT_COLUMNS = {
    'couple': ['presenting_concerns'],
    'flag': ['note', 'dismiss_reason'],
    'safety_alert': ['decision_note'],
    'homework_review': ['assignment', 'note'],
    'session_note': ['data', 'assessment', 'plan'],
    'note_addendum': ['text'],
    'private_note': ['text'],
    'session_plan': ['goals', 'private_notes'],
}
JSON_COLUMNS = {
    'response': ['answers'],
    'response_change': ['old_value', 'new_value'],
    'session_plan': ['agenda', 'homework'],
}
BINARY_COLUMNS = {'issued_document': ['content']}


def _rewrite(table, columns, change, column_type=sa.Text(), batch=200):
    """Apply ``change`` to every non-null value of ``columns``, ``batch`` rows at a time (the
    issued PDFs would not all fit in memory at once)."""
    bind = op.get_bind()
    handle = sa.table(table, sa.column('id', sa.Integer()),
                      *(sa.column(name, column_type) for name in columns))
    ids = bind.execute(sa.select(handle.c.id).order_by(handle.c.id)).scalars().all()
    for start in range(0, len(ids), batch):
        chunk = ids[start:start + batch]
        for row in bind.execute(sa.select(handle).where(handle.c.id.in_(chunk))).all():
            values = {name: change(getattr(row, name)) for name in columns
                      if getattr(row, name) is not None}
            if values:
                bind.execute(handle.update().where(handle.c.id == row.id).values(**values))


def _retype(table, columns, old_type, new_type, cast):
    """Change JSON columns to text and back; PostgreSQL needs to be told how to convert."""
    postgresql = op.get_bind().dialect.name == 'postgresql'
    with op.batch_alter_table(table) as batch_op:
        for name in columns:
            using = {'postgresql_using': f'{name}::{cast}'} if postgresql else {}
            batch_op.alter_column(name, type_=new_type, existing_type=old_type, **using)


def upgrade():
    cipher = current_app.extensions[EXTENSION]
    encrypt_text = lambda value: cipher.encrypt(value.encode()).decode('ascii')  # noqa: E731
    for table, columns in JSON_COLUMNS.items():
        _retype(table, columns, sa.JSON(), sa.Text(), 'text')
    for table, columns in (*TEXT_COLUMNS.items(), *JSON_COLUMNS.items()):
        _rewrite(table, columns, encrypt_text)
    for table, columns in BINARY_COLUMNS.items():
        _rewrite(table, columns, lambda value: cipher.encrypt(bytes(value)), sa.LargeBinary())

    op.create_table('form_draft',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('therapist_id', sa.Integer(), nullable=False),
    sa.Column('path', sa.String(length=300), nullable=False),
    sa.Column('fields', sa.Text(), nullable=False),
    sa.Column('saved_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['therapist_id'], ['therapist.id'], name=op.f('fk_form_draft_therapist_id_therapist'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_form_draft')),
    sa.UniqueConstraint('therapist_id', 'path', name=op.f('uq_form_draft_therapist_id'))
    )


def downgrade():
    op.drop_table('form_draft')
    cipher = current_app.extensions[EXTENSION]
    decrypt_text = lambda value: cipher.decrypt(value.encode('ascii')).decode()  # noqa: E731
    for table, columns in BINARY_COLUMNS.items():
        _rewrite(table, columns, lambda value: cipher.decrypt(bytes(value)), sa.LargeBinary())
    for table, columns in (*TEXT_COLUMNS.items(), *JSON_COLUMNS.items()):
        _rewrite(table, columns, decrypt_text)
    for table, columns in JSON_COLUMNS.items():
        _retype(table, columns, sa.Text(), sa.JSON(), 'json')
