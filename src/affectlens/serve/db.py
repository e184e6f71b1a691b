"""The service's tables (SQLAlchemy 2): video/image jobs and hashed API keys.

SQLite by default (a file in the data folder, WAL mode); any SQLAlchemy URL with ``--db``
(e.g. ``postgresql+psycopg://...``). Table names start with ``serve_`` so the service can share
a database with the studies; :mod:`affectlens.db` holds the engine, the pragmas and the migrations.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, DateTime, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, sessionmaker

from affectlens.db import Base, sessions, utcnow

__all__ = ["ApiKey", "Job", "open_database", "utcnow"]


class Job(Base):
    __tablename__ = "serve_jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    state: Mapped[str] = mapped_column(String(16), index=True)  # queued | running | done | failed
    kind: Mapped[str] = mapped_column(String(8))  # video | image
    filename: Mapped[str] = mapped_column(String(255))
    input_path: Mapped[str] = mapped_column(Text)
    out_dir: Mapped[str] = mapped_column(Text)
    size_bytes: Mapped[int] = mapped_column(Integer, default=0)
    options: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    frames_done: Mapped[int] = mapped_column(Integer, default=0)
    frames_total: Mapped[int | None] = mapped_column(Integer, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    summary: Mapped[dict | None] = mapped_column(JSON, nullable=True)


class ApiKey(Base):
    __tablename__ = "serve_api_keys"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    secret_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


def open_database(url: str) -> sessionmaker:
    """A session factory on ``url``, its schema migrated to head; a bad URL is an :class:`AffectlensError`."""
    return sessions(url)
