"""Studies, recordings and recording tags.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "studies",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("stimulus_path", sa.Text, nullable=False),
        sa.Column("stimulus_sha256", sa.String(64), nullable=False),
        sa.Column("stimulus_duration_s", sa.Float, nullable=False),
        sa.Column("stimulus_fps", sa.Float, nullable=True),
        sa.Column("stimulus_frames", sa.Integer, nullable=True),
        sa.Column("data_dir", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "recordings",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("study_id", sa.Integer, sa.ForeignKey("studies.id", ondelete="CASCADE"), nullable=False),
        sa.Column("respondent", sa.String(200), nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("offset_s", sa.Float, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("claimed_by", sa.String(200), nullable=True),
        sa.Column("claimed_at", sa.DateTime, nullable=True),
        sa.Column("heartbeat_at", sa.DateTime, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("result_path", sa.Text, nullable=True),
        sa.Column("frames", sa.Integer, nullable=True),
        sa.Column("face_frames", sa.Integer, nullable=True),
        sa.Column("duration_s", sa.Float, nullable=True),
        sa.Column("added_at", sa.DateTime, nullable=False),
        sa.Column("finished_at", sa.DateTime, nullable=True),
        sa.UniqueConstraint("study_id", "sha256", name="uq_recordings_study_sha256"),
        sa.UniqueConstraint("study_id", "respondent", name="uq_recordings_study_respondent"),
    )
    op.create_index("ix_recordings_study_id", "recordings", ["study_id"])
    op.create_index("ix_recordings_status", "recordings", ["status"])
    op.create_table(
        "recording_tags",
        sa.Column("recording_id", sa.Integer, sa.ForeignKey("recordings.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("key", sa.String(100), primary_key=True),
        sa.Column("value", sa.String(200), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("recording_tags")
    op.drop_index("ix_recordings_status", "recordings")
    op.drop_index("ix_recordings_study_id", "recordings")
    op.drop_table("recordings")
    op.drop_table("studies")
