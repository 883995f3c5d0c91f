"""Issue 13: stored conversations (privacy.store_transcripts, off by default).

- transcripts: one row per visitor's turn: the session id hashed, the time, the message with personal
  details replaced (bot/redact.py), the kinds of the replies, the pair answered from and its confidence.
  Rows older than privacy.transcript_retention_days are deleted by the service (indexed on the time).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-10
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "transcripts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("session", sa.String(64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("reply_kinds", sa.String(200), nullable=False),
        sa.Column("pair_id", sa.String(120), nullable=True),
        sa.Column("confidence", sa.Float, nullable=True),
    )
    op.create_index("ix_transcripts_at", "transcripts", ["at"])
    op.create_index("ix_transcripts_session", "transcripts", ["session"])


def downgrade() -> None:
    raise NotImplementedError("the store is never downgraded; restore a backup of the database instead")
