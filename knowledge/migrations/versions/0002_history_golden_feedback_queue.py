"""Issue 11: soft delete, revisions, golden questions, the not-helpful feedback queue.

- qa_pairs: deleted_at, deleted_by (a deleted pair keeps its row and history); on PostgreSQL the ids
  of qa_pairs and seed_log widen to 120 characters, the length the pair schema allows (SQLite does
  not enforce lengths).
- revisions: one row per change of a pair (append-only). Every pair already in the database gets its
  first revision now, holding its content as it is, so it can be reverted to.
- golden: golden questions; store_markers: things done once (seeding the golden questions).
- feedback: state (open/closed), closed_by, closed_at, close_note; existing votes start open.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

NOTE = "history starts here: the pair as it was when revisions were introduced"


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.alter_column("qa_pairs", "id", type_=sa.String(120), existing_nullable=False)
        op.alter_column("seed_log", "id", type_=sa.String(120), existing_nullable=False)
    op.add_column("qa_pairs", sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("qa_pairs", sa.Column("deleted_by", sa.String(80), nullable=True))

    revisions = op.create_table(
        "revisions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("pair_id", sa.String(120), sa.ForeignKey("qa_pairs.id"), nullable=False),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("by", sa.String(80), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("fields", sa.Text, nullable=False),
        sa.Column("old", sa.Text, nullable=False),
        sa.Column("new", sa.Text, nullable=False),
        sa.Column("pair", sa.Text, nullable=True),
        sa.Column("note", sa.Text, nullable=True),
        sa.UniqueConstraint("pair_id", "number", name="uq_revisions_pair_number"),
    )
    op.create_index("ix_revisions_pair_id", "revisions", ["pair_id"])
    op.create_index("ix_revisions_at", "revisions", ["at"])

    op.create_table(
        "golden",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("question", sa.Text, nullable=False),
        sa.Column("pair_id", sa.String(120), nullable=False),
        sa.Column("created_by", sa.String(80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_golden_pair_id", "golden", ["pair_id"])
    op.create_table(
        "store_markers",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )

    op.add_column("feedback", sa.Column("state", sa.String(8), nullable=False, server_default="open"))
    op.add_column("feedback", sa.Column("closed_by", sa.String(80), nullable=True))
    op.add_column("feedback", sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("feedback", sa.Column("close_note", sa.Text, nullable=True))
    op.create_index("ix_feedback_state", "feedback", ["state"])

    # Each existing pair's first revision: its content now (its number is its version now).
    qa_pairs = sa.table(
        "qa_pairs",
        sa.column("id", sa.String),
        sa.column("data", sa.Text),
        sa.column("version", sa.Integer),
        sa.column("updated_at", sa.DateTime(timezone=True)),
        sa.column("updated_by", sa.String),
    )
    rows = []
    for r in bind.execute(sa.select(qa_pairs)):
        data = json.loads(r.data)
        data.pop("id", None)
        rows.append(
            {
                "pair_id": r.id,
                "number": r.version,
                "at": r.updated_at,
                "by": r.updated_by,
                "action": "create" if r.version == 1 else "update",
                "fields": json.dumps(list(data)),
                "old": "{}",
                "new": json.dumps(data, ensure_ascii=False),
                "pair": r.data,
                "note": NOTE,
            }
        )
    if rows:
        op.bulk_insert(revisions, rows)


def downgrade() -> None:
    raise NotImplementedError("the store is never downgraded; restore a backup of the database instead")
