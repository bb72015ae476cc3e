"""Cases whose images stay in a registered DICOMweb archive (issue 13): ``case_archive_ref``.

A new table only; every existing row is kept (existing cases stay in the local store).

Revision ID: 0010
Revises: 0009
"""
import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('case_archive_ref',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('archive_id', sa.Integer(), nullable=False),
    sa.Column('stored_path', sa.String(length=255), nullable=False),
    sa.Column('study_uid', sa.String(length=255), nullable=False),
    sa.Column('series_uid', sa.String(length=255), nullable=False),
    sa.Column('sop_uid', sa.String(length=255), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['archive_id'], ['remote_archive.id'], ),
    sa.ForeignKeyConstraint(['case_id'], ['case.id'], ),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('case_archive_ref', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_archive_ref_archive_id'), ['archive_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_case_archive_ref_case_id'), ['case_id'], unique=True)
        batch_op.create_index(batch_op.f('ix_case_archive_ref_project_id'), ['project_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_case_archive_ref_stored_path'), ['stored_path'], unique=True)


def downgrade() -> None:
    with op.batch_alter_table('case_archive_ref', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_archive_ref_stored_path'))
        batch_op.drop_index(batch_op.f('ix_case_archive_ref_project_id'))
        batch_op.drop_index(batch_op.f('ix_case_archive_ref_case_id'))
        batch_op.drop_index(batch_op.f('ix_case_archive_ref_archive_id'))
    op.drop_table('case_archive_ref')
