"""Annotation drafts: an annotator's unsaved work per case, kept on the server.

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('annotation_draft',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('annotator_id', sa.Integer(), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['annotator_id'], ['user_account.id'], ),
    sa.ForeignKeyConstraint(['case_id'], ['case.id'], ),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('case_id', 'annotator_id')
    )
    with op.batch_alter_table('annotation_draft', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_annotation_draft_annotator_id'), ['annotator_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_annotation_draft_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_annotation_draft_project_id'), ['project_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('annotation_draft', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_annotation_draft_project_id'))
        batch_op.drop_index(batch_op.f('ix_annotation_draft_case_id'))
        batch_op.drop_index(batch_op.f('ix_annotation_draft_annotator_id'))

    op.drop_table('annotation_draft')
