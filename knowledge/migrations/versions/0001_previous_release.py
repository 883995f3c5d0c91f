"""The schema of the release before migrations, exactly: the store's tables and the api layer's.

Copied literally from that release's knowledge/store.py (qa_pairs, seed_log, feedback, flags),
api/auth.py (tokens) and api/accounts.py (users, web_sessions, signin_attempts); nothing is imported
from them, so later changes there cannot change what this migration made.

A database made by that release has these tables and no alembic_version: it is adopted by creating
only the tables it lacks (none, or those a partial start left out, e.g. only `tokens` after
`make token` on a fresh machine), so the same step serves a new and an old database.

Revision ID: 0001
Revises:
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _create(name: str, *columns: sa.Column) -> None:
    if not sa.inspect(op.get_bind()).has_table(name):
        op.create_table(name, *columns)


def upgrade() -> None:
    # knowledge/store.py
    _create(
        "qa_pairs",
        sa.Column("id", sa.String(80), primary_key=True),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(80), nullable=False),
    )
    _create(
        "seed_log",
        sa.Column("id", sa.String(80), primary_key=True),
        sa.Column("content_hash", sa.String(64), nullable=False),
    )
    _create(
        "feedback",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("pair_id", sa.String(120), nullable=False, index=True),
        sa.Column("helpful", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    _create(
        "flags",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("pair_id", sa.String(120), nullable=False, index=True),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("state", sa.String(8), nullable=False, index=True),
        sa.Column("created_by", sa.String(80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_by", sa.String(80), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("close_note", sa.Text, nullable=True),
    )
    # api/auth.py
    _create(
        "tokens",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("label", sa.String(120), nullable=False, default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    # api/accounts.py
    _create(
        "users",
        sa.Column("username", sa.String(64), primary_key=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("disabled", sa.Boolean, nullable=False, default=False),
    )
    _create(
        "web_sessions",
        sa.Column("session_hash", sa.String(64), primary_key=True),
        sa.Column("username", sa.String(64), nullable=False, index=True),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False, index=True),
    )
    _create(
        "signin_attempts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(64), nullable=False, index=True),
        sa.Column("client", sa.String(64), nullable=False, index=True),
        sa.Column("ok", sa.Boolean, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False, index=True),
    )


def downgrade() -> None:
    raise NotImplementedError("the store is never downgraded; restore a backup of the database instead")
