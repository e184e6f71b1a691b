"""The study schema as SQLAlchemy ORM classes (the Alembic migrations in :mod:`affectlens.db` create it).

The tables; per-frame results live in Parquet files that ``recordings.result_path`` points at:

- ``studies``: one stimulus (the ad or content video) per study: its path, content hash, duration,
  frame rate and frame count, and the folder holding the study's Parquet files.
- ``recordings``: one respondent's webcam video: the respondent's pseudonym, the video's path and
  SHA-256 (never a copy of the video), the offset of the stimulus start into the recording, the
  processing state (``pending`` → ``running`` → ``done`` | ``failed``) with the claim that owns it,
  and the result: Parquet path (relative to the study folder) and counts.
- ``recording_tags``: ``key=value`` tags (age group, segment, …) of a recording.
- ``invites``: one link per remote respondent: the SHA-256 of its token (never the token), tags,
  expiry, revocation and the steps taken (opened, consented, started). Starting the session creates
  the respondent's recording (``source='remote'``, analysed live); leaving mid-way makes it ``partial``.
- ``erasures``: the audit trail of ``study forget`` / ``study delete``: who erased, when, in which
  study and how much (rows, files), never what (no respondent id, no data of theirs).

Privacy switches on ``studies``: ``require_consent`` (recordings without ``recordings.consent`` are
not processed) and ``keep_media`` (off by default: the study never holds a copy of a respondent's
video; on, ``study add`` copies it into the study folder's ``media/``).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy import Boolean, DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from affectlens.db import Base, utcnow

PENDING, RUNNING, DONE, FAILED = "pending", "running", "done", "failed"
PARTIAL = "partial"  # a remote respondent who left before the end: kept with the seconds watched
STATUSES = (PENDING, RUNNING, DONE, FAILED, PARTIAL)
WITH_RESULTS = (DONE, PARTIAL)  # states whose result rows count in the study's tables
UPLOAD, REMOTE = "upload", "remote"  # where a recording came from


class Study(Base):
    __tablename__ = "studies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    stimulus_path: Mapped[str] = mapped_column(Text)
    stimulus_sha256: Mapped[str] = mapped_column(String(64))
    stimulus_duration_s: Mapped[float] = mapped_column(Float)
    stimulus_fps: Mapped[float | None] = mapped_column(Float, nullable=True)
    stimulus_frames: Mapped[int | None] = mapped_column(Integer, nullable=True)
    data_dir: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    require_consent: Mapped[bool] = mapped_column(Boolean, default=False)
    keep_media: Mapped[bool] = mapped_column(Boolean, default=False)
    consent_text: Mapped[str | None] = mapped_column(Text, nullable=True)  # None: the default text
    model: Mapped[str | None] = mapped_column(Text, nullable=True)  # expression model; None: the default

    recordings: Mapped[list[Recording]] = relationship(
        back_populates="study", cascade="all, delete-orphan", passive_deletes=True
    )

    @property
    def model_name(self) -> str | None:
        """The model as people read it: a shipped name, or an ``.onnx`` file's name (None: the default)."""
        return Path(self.model).name if self.model else None


class Recording(Base):
    __tablename__ = "recordings"
    __table_args__ = (
        UniqueConstraint("study_id", "sha256", name="uq_recordings_study_sha256"),
        UniqueConstraint("study_id", "respondent", name="uq_recordings_study_respondent"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"), index=True)
    respondent: Mapped[str] = mapped_column(String(200))
    path: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    offset_s: Mapped[float] = mapped_column(Float, default=0.0)
    consent: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default=PENDING, index=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    claimed_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    result_path: Mapped[str | None] = mapped_column(Text, nullable=True)
    frames: Mapped[int | None] = mapped_column(Integer, nullable=True)
    face_frames: Mapped[int | None] = mapped_column(Integer, nullable=True)
    duration_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    added_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    source: Mapped[str] = mapped_column(String(16), default=UPLOAD)
    seconds_watched: Mapped[float | None] = mapped_column(Float, nullable=True)

    study: Mapped[Study] = relationship(back_populates="recordings")
    tags: Mapped[list[RecordingTag]] = relationship(
        back_populates="recording", cascade="all, delete-orphan", passive_deletes=True, lazy="selectin"
    )

    @property
    def tag_dict(self) -> dict[str, str]:
        return {t.key: t.value for t in self.tags}

    def watched_s(self, stimulus_duration_s: float) -> float | None:
        """Seconds of the stimulus the respondent saw: measured live (remote), else the recording's span
        after the offset (None until processed)."""
        if self.source == REMOTE:
            return self.seconds_watched
        if self.duration_s is None:
            return None
        return round(max(0.0, min(stimulus_duration_s, self.duration_s - self.offset_s)), 3)


class RecordingTag(Base):
    __tablename__ = "recording_tags"

    recording_id: Mapped[int] = mapped_column(ForeignKey("recordings.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))

    recording: Mapped[Recording] = relationship(back_populates="tags")


class Invite(Base):
    """A remote respondent's link: only the token's SHA-256 is stored."""

    __tablename__ = "invites"
    __table_args__ = (
        UniqueConstraint("token_sha256", name="uq_invites_token_sha256"),
        UniqueConstraint("study_id", "respondent", name="uq_invites_study_respondent"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"), index=True)
    respondent: Mapped[str] = mapped_column(String(200))
    token_sha256: Mapped[str] = mapped_column(String(64))
    tags: Mapped[str] = mapped_column(Text, default="{}")  # JSON object, copied to the recording on start
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    opened_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    consent_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class Erasure(Base):
    """One erasure: who asked, when, where and how much was removed; never whose data it was."""

    __tablename__ = "erasures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_name: Mapped[str] = mapped_column(String(200), index=True)
    action: Mapped[str] = mapped_column(String(32))  # forget_respondent | delete_study
    erased_by: Mapped[str] = mapped_column(String(200))
    erased_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    recordings: Mapped[int] = mapped_column(Integer, default=0)
    files: Mapped[int] = mapped_column(Integer, default=0)
