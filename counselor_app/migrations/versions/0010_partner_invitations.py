"""partner invitations: each partner answers by a personal link

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30

A partner answers the intake or a check-in on their own device by a link the therapist sends.
Only the hash of the link's token is stored. A check-in may now be answered between sessions:
it belongs to the couple and names no appointment, and is charted at the time it was answered.
Existing check-ins get their couple from their appointment. The practice gains the contact
and crisis lines shown to partners on their own pages. Rate-limit counters (wrong links per
address) live in the database, so every worker counts the same.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None
# Upgrading past it rewrites stored rows (existing check-ins are given their couple):
# `flask counselor db upgrade` backs the database up first (counselor_app.operations).
rewrites_data = True


def upgrade():
    with op.batch_alter_table('counselor_practice', schema=None) as batch_op:
        batch_op.add_column(sa.Column('contact_line', sa.String(length=200), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('crisis_line', sa.String(length=200), nullable=False, server_default=''))
    with op.batch_alter_table('counselor_practice', schema=None) as batch_op:
        batch_op.alter_column('contact_line', server_default=None, existing_type=sa.String(length=200))
        batch_op.alter_column('crisis_line', server_default=None, existing_type=sa.String(length=200))

    with op.batch_alter_table('counselor_response', schema=None) as batch_op:
        batch_op.add_column(sa.Column('partner_answered_at', sa.DateTime(timezone=True), nullable=True))

    op.create_table('counselor_invitation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('couple_id', sa.Integer(), nullable=False),
    sa.Column('partner_id', sa.Integer(), nullable=False),
    sa.Column('purpose', sa.Enum('intake', 'check_in', name='invitation_purpose', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('appointment_id', sa.Integer(), nullable=True),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('emailed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['appointment_id'], ['counselor_appointment.id'], name=op.f('fk_counselor_invitation_appointment_id_counselor_appointment'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['couple_id'], ['counselor_couple.id'], name=op.f('fk_counselor_invitation_couple_id_counselor_couple'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['created_by_id'], ['counselor_therapist.id'], name=op.f('fk_counselor_invitation_created_by_id_counselor_therapist')),
    sa.ForeignKeyConstraint(['partner_id'], ['counselor_partner.id'], name=op.f('fk_counselor_invitation_partner_id_counselor_partner'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_counselor_invitation')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_counselor_invitation_token_hash'))
    )
    with op.batch_alter_table('counselor_invitation', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_counselor_invitation_appointment_id'), ['appointment_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_counselor_invitation_couple_id'), ['couple_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_counselor_invitation_partner_id'), ['partner_id'], unique=False)

    op.create_table('counselor_rate_limit',
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('expires_at', sa.Double(), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_counselor_rate_limit'))
    )
    with op.batch_alter_table('counselor_rate_limit', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_counselor_rate_limit_expires_at'), ['expires_at'], unique=False)

    with op.batch_alter_table('counselor_check_in', schema=None) as batch_op:
        batch_op.add_column(sa.Column('couple_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('invitation_id', sa.Integer(), nullable=True))
    op.execute(
        'UPDATE counselor_check_in SET couple_id = (SELECT couple_id FROM counselor_appointment '
        'WHERE counselor_appointment.id = counselor_check_in.appointment_id)'
    )
    with op.batch_alter_table('counselor_check_in', schema=None) as batch_op:
        batch_op.alter_column('couple_id', existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column('appointment_id', existing_type=sa.Integer(), nullable=True)
        batch_op.create_index(batch_op.f('ix_counselor_check_in_couple_id'), ['couple_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_counselor_check_in_invitation_id'), ['invitation_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_counselor_check_in_couple_id_counselor_couple'), 'counselor_couple', ['couple_id'], ['id'], ondelete='CASCADE')
        batch_op.create_foreign_key(batch_op.f('fk_counselor_check_in_invitation_id_counselor_invitation'), 'counselor_invitation', ['invitation_id'], ['id'], ondelete='SET NULL')


def downgrade():
    # Check-ins answered between sessions have no appointment to belong to before this
    # revision: they go (an export first keeps them).
    op.execute('DELETE FROM counselor_check_in WHERE appointment_id IS NULL')
    with op.batch_alter_table('counselor_check_in', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_counselor_check_in_invitation_id_counselor_invitation'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_counselor_check_in_couple_id_counselor_couple'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_counselor_check_in_invitation_id'))
        batch_op.drop_index(batch_op.f('ix_counselor_check_in_couple_id'))
        batch_op.alter_column('appointment_id', existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column('invitation_id')
        batch_op.drop_column('answered_at')
        batch_op.drop_column('couple_id')

    with op.batch_alter_table('counselor_rate_limit', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_counselor_rate_limit_expires_at'))
    op.drop_table('counselor_rate_limit')

    with op.batch_alter_table('counselor_invitation', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_counselor_invitation_partner_id'))
        batch_op.drop_index(batch_op.f('ix_counselor_invitation_couple_id'))
        batch_op.drop_index(batch_op.f('ix_counselor_invitation_appointment_id'))
    op.drop_table('counselor_invitation')

    with op.batch_alter_table('counselor_response', schema=None) as batch_op:
        batch_op.drop_column('partner_answered_at')

    with op.batch_alter_table('counselor_practice', schema=None) as batch_op:
        batch_op.drop_column('crisis_line')
        batch_op.drop_column('contact_line')
