"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}

"""
from alembic import op
import sqlalchemy as sa
${imports if imports else ""}

# revision identifiers, used by Alembic.
revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
branch_labels = ${repr(branch_labels)}
depends_on = ${repr(depends_on)}
# True if upgrading past it changes stored values (an UPDATE, a column converted) or renames
# tables: `flask counselor db upgrade` then backs the database up first
# (counselor_app.operations). SQLite's batch mode copying a table to alter it, values
# unchanged, does not count (on SQLite, back up before any upgrade all the same: CHANGELOG.md).
rewrites_data = False


def upgrade():
    ${upgrades if upgrades else "pass"}


def downgrade():
    ${downgrades if downgrades else "pass"}
