"""host references: the host app's ids for therapists, couples and partners

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30

Mounted in a host app, a therapist is provisioned from the host's sign-in by the host's stable
user id, and the host links a couple (and its partners) to its own client records. Each is
optional: NULL never collides with another NULL in a unique constraint, on SQLite or
PostgreSQL. A partner's id is unique per therapist, which spans couples: the services check
that, so the database only indexes it.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('counselor_therapist', schema=None) as batch_op:
        batch_op.add_column(sa.Column('external_id', sa.String(length=200), nullable=True))
        batch_op.create_unique_constraint(
            batch_op.f('uq_counselor_therapist_external_id'), ['external_id'])

    with op.batch_alter_table('counselor_couple', schema=None) as batch_op:
        batch_op.add_column(sa.Column('external_id', sa.String(length=200), nullable=True))
        batch_op.create_unique_constraint(
            'uq_counselor_couple_external_id', ['therapist_id', 'external_id'])

    with op.batch_alter_table('counselor_partner', schema=None) as batch_op:
        batch_op.add_column(sa.Column('external_id', sa.String(length=200), nullable=True))
        batch_op.create_index(
            batch_op.f('ix_counselor_partner_external_id'), ['external_id'], unique=False)


def downgrade():
    with op.batch_alter_table('counselor_partner', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_counselor_partner_external_id'))
        batch_op.drop_column('external_id')

    with op.batch_alter_table('counselor_couple', schema=None) as batch_op:
        batch_op.drop_constraint('uq_counselor_couple_external_id', type_='unique')
        batch_op.drop_column('external_id')

    with op.batch_alter_table('counselor_therapist', schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f('uq_counselor_therapist_external_id'), type_='unique')
        batch_op.drop_column('external_id')
