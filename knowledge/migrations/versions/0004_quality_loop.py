"""Issue 15: the quality loop (what visitors asked that the bot could not answer).

- misses: one row per visitor's question that ended in a fallback, a "did you mean" (clarify), a "None
  of these" or a not-helpful vote: the question with personal details replaced (bot/redact.py), what the
  bot replied, how the visitor went on, the candidates offered and the one chosen, and how an editor
  dealt with it. Rows older than quality.retention_days are deleted by the service (indexed on the time).
  No session id, hashed or not: turns are linked while the conversation lasts, outside the database.
- turn_counts: how many turns of each kind each day (no text): the dashboard's rates.
- scope_marks: clusters editors marked out of scope, with the reason visitors are given and the questions
  future messages are compared with; undoing one keeps its row.
- quality_actions: every suggestion an editor accepted (or undid), who and when.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-20
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "misses",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("question", sa.Text, nullable=False),
        sa.Column("reply_kind", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("candidates", sa.Text, nullable=False),
        sa.Column("chosen", sa.String(120), nullable=True),
        sa.Column("resolution", sa.String(16), nullable=True),
        sa.Column("resolved_ref", sa.String(120), nullable=True),
        sa.Column("resolved_by", sa.String(80), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_misses_at", "misses", ["at"])
    op.create_index("ix_misses_resolution", "misses", ["resolution"])
    op.create_table(
        "turn_counts",
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("count", sa.Integer, nullable=False),
    )
    op.create_table(
        "scope_marks",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("questions", sa.Text, nullable=False),
        sa.Column("created_by", sa.String(80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("undone_by", sa.String(80), nullable=True),
        sa.Column("undone_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "quality_actions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("by", sa.String(80), nullable=False),
        sa.Column("action", sa.String(24), nullable=False),
        sa.Column("pair_id", sa.String(120), nullable=True),
        sa.Column("revision", sa.Integer, nullable=True),
        sa.Column("mark_id", sa.Integer, nullable=True),
        sa.Column("miss_ids", sa.Text, nullable=False),
        sa.Column("note", sa.Text, nullable=True),
    )
    op.create_index("ix_quality_actions_at", "quality_actions", ["at"])


def downgrade() -> None:
    raise NotImplementedError("the store is never downgraded; restore a backup of the database instead")
