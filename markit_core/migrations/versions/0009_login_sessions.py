"""Login sessions (a hashed cookie token per browser login, so a reload keeps the login)
and per-project reading options (blinded reading: hide the report from readers).

Revision ID: 0009
Revises: 0006
"""
import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0006'  # chain: 0003, 0008, 0007, 0005, 0004, 0006, 0009
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('login_session',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('login_session', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_login_session_token_hash'), ['token_hash'], unique=True)
        batch_op.create_index(batch_op.f('ix_login_session_user_id'), ['user_id'], unique=False)
    op.create_table('project_reading_options',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('show_report', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('project_reading_options', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_project_reading_options_project_id'), ['project_id'], unique=True)


def downgrade() -> None:
    with op.batch_alter_table('project_reading_options', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_project_reading_options_project_id'))
    op.drop_table('project_reading_options')
    with op.batch_alter_table('login_session', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_login_session_user_id'))
        batch_op.drop_index(batch_op.f('ix_login_session_token_hash'))

    op.drop_table('login_session')
