"""Every recording of a study is read by one expression model: the study records which.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision, down_revision = "0005", "0004"
branch_labels = depends_on = None


def upgrade() -> None:
    # NULL: a study made before studies recorded their model (it runs with the default)
    op.add_column("studies", sa.Column("model", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("studies") as t:  # SQLite drops a column by copying the table
        t.drop_column("model")
