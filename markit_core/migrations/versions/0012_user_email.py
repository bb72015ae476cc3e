"""Users' e-mail addresses, for single sign-on (issue 12): table ``user_email``.

A new table only: every existing row is kept, and logged accounts keep their ledger
digests (accounts without an address keep logging in with their password only).

Revision ID: 0012
Revises: 0011
"""
import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'  # issue 13's answer snapshot took 0011 on main
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('user_email',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], ),
    sa.PrimaryKeyConstraint('user_id')
    )
    with op.batch_alter_table('user_email', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_user_email_email'), ['email'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('user_email', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_user_email_email'))
    op.drop_table('user_email')
