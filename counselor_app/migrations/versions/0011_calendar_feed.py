"""calendar feed: each therapist's private link to their upcoming appointments

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30

A calendar app subscribes to a therapist's upcoming appointments by a private link. Only the
SHA-256 of the link's token is stored, unique so that one token finds one therapist. NULL is
no feed (never made, or revoked), and NULLs never collide in a unique constraint, on SQLite or
PostgreSQL. Downgrading drops every feed link: calendars subscribed to one stop updating.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('counselor_therapist', schema=None) as batch_op:
        batch_op.add_column(sa.Column('calendar_feed_hash', sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(
            batch_op.f('uq_counselor_therapist_calendar_feed_hash'), ['calendar_feed_hash'])


def downgrade():
    with op.batch_alter_table('counselor_therapist', schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f('uq_counselor_therapist_calendar_feed_hash'), type_='unique')
        batch_op.drop_column('calendar_feed_hash')
