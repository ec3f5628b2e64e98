"""part versions on the appointment page; a homework note kept without an outcome

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02

Each form of the appointment page that edits the appointment's children (a partner's
check-in, the homework review, the flag status) is saved against a version of its own, so a
second tab's save is refused instead of silently replacing the first. A homework review may
now hold a note with its outcome not recorded: such a note used to be thrown away.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None
# Whether upgrading past this revision rewrites stored rows (counselor_app.operations: a backup
# is made first, automatically).
rewrites_data = False

COUNTERS = ('check_in_a_version', 'check_in_b_version', 'homework_version', 'flags_version')


def upgrade():
    with op.batch_alter_table('counselor_appointment', schema=None) as batch_op:
        for name in COUNTERS:
            batch_op.add_column(sa.Column(name, sa.Integer(), nullable=False, server_default='0'))
    with op.batch_alter_table('counselor_appointment', schema=None) as batch_op:
        for name in COUNTERS:
            batch_op.alter_column(name, server_default=None, existing_type=sa.Integer())

    with op.batch_alter_table('counselor_homework_review', schema=None) as batch_op:
        batch_op.alter_column('outcome', existing_type=sa.Text(), nullable=True)


def downgrade():
    # The older schema has no review without an outcome. Deleting such notes would lose what a
    # therapist wrote, and a downgrade makes no backup: refused while there are any.
    kept = op.get_bind().scalar(
        sa.text("SELECT COUNT(*) FROM counselor_homework_review WHERE outcome IS NULL")
    )
    if kept:
        raise RuntimeError(
            f"{kept} homework note(s) were kept without an outcome, which the older schema "
            "cannot hold: record their outcomes, or restore the backup made before the "
            "upgrade, instead of downgrading."
        )
    with op.batch_alter_table('counselor_homework_review', schema=None) as batch_op:
        batch_op.alter_column('outcome', existing_type=sa.Text(), nullable=False)

    with op.batch_alter_table('counselor_appointment', schema=None) as batch_op:
        for name in COUNTERS:
            batch_op.drop_column(name)
