"""Reward quality-control settings per project (AI trust level, minimum positives, gate).

Revision ID: 0008
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('reward_settings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('trust_level', sa.Float(), nullable=False),
    sa.Column('min_positives', sa.Integer(), nullable=False),
    sa.Column('trusted_ai_only', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('reward_settings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reward_settings_project_id'), ['project_id'], unique=True)


def downgrade() -> None:
    with op.batch_alter_table('reward_settings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reward_settings_project_id'))
    op.drop_table('reward_settings')
