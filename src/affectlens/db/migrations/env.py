"""Alembic environment, configured in code (no alembic.ini): the caller passes an open connection.

The revisions spell out their tables, so no model metadata is imported here (the database layer sits
below the studies and the service that define the ORM classes).

On SQLite a revision that changes a table rebuilds it (batch mode: copy, DROP, rename); with foreign keys
on, that DROP would cascade into the child tables (a recording's tags, a study's recordings). They are
turned off for the migration (SQLite ignores the pragma inside a transaction: :func:`affectlens.db.migrate`
turns them off before its own) and checked after; the engine turns them on again when the connection
goes back to its pool.
"""

from __future__ import annotations

from alembic import context

connection = context.config.attributes["connection"]
sqlite = connection.dialect.name == "sqlite"
if sqlite:
    connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
context.configure(connection=connection, target_metadata=None, render_as_batch=sqlite)
with context.begin_transaction():
    context.run_migrations()
    if sqlite:
        orphans = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        if orphans:
            raise RuntimeError(f"the migration left rows without their parent row: {orphans[:3]}")
