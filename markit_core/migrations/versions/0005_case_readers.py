"""case_readers: annotators with a current reading per case, for an atomic reader cap.

Existing rows are kept; the counters are filled from the annotations already
stored (annotators whose latest version of the case is not a deletion).

Revision ID: 0005
Revises: 0007
"""
import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0007'  # chain: 0003, 0008, 0007, 0005
branch_labels = None
depends_on = None

_BACKFILL = """
INSERT INTO case_readers (case_id, readers)
SELECT a.case_id, COUNT(*) FROM annotation a
WHERE NOT a.deleted
  AND a.version = (
      SELECT MAX(b.version) FROM annotation b
      WHERE b.case_id = a.case_id AND b.annotator_id = a.annotator_id
  )
GROUP BY a.case_id
"""


def upgrade() -> None:
    op.create_table('case_readers',
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('readers', sa.Integer(), server_default='0', nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['case.id'], ),
    sa.PrimaryKeyConstraint('case_id')
    )
    op.execute(_BACKFILL)


def downgrade() -> None:
    op.drop_table('case_readers')
