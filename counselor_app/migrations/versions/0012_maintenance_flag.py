"""maintenance flag: while its row exists, every worker answers 503

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30

`flask counselor db upgrade` raises the flag, waits for every worker to see it, migrates and
lowers it (counselor_app.operations). One row at most: its primary key is always 1.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None
# Whether upgrading past this revision rewrites stored rows (counselor_app.operations: a backup
# is made first, automatically).
rewrites_data = False


def upgrade():
    op.create_table('counselor_maintenance',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=40), nullable=False),
    sa.Column('raised_by', sa.String(length=200), nullable=False),
    sa.Column('raised_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_counselor_maintenance'))
    )


def downgrade():
    op.drop_table('counselor_maintenance')
