"""Images, de-identification map, reports, annotations, reviews, reward runs, exports.

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('export_record',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('format', sa.String(length=16), nullable=False),
    sa.Column('rows', sa.Integer(), nullable=False),
    sa.Column('content_sha256', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], ),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('export_record', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_export_record_project_id'), ['project_id'], unique=False)

    op.create_table('case',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('stored_path', sa.String(length=255), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('original_name', sa.String(length=255), nullable=False),
    sa.Column('study_uid', sa.String(length=64), nullable=False),
    sa.Column('series_uid', sa.String(length=64), nullable=False),
    sa.Column('sop_uid', sa.String(length=64), nullable=False),
    sa.Column('accession', sa.String(length=64), nullable=False),
    sa.Column('modality', sa.String(length=16), nullable=False),
    sa.Column('view_position', sa.String(length=16), nullable=False),
    sa.Column('rows', sa.Integer(), nullable=False),
    sa.Column('cols', sa.Integer(), nullable=False),
    sa.Column('n_frames', sa.Integer(), nullable=False),
    sa.Column('burned_in_warning', sa.Boolean(), nullable=False),
    sa.Column('meta', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['created_by'], ['user_account.id'], ),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('project_id', 'content_hash')
    )
    with op.batch_alter_table('case', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_project_id'), ['project_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_case_study_uid'), ['study_uid'], unique=False)

    op.create_table('reward_run',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('run_by', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.Column('result', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], ),
    sa.ForeignKeyConstraint(['run_by'], ['user_account.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('reward_run', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reward_run_project_id'), ['project_id'], unique=False)

    op.create_table('uid_map',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('original', sa.String(length=255), nullable=False),
    sa.Column('pseudonym', sa.String(length=255), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('project_id', 'kind', 'original')
    )
    with op.batch_alter_table('uid_map', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_uid_map_project_id'), ['project_id'], unique=False)

    op.create_table('adjudication',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('label_id', sa.Integer(), nullable=False),
    sa.Column('value', sa.Boolean(), nullable=False),
    sa.Column('reviewer_id', sa.Integer(), nullable=False),
    sa.Column('note', sa.String(length=2000), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['case.id'], ),
    sa.ForeignKeyConstraint(['label_id'], ['label_def.id'], ),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], ),
    sa.ForeignKeyConstraint(['reviewer_id'], ['user_account.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('case_id', 'label_id')
    )
    with op.batch_alter_table('adjudication', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_adjudication_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_adjudication_project_id'), ['project_id'], unique=False)

    op.create_table('annotation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('annotator_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('deleted', sa.Boolean(), nullable=False),
    sa.Column('submit_token', sa.String(length=64), nullable=False),
    sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('total_seconds', sa.Float(), nullable=False),
    sa.Column('active_seconds', sa.Float(), nullable=False),
    sa.Column('idle_seconds', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['annotator_id'], ['user_account.id'], ),
    sa.ForeignKeyConstraint(['case_id'], ['case.id'], ),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('case_id', 'annotator_id', 'version'),
    sa.UniqueConstraint('submit_token')
    )
    with op.batch_alter_table('annotation', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_annotation_annotator_id'), ['annotator_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_annotation_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_annotation_project_id'), ['project_id'], unique=False)

    op.create_table('assignment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['case.id'], ),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], ),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('case_id', 'user_id')
    )
    with op.batch_alter_table('assignment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_assignment_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_assignment_project_id'), ['project_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_assignment_user_id'), ['user_id'], unique=False)

    op.create_table('case_origin',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=255), nullable=False),
    sa.Column('patient_id', sa.String(length=255), nullable=False),
    sa.Column('patient_name', sa.String(length=255), nullable=False),
    sa.Column('accession', sa.String(length=255), nullable=False),
    sa.Column('study_uid', sa.String(length=255), nullable=False),
    sa.Column('sop_uid', sa.String(length=255), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['case.id'], ),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('case_origin', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_origin_case_id'), ['case_id'], unique=True)
        batch_op.create_index(batch_op.f('ix_case_origin_project_id'), ['project_id'], unique=False)

    op.create_table('report',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('matched_on', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['case.id'], ),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('report', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_report_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_report_project_id'), ['project_id'], unique=False)

    op.create_table('annotation_value',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('annotation_id', sa.Integer(), nullable=False),
    sa.Column('label_id', sa.Integer(), nullable=False),
    sa.Column('value', sa.Boolean(), nullable=True),
    sa.Column('confidence', sa.Integer(), nullable=True),
    sa.Column('seconds', sa.Float(), nullable=True),
    sa.ForeignKeyConstraint(['annotation_id'], ['annotation.id'], ),
    sa.ForeignKeyConstraint(['label_id'], ['label_def.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('annotation_id', 'label_id')
    )
    with op.batch_alter_table('annotation_value', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_annotation_value_annotation_id'), ['annotation_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_annotation_value_label_id'), ['label_id'], unique=False)

    op.create_table('roi',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('annotation_id', sa.Integer(), nullable=False),
    sa.Column('label_id', sa.Integer(), nullable=False),
    sa.Column('shape', sa.String(length=16), nullable=False),
    sa.Column('frame', sa.Integer(), nullable=False),
    sa.Column('points', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['annotation_id'], ['annotation.id'], ),
    sa.ForeignKeyConstraint(['label_id'], ['label_def.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('roi', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_roi_annotation_id'), ['annotation_id'], unique=False)


def downgrade() -> None:
    op.drop_table('export_record')
    op.drop_table('roi')
    op.drop_table('annotation_value')
    op.drop_table('report')
    op.drop_table('case_origin')
    op.drop_table('assignment')
    op.drop_table('annotation')
    op.drop_table('adjudication')
    op.drop_table('uid_map')
    op.drop_table('reward_run')
    op.drop_table('case')

