"""A stored, rebuildable copy of each large project's current answers (issue 13): ``answer_snapshot``;
and an index on ``case (project_id, id)`` for the queue's change check.

A new table (filled on first read) and an index; every existing row is kept.

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
    with op.batch_alter_table('case', schema=None) as batch_op:
        batch_op.create_index('ix_case_project_id_id', ['project_id', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('case', schema=None) as batch_op:
        batch_op.drop_index('ix_case_project_id_id')
    op.drop_table('answer_snapshot')
