"""Ledger as a Merkle tree: a leaf hash per entry (backfilled), signing keys, signed tree heads.

Revision ID: 0007
Revises: 0008

The leaf hash of every existing entry is computed from its stored content in
batches, so an upgraded ledger is a Merkle tree from its first entry on;
no existing row is changed otherwise.
"""

import hashlib
import json

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0008'  # after main's 0008 (was 0003): one head
branch_labels = None
depends_on = None

# Frozen copy of the entry content of markit_core.ledger (a migration must not
# change when the application code does).
_FIELDS = ('seq', 'at', 'actor_id', 'actor', 'project_id', 'action', 'record_type',
           'record_id', 'record_digest', 'removed', 'prev_hash')
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(',', ':'), ensure_ascii=False)


def _leaf(row: dict) -> str:
    content = _ENCODER.encode([row[k] for k in _FIELDS]).encode('utf-8')
    return hashlib.sha256(b'\x00' + content).hexdigest()


def upgrade() -> None:
    with op.batch_alter_table('ledger_entry', schema=None) as batch_op:
        batch_op.add_column(sa.Column('leaf_hash', sa.String(length=64), nullable=True))
    conn = op.get_bind()
    entries = sa.table('ledger_entry', *(sa.column(c) for c in (*_FIELDS, 'leaf_hash')))
    last = 0
    while True:
        rows = conn.execute(
            sa.select(*(entries.c[k] for k in _FIELDS))
            .where(entries.c.seq > last).order_by(entries.c.seq).limit(5000)
        ).mappings().all()
        if not rows:
            break
        updates = []
        for r in rows:
            row = dict(r)
            row['removed'] = bool(row['removed'])
            updates.append({'s': row['seq'], 'h': _leaf(row)})
        conn.execute(
            entries.update().where(entries.c.seq == sa.bindparam('s'))
            .values(leaf_hash=sa.bindparam('h')), updates
        )
        last = rows[-1]['seq']

    op.create_table('signing_key',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=False),
    sa.Column('key_id', sa.String(length=64), nullable=False),
    sa.Column('public_key', sa.Text(), nullable=False),
    sa.Column('private_key', sa.Text(), nullable=False),
    sa.Column('retired', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['owner_id'], ['user_account.id'], ),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key_id')
    )
    with op.batch_alter_table('signing_key', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_signing_key_project_id'), ['project_id'], unique=False)
    op.create_table('tree_head',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('key_id', sa.String(length=64), nullable=False),
    sa.Column('tree_size', sa.Integer(), nullable=False),
    sa.Column('root_hash', sa.String(length=64), nullable=False),
    sa.Column('timestamp', sa.String(length=40), nullable=False),
    sa.Column('signature', sa.String(length=128), nullable=False),
    sa.Column('signed_by', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], ),
    sa.ForeignKeyConstraint(['signed_by'], ['user_account.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('tree_head', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tree_head_project_id'), ['project_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('tree_head', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_tree_head_project_id'))
    op.drop_table('tree_head')
    with op.batch_alter_table('signing_key', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_signing_key_project_id'))
    op.drop_table('signing_key')
    with op.batch_alter_table('ledger_entry', schema=None) as batch_op:
        batch_op.drop_column('leaf_hash')
