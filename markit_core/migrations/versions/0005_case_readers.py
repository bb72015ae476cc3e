"""Case.readers: the number of annotators with a current reading, for an atomic reader cap.

Existing rows are kept; the counter is filled from the annotations already
stored (annotators whose latest version of the case is not a deletion).

Revision ID: 0005
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0003'
branch_labels = None
depends_on = None

_BACKFILL = """
UPDATE "case" SET readers = (
    SELECT COUNT(*) FROM annotation a
    WHERE a.case_id = "case".id
      AND NOT a.deleted
      AND a.version = (
          SELECT MAX(b.version) FROM annotation b
          WHERE b.case_id = a.case_id AND b.annotator_id = a.annotator_id
      )
)
"""


def upgrade() -> None:
    with op.batch_alter_table('case', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('readers', sa.Integer(), nullable=False, server_default='0')
        )
    op.execute(_BACKFILL)


def downgrade() -> None:
    with op.batch_alter_table('case', schema=None) as batch_op:
        batch_op.drop_column('readers')
