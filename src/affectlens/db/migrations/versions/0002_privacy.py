"""Privacy: consent per recording, consent and media policy per study, the erasure audit table.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("studies") as t:
        t.add_column(sa.Column("require_consent", sa.Boolean, nullable=False, server_default=sa.false()))
        t.add_column(sa.Column("keep_media", sa.Boolean, nullable=False, server_default=sa.false()))
    with op.batch_alter_table("recordings") as t:
        t.add_column(sa.Column("consent", sa.Boolean, nullable=False, server_default=sa.false()))
    op.create_table(
        "erasures",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("study_name", sa.String(200), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("erased_by", sa.String(200), nullable=False),
        sa.Column("erased_at", sa.DateTime, nullable=False),
        sa.Column("recordings", sa.Integer, nullable=False),
        sa.Column("files", sa.Integer, nullable=False),
    )
    op.create_index("ix_erasures_study_name", "erasures", ["study_name"])


def downgrade() -> None:
    op.drop_index("ix_erasures_study_name", "erasures")
    op.drop_table("erasures")
    with op.batch_alter_table("recordings") as t:
        t.drop_column("consent")
    with op.batch_alter_table("studies") as t:
        t.drop_column("keep_media")
        t.drop_column("require_consent")
