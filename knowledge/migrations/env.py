"""Alembic's environment for the store: run by knowledge.store.upgrade_schema with the connection in
config.attributes["connection"] (inside the caller's transaction), never with a URL of its own."""

from __future__ import annotations

from alembic import context

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("the store's migrations run from knowledge.store.upgrade_schema, which passes a connection")

context.configure(connection=connection, target_metadata=None)
with context.begin_transaction():
    context.run_migrations()
