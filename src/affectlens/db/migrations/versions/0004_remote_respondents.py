"""Remote respondents: per-respondent invite links, where a recording came from, seconds watched, consent text.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision, down_revision = "0004", "0003"
branch_labels = depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("studies") as t:
        t.add_column(sa.Column("consent_text", sa.Text, nullable=True))
    with op.batch_alter_table("recordings") as t:
        t.add_column(sa.Column("source", sa.String(16), nullable=False, server_default="upload"))
        t.add_column(sa.Column("seconds_watched", sa.Float, nullable=True))
    op.create_table(
        "invites",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("study_id", sa.Integer, sa.ForeignKey("studies.id", ondelete="CASCADE"), nullable=False),
        sa.Column("respondent", sa.String(200), nullable=False),
        sa.Column("token_sha256", sa.String(64), nullable=False),
        sa.Column("tags", sa.Text, nullable=False, server_default="{}"),
        *(sa.Column(c, sa.DateTime, nullable=False) for c in ("created_at", "expires_at")),
        *(sa.Column(c, sa.DateTime, nullable=True) for c in ("revoked_at", "opened_at", "consent_at", "started_at")),
        sa.UniqueConstraint("token_sha256", name="uq_invites_token_sha256"),
        sa.UniqueConstraint("study_id", "respondent", name="uq_invites_study_respondent"),
    )
    op.create_index("ix_invites_study_id", "invites", ["study_id"])


def downgrade() -> None:
    op.drop_index("ix_invites_study_id", "invites")
    op.drop_table("invites")
    for table, columns in (("recordings", ("seconds_watched", "source")), ("studies", ("consent_text",))):
        with op.batch_alter_table(table) as t:
            for c in columns:
                t.drop_column(c)
