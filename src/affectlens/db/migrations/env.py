"""Alembic environment, configured in code (no alembic.ini): the caller passes an open connection.

The revisions spell out their tables, so no model metadata is imported here (the database layer sits
below the studies and the service that define the ORM classes).
"""

from __future__ import annotations

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=None, render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
