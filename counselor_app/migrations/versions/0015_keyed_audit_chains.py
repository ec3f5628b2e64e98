"""keyed audit chains: one per therapist plus the practice's, signed with HMAC-SHA256

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30

Every stored event is re-chained: onto its therapist's chain (the practice's when it has no
therapist), each row's hash an HMAC under the app's current audit key (counselor_app/audit/
keys.py), so the migration needs the key the app will run with. The old single SHA-256 chain
is checked first: re-signing must not make an already broken trail look intact, so when it was
broken, the practice's chain ends with an "audit_rechain" event naming the first event that
did not fit (and a warning is printed). The downgrade rebuilds the single SHA-256 chain.

The signature code is copied here, as it stood for this revision: a migration must keep
producing what the app of its revision verifies.
"""
import hashlib
import hmac
import json
import logging
from datetime import UTC, datetime

from alembic import op
import sqlalchemy as sa
from flask import current_app

from counselor_app.audit.keys import EXTENSION


# revision identifiers, used by Alembic.
revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None
# Upgrading past it rewrites every audit row's hash: `flask counselor db upgrade` backs the
# database up first (counselor_app.operations).
rewrites_data = True

logger = logging.getLogger('alembic.runtime.migration')

GENESIS = '0' * 64
PRACTICE_CHAIN = 0
BATCH = 1000
FIELDS = ('at', 'therapist_id', 'action', 'object_type', 'object_id', 'couple_id',
          'endpoint', 'address')
events = sa.table(
    'counselor_audit_event',
    sa.column('id', sa.Integer()),
    sa.column('at', sa.DateTime(timezone=True)),
    sa.column('therapist_id', sa.Integer()),
    sa.column('action', sa.String()),
    sa.column('object_type', sa.String()),
    sa.column('object_id', sa.Integer()),
    sa.column('couple_id', sa.Integer()),
    sa.column('endpoint', sa.String()),
    sa.column('address', sa.String()),
    sa.column('chain', sa.Integer()),
    sa.column('key_id', sa.String()),
    sa.column('prev_hash', sa.String()),
    sa.column('hash', sa.String()),
)


def _body(prev_hash, fields):
    at = fields['at'] if fields['at'].tzinfo else fields['at'].replace(tzinfo=UTC)
    chained = {**fields, 'at': at.astimezone(UTC).isoformat()}
    return (prev_hash + json.dumps(chained, sort_keys=True, separators=(',', ':'))).encode()


def _plain(prev_hash, fields):
    return hashlib.sha256(_body(prev_hash, fields)).hexdigest()


def _keyed(secret, prev_hash, fields):
    return hmac.new(secret, _body(prev_hash, fields), hashlib.sha256).hexdigest()


def _rows(*names):
    """Every event, by id, ``BATCH`` rows per query (the trail can be long)."""
    bind = op.get_bind()
    columns = [events.c.id, *(events.c[name] for name in names)]
    last = 0
    while True:
        batch = bind.execute(
            sa.select(*columns).where(events.c.id > last).order_by(events.c.id).limit(BATCH)
        ).all()
        if not batch:
            return
        yield from batch
        last = batch[-1].id


def _write(updates):
    op.get_bind().execute(
        events.update().where(events.c.id == sa.bindparam('row_id')).values(
            chain=sa.bindparam('new_chain'), key_id=sa.bindparam('new_key_id'),
            prev_hash=sa.bindparam('new_prev'), hash=sa.bindparam('new_hash'),
        ),
        updates,
    )


def _first_misfit_of_plain_chain():
    previous = GENESIS
    for row in _rows(*FIELDS, 'prev_hash', 'hash'):
        fields = {name: getattr(row, name) for name in FIELDS}
        if row.prev_hash != previous or _plain(previous, fields) != row.hash:
            return row.id
        previous = row.hash
    return None


def upgrade():
    with op.batch_alter_table('counselor_audit_event') as batch_op:
        batch_op.add_column(sa.Column('chain', sa.Integer(), nullable=False,
                                      server_default=str(PRACTICE_CHAIN)))
        batch_op.add_column(sa.Column('key_id', sa.String(length=16), nullable=False,
                                      server_default=''))
    with op.batch_alter_table('counselor_audit_event') as batch_op:
        batch_op.alter_column('chain', server_default=None, existing_type=sa.Integer())
        batch_op.alter_column('key_id', server_default=None, existing_type=sa.String(16))
        batch_op.create_index('ix_counselor_audit_event_chain_id', ['chain', 'id'], unique=False)

    broken_at = _first_misfit_of_plain_chain()
    key_id, secret = current_app.extensions[EXTENSION].current
    heads = {}
    updates = []
    for row in _rows(*FIELDS):
        chain = row.therapist_id if row.therapist_id is not None else PRACTICE_CHAIN
        fields = {name: getattr(row, name) for name in FIELDS}
        fields.update(chain=chain, key_id=key_id)
        previous = heads.get(chain, GENESIS)
        heads[chain] = _keyed(secret, previous, fields)
        updates.append({'row_id': row.id, 'new_chain': chain, 'new_key_id': key_id,
                        'new_prev': previous, 'new_hash': heads[chain]})
        if len(updates) == BATCH:
            _write(updates)
            updates = []
    if updates:
        _write(updates)
    if broken_at is not None:
        logger.warning('The audit trail was already broken at event %s before this upgrade: '
                       'the practice chain records it (action audit_rechain).', broken_at)
        fields = {'at': datetime.now(UTC).replace(microsecond=0), 'therapist_id': None,
                  'action': 'audit_rechain', 'object_type': 'audit_event',
                  'object_id': broken_at, 'couple_id': None,
                  'endpoint': 'flask counselor db upgrade', 'address': 'operator (command line)',
                  'chain': PRACTICE_CHAIN, 'key_id': key_id}
        previous = heads.get(PRACTICE_CHAIN, GENESIS)
        op.get_bind().execute(events.insert().values(
            **fields, prev_hash=previous, hash=_keyed(secret, previous, fields)))


def downgrade():
    previous = GENESIS
    updates = []
    for row in _rows(*FIELDS):
        fields = {name: getattr(row, name) for name in FIELDS}
        current = _plain(previous, fields)
        updates.append({'row_id': row.id, 'new_chain': PRACTICE_CHAIN, 'new_key_id': '',
                        'new_prev': previous, 'new_hash': current})
        previous = current
        if len(updates) == BATCH:
            _write(updates)
            updates = []
    if updates:
        _write(updates)
    with op.batch_alter_table('counselor_audit_event') as batch_op:
        batch_op.drop_index('ix_counselor_audit_event_chain_id')
        batch_op.drop_column('key_id')
        batch_op.drop_column('chain')
