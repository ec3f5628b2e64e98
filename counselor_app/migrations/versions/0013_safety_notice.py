"""safety notice: a private safety note is read before joint work, not a positive screen

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02

Until now any text in the safety screen's private note raised a safety alert, as a positive
answer does. A note now raises a "read before joint work" notice that the therapist marks read.
Existing alerts: the note leaves the alert's items and becomes a notice holding the note as the
partner last wrote it (decrypted from their answers, kept encrypted); an alert raised by a note
alone is removed, and one with positive answers too keeps them and its decision. A decided
alert counts as the note read, by whoever decided and when. Decisions keep their meaning.

Downgrade puts the note back among the alert's items: onto the couple's alert (reopened if the
note was not read yet), or onto a new alert, decided "joint work can continue" where the note
was read (the only decision under which the notice let joint work go on).
"""
import json

from alembic import op
import sqlalchemy as sa
from flask import current_app

from counselor_app.encryption import EXTENSION


# revision identifiers, used by Alembic.
revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None
# Upgrading past it rewrites stored rows (note-only alerts become notices):
# `flask counselor db upgrade` backs the database up first (counselor_app.operations).
rewrites_data = True

# The safety screen's free-text item (safety_v1.toml), as it was when this revision was written.
NOTE_ITEM = 'saf_notes'
LABELS = ('A', 'B')
READ_DECISION = 'joint_ok'
READ_NOTE = 'Private safety note read; no positive answer on the screen.'

alert = sa.table(
    'counselor_safety_alert',
    sa.column('id', sa.Integer()),
    sa.column('couple_id', sa.Integer()),
    sa.column('partners', sa.String()),
    sa.column('positive_items', sa.JSON()),
    sa.column('raised_at', sa.DateTime(timezone=True)),
    sa.column('decision', sa.String()),
    sa.column('decision_note', sa.Text()),
    sa.column('decided_at', sa.DateTime(timezone=True)),
    sa.column('decided_by_id', sa.Integer()),
    sa.column('version', sa.Integer()),
)
notice = sa.table(
    'counselor_safety_notice',
    sa.column('couple_id', sa.Integer()),
    sa.column('partners', sa.String()),
    sa.column('notes', sa.Text()),
    sa.column('raised_at', sa.DateTime(timezone=True)),
    sa.column('acknowledged_at', sa.DateTime(timezone=True)),
    sa.column('acknowledged_by_id', sa.Integer()),
    sa.column('version', sa.Integer()),
)
response = sa.table(
    'counselor_response',
    sa.column('id', sa.Integer()),
    sa.column('couple_id', sa.Integer()),
    sa.column('partner_id', sa.Integer()),
    sa.column('instrument_id', sa.String()),
    sa.column('answers', sa.Text()),
)
partner = sa.table('counselor_partner', sa.column('id', sa.Integer()), sa.column('label', sa.String()))


def _notes_of(bind, cipher, couple_id):
    """Each partner's note as their latest safety answers hold it."""
    rows = bind.execute(
        sa.select(partner.c.label, response.c.answers)
        .join(partner, partner.c.id == response.c.partner_id)
        .where(response.c.couple_id == couple_id, response.c.instrument_id == 'safety')
        .order_by(response.c.id)
    ).all()
    notes = {}
    for label, token in rows:
        text = str(json.loads(cipher.decrypt(token.encode('ascii'))).get(NOTE_ITEM) or '').strip()
        if text:
            notes[label] = text
    return notes


def _encrypt_json(cipher, value):
    """As the model's EncryptedJSON column stores a value: one Fernet token."""
    return cipher.encrypt(json.dumps(value).encode()).decode('ascii')


def upgrade():
    op.create_table('counselor_safety_notice',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('couple_id', sa.Integer(), nullable=False),
    sa.Column('partners', sa.String(length=2), nullable=False),
    sa.Column('notes', sa.Text(), nullable=False),
    sa.Column('raised_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('acknowledged_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('acknowledged_by_id', sa.Integer(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['acknowledged_by_id'], ['counselor_therapist.id'], name=op.f('fk_counselor_safety_notice_acknowledged_by_id_counselor_therapist')),
    sa.ForeignKeyConstraint(['couple_id'], ['counselor_couple.id'], name=op.f('fk_counselor_safety_notice_couple_id_counselor_couple'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_counselor_safety_notice')),
    sa.UniqueConstraint('couple_id', name=op.f('uq_counselor_safety_notice_couple_id'))
    )
    bind = op.get_bind()
    cipher = current_app.extensions[EXTENSION]
    for row in bind.execute(sa.select(alert)).all():
        items = row.positive_items or {}
        noted = ''.join(label for label in LABELS if NOTE_ITEM in items.get(label, []))
        if not noted:
            continue
        bind.execute(notice.insert().values(
            couple_id=row.couple_id,
            partners=noted,
            notes=_encrypt_json(cipher, _notes_of(bind, cipher, row.couple_id)),
            raised_at=row.raised_at,
            acknowledged_at=row.decided_at,
            acknowledged_by_id=row.decided_by_id,
            version=1,
        ))
        positive = {label: [i for i in items.get(label, []) if i != NOTE_ITEM] for label in LABELS}
        partners = ''.join(label for label in LABELS if positive[label])
        if partners:
            bind.execute(alert.update().where(alert.c.id == row.id).values(
                partners=partners, positive_items=positive, version=row.version + 1))
        else:
            bind.execute(alert.delete().where(alert.c.id == row.id))


def downgrade():
    bind = op.get_bind()
    cipher = current_app.extensions[EXTENSION]
    alerts = {row.couple_id: row for row in bind.execute(sa.select(alert)).all()}
    for row in bind.execute(sa.select(notice)).all():
        existing = alerts.get(row.couple_id)
        known = (existing.positive_items or {}) if existing is not None else {}
        noted = {NOTE_ITEM}
        items = {
            label: sorted(set(known.get(label, [])) | (noted if label in row.partners else set()))
            for label in LABELS
        }
        partners = ''.join(label for label in LABELS if items[label])
        if existing is None:
            read = row.acknowledged_at is not None
            bind.execute(alert.insert().values(
                couple_id=row.couple_id,
                partners=partners,
                positive_items=items,
                raised_at=row.raised_at,
                decision=READ_DECISION if read else None,
                decision_note=cipher.encrypt((READ_NOTE if read else '').encode()).decode('ascii'),
                decided_at=row.acknowledged_at,
                decided_by_id=row.acknowledged_by_id,
                version=1,
            ))
            continue
        values = {'partners': partners, 'positive_items': items, 'version': existing.version + 1}
        if row.acknowledged_at is None:
            # As before this revision: a note not yet read reopened the alert.
            values |= {'decision': None, 'decided_at': None, 'decided_by_id': None,
                       'raised_at': row.raised_at}
        bind.execute(alert.update().where(alert.c.id == existing.id).values(**values))
    op.drop_table('counselor_safety_notice')
