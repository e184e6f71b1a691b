"""The service's tables (upload jobs, hashed API keys) under the same migrations as the studies.

Databases the service made before this revision (with ``create_all``) already hold them: they are
kept as they are.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


# (name, type, options): the columns as the service's ORM classes (affectlens.serve.db) declare them
JOBS = [
    ("id", sa.String(32), {"primary_key": True}),
    ("state", sa.String(16), {"index": True}),
    ("kind", sa.String(8), {}),
    ("filename", sa.String(255), {}),
    ("input_path", sa.Text, {}),
    ("out_dir", sa.Text, {}),
    ("size_bytes", sa.Integer, {}),
    ("options", sa.JSON, {}),
    ("created_at", sa.DateTime, {}),
    ("started_at", sa.DateTime, {"nullable": True}),
    ("finished_at", sa.DateTime, {"nullable": True}),
    ("frames_done", sa.Integer, {}),
    ("frames_total", sa.Integer, {"nullable": True}),
    ("attempts", sa.Integer, {}),
    ("error", sa.Text, {"nullable": True}),
    ("note", sa.Text, {"nullable": True}),
    ("summary", sa.JSON, {"nullable": True}),
]
API_KEYS = [
    ("id", sa.String(16), {"primary_key": True}),
    ("name", sa.String(255), {}),
    ("secret_sha256", sa.String(64), {}),
    ("created_at", sa.DateTime, {}),
    ("revoked", sa.Boolean, {}),
]


def upgrade() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    for table, columns in (("serve_jobs", JOBS), ("serve_api_keys", API_KEYS)):
        if table not in existing:
            op.create_table(table, *(sa.Column(n, t, **{"nullable": False} | kw) for n, t, kw in columns))


def downgrade() -> None:
    op.drop_table("serve_api_keys")
    op.drop_table("serve_jobs")
