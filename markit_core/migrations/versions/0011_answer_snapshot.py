"""A stored, rebuildable copy of each large project's current answers (issue 13): ``answer_snapshot``.

A new table only, filled on first read; every existing row is kept.

Revision ID: 0011
Revises: 0010
"""
import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('answer_snapshot',
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('ledger_seq', sa.Integer(), nullable=False),
    sa.Column('ledger_hash', sa.String(length=64), nullable=False),
    sa.Column('max_annotation_id', sa.Integer(), nullable=False),
    sa.Column('answers', sa.Integer(), nullable=False),
    sa.Column('built_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('axes', sa.LargeBinary(), nullable=False),
    sa.Column('grades', sa.LargeBinary(), nullable=False),
    sa.Column('seconds', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], ),
    sa.PrimaryKeyConstraint('project_id')
    )


def downgrade() -> None:
    op.drop_table('answer_snapshot')
