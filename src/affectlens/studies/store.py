"""All database reads and writes of studies: create, add, claim, finish, fail, release.

Claims are atomic in any database: ``UPDATE recordings SET status='running', claimed_by=:me
WHERE id=:id AND status='pending'`` succeeds (rowcount 1) for exactly one claimer. A claim whose
process died (same host, pid gone) or whose heartbeat is older than ``stale_after_s`` is put back
to ``pending`` with the same conditional update, so no recording is ever processed twice at once.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from affectlens.db import db_utcnow
from affectlens.errors import AffectlensError, Conflict, NotFound, first_line
from affectlens.studies.models import (
    DONE,
    FAILED,
    PARTIAL,
    PENDING,
    REMOTE,
    RUNNING,
    Erasure,
    Invite,
    Recording,
    RecordingTag,
    Study,
    utcnow,
)

log = logging.getLogger("affectlens.studies")

#: how long an erasure's compaction waits for the database (another connection's transaction) before it gives up
COMPACT_WAIT_S = 5.0
#: SQLite: how long the log's checkpoint waits for another connection's read to end
SQLITE_CHECKPOINT_WAIT_S = 2.0


def _host() -> str:
    """This host as claims name it: its name and its PID namespace (containers sharing a host name, a
    `docker --uts=host` or a Kubernetes hostNetwork pod, see other PIDs: a process of another namespace is
    not gone because this one cannot see it)."""
    try:
        ns = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        ns = 0
    return f"{socket.gethostname()}/{ns}"


def new_claimer() -> str:
    """Who claims: ``host/pidns:pid:nonce``."""
    return f"{_host()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _claimer_dead(claimer: str | None) -> bool:
    """True when ``claimer`` ran on this host, in this PID namespace, and its process is gone (a claim of
    another namespace or of an older release, ``host:pid:nonce``, waits for its heartbeat to go stale)."""
    try:
        host, pid, _ = (claimer or "").rsplit(":", 2)
        pid_n = int(pid)
    except ValueError:
        return False
    if host != _host():
        return False
    try:
        os.kill(pid_n, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def new_recording(study: Study, respondent: str, path: str, sha256: str, tags: dict[str, str], **values) -> Recording:
    """A recording row to add (``pending`` unless ``values`` say otherwise), with its tags."""
    values = {"offset_s": 0.0, "status": PENDING, "attempts": 0, "added_at": utcnow()} | values
    tag_rows = [RecordingTag(key=k, value=v) for k, v in tags.items()]
    return Recording(study_id=study.id, respondent=respondent, path=path, sha256=sha256, tags=tag_rows, **values)


@dataclass(frozen=True)
class NewStimulus:
    path: str
    sha256: str
    duration_s: float
    fps: float | None
    frames: int | None


@dataclass(frozen=True)
class Finished:
    result_path: str
    frames: int
    face_frames: int
    duration_s: float | None


class StudyStore:
    """The tables of one database (which may hold many studies)."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.session = sessionmaker(engine, expire_on_commit=False)

    # -- studies ------------------------------------------------------------------------------
    def create_study(
        self,
        name: str,
        stimulus: NewStimulus,
        data_dir: str,
        require_consent: bool = False,
        keep_media: bool = False,
        consent_text: str | None = None,
        model: str | None = None,
    ) -> Study:
        study = Study(
            consent_text=consent_text,
            model=model,
            require_consent=require_consent,
            keep_media=keep_media,
            name=name,
            stimulus_path=stimulus.path,
            stimulus_sha256=stimulus.sha256,
            stimulus_duration_s=stimulus.duration_s,
            stimulus_fps=stimulus.fps,
            stimulus_frames=stimulus.frames,
            data_dir=data_dir,
            created_at=utcnow(),
        )
        with self.session() as s:
            s.add(study)
            try:
                s.commit()
            except IntegrityError:
                raise Conflict(f"study {name!r} already exists") from None
        return study

    def study(self, name: str) -> Study:
        with self.session() as s:
            study = s.scalar(select(Study).where(Study.name == name))
        if study is None:
            raise NotFound(f"no study named {name!r} (create it with `affectlens study create`)")
        return study

    def study_by_id(self, study_id: int) -> Study:
        with self.session() as s:
            study = s.get(Study, study_id)
        if study is None:
            raise NotFound(f"no study with id {study_id}")
        return study

    # -- recordings ---------------------------------------------------------------------------
    def add_recording(
        self,
        study: Study,
        respondent: str,
        path: str,
        sha256: str,
        offset_s: float,
        tags: dict[str, str],
        consent: bool = False,
    ) -> Recording:
        with self.session() as s:
            same = s.scalar(select(Recording).where(Recording.study_id == study.id, Recording.sha256 == sha256))
            if same is not None:
                raise AffectlensError(
                    f"{path}: same content (SHA-256) as the recording of respondent {same.respondent!r} "
                    f"already in study {study.name!r} ({same.path})"
                )
            taken = s.scalar(
                select(Recording).where(Recording.study_id == study.id, Recording.respondent == respondent)
            )
            if taken is not None:
                raise Conflict(f"respondent {respondent!r} already has a recording in {study.name!r}")
            invited = s.scalar(select(Invite.id).where(Invite.study_id == study.id, Invite.respondent == respondent))
            if invited is not None:  # their live session would make a second recording of the same respondent
                raise Conflict(
                    f"respondent {respondent!r} has an invite link in {study.name!r}; give the upload another "
                    "pseudonym, or revoke and forget the invite first"
                )
            rec = new_recording(study, respondent, path, sha256, tags, offset_s=offset_s, consent=consent)
            s.add(rec)
            try:
                s.commit()
            except IntegrityError:  # a concurrent `study add` of the same file or respondent
                raise Conflict(f"{path}: already in study {study.name!r} (same content or respondent)") from None
            return rec

    def recordings(self, study: Study, status: str | None = None) -> list[Recording]:
        q = select(Recording).where(Recording.study_id == study.id).order_by(Recording.id)
        if status:
            q = q.where(Recording.status == status)
        with self.session() as s:
            return list(s.scalars(q))

    def counts(self, study: Study) -> Counter:
        return Counter(r.status for r in self.recordings(study))

    def set_path(self, rid: int, path: str) -> None:
        with self.session() as s:
            s.execute(update(Recording).where(Recording.id == rid).values(path=path))
            s.commit()

    def without_consent(self, study: Study) -> list[Recording]:
        """Pending recordings that a consent-requiring study will not process."""
        if not study.require_consent:
            return []
        return [r for r in self.recordings(study, PENDING) if not r.consent]

    # -- erasure ------------------------------------------------------------------------------
    def forget(
        self, study: Study, respondent: str, erased_by: str, files: int, compact: bool = True
    ) -> list[Recording]:
        """Delete every row of ``respondent`` in ``study`` and audit it, in one transaction (then compact, unless
        the caller does so once it has removed the files: :func:`affectlens.studies.privacy.forget`)."""
        with self.session() as s:
            recs = list(
                s.scalars(select(Recording).where(Recording.study_id == study.id, Recording.respondent == respondent))
            )
            invites = s.execute(
                delete(Invite).where(Invite.study_id == study.id, Invite.respondent == respondent)
            ).rowcount
            if not recs and not invites:
                raise NotFound(f"no respondent {respondent!r} in study {study.name!r}")
            busy = [r for r in recs if r.status == RUNNING]
            if busy:
                s.rollback()
                raise Conflict(f"respondent {respondent!r} is being processed now; forget them once {_when(busy)}")
            ids = [r.id for r in recs]
            s.execute(delete(RecordingTag).where(RecordingTag.recording_id.in_(ids)))
            s.execute(delete(Recording).where(Recording.id.in_(ids)))
            s.add(self._erasure(study.name, "forget_respondent", erased_by, len(ids), files))
            s.commit()
        if compact:
            self.compact()
        return recs

    def delete_study(self, study: Study, erased_by: str, files: int, compact: bool = True) -> int:
        """Delete the study and all its rows; the audit row (study name, counts) stays."""
        with self.session() as s:
            recs = list(s.scalars(select(Recording).where(Recording.study_id == study.id)))
            busy = [r for r in recs if r.status == RUNNING]
            if busy:  # a worker or a live session would write its result into the deleted study's folder
                raise Conflict(
                    f"study {study.name!r} has {len(busy)} recording(s) in progress; delete it once {_when(busy)}"
                )
            ids = [r.id for r in recs]
            if ids:
                s.execute(delete(RecordingTag).where(RecordingTag.recording_id.in_(ids)))
                s.execute(delete(Recording).where(Recording.id.in_(ids)))
            s.execute(delete(Study).where(Study.id == study.id))
            s.add(self._erasure(study.name, "delete_study", erased_by, len(ids), files))
            s.commit()
        if compact:
            self.compact()
        return len(ids)

    def exists(self, rid: int) -> bool:
        with self.session() as s:
            return s.get(Recording, rid) is not None

    def erasures(self, study_name: str | None = None) -> list[Erasure]:
        q = select(Erasure).order_by(Erasure.id)
        if study_name:
            q = q.where(Erasure.study_name == study_name)
        with self.session() as s:
            return list(s.scalars(q))

    @staticmethod
    def _erasure(name: str, action: str, by: str, recordings: int, files: int) -> Erasure:
        return Erasure(
            study_name=name, action=action, erased_by=by, erased_at=utcnow(), recordings=recordings, files=files
        )

    def compact(self, wait_s: float = COMPACT_WAIT_S) -> str | None:
        """Rewrite the storage so deleted rows leave no trace in free pages (SQLite) or dead tuples (PostgreSQL).

        It needs the database to itself for a moment; another connection's open transaction would make it wait
        (PostgreSQL's VACUUM FULL queues every other client behind it) or fail to truncate the log (SQLite). It
        waits at most ``wait_s`` and then returns why the compaction was postponed (None: done); it never raises.
        """
        dialect = self.engine.dialect.name
        if dialect not in ("sqlite", "postgresql"):
            return None
        try:
            with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                if dialect == "sqlite":
                    return _compact_sqlite(conn, min(wait_s, SQLITE_CHECKPOINT_WAIT_S))
                conn.exec_driver_sql(f"SET lock_timeout = {int(wait_s * 1000)}")
                try:
                    conn.exec_driver_sql("VACUUM FULL recordings, recording_tags, invites, studies")
                finally:
                    conn.rollback()  # after an error the connection takes no statement before a rollback
                    conn.exec_driver_sql("RESET lock_timeout")
        except Exception as exc:  # lock timeout, database locked, connection lost
            note = (
                f"compaction postponed ({first_line(exc)}): another connection is using the database, so the erased "
                "rows may remain in its storage until the next erasure compacts it"
            )
            log.warning(note)
            return note
        return None

    # -- claims -------------------------------------------------------------------------------
    def claim(self, study: Study, claimer: str) -> Recording | None:
        """Atomically take the next pending recording of ``study`` for ``claimer`` (None: nothing left)."""
        while True:
            with self.session() as s:
                q = select(Recording.id).where(Recording.study_id == study.id, Recording.status == PENDING)
                if study.require_consent:
                    q = q.where(Recording.consent.is_(True))
                ids = list(s.scalars(q.order_by(Recording.id).limit(8)))
            if not ids:
                return None
            for rid in ids:
                now = db_utcnow()  # claims are judged stale against the database's clock, whoever made them
                with self.session() as s:
                    res = s.execute(
                        update(Recording)
                        .where(Recording.id == rid, Recording.status == PENDING)
                        .values(
                            status=RUNNING,
                            claimed_by=claimer,
                            claimed_at=now,
                            heartbeat_at=now,
                            attempts=Recording.attempts + 1,
                            error=None,
                        )
                        .execution_options(synchronize_session=False)
                    )
                    s.commit()
                    if res.rowcount == 1:
                        return s.get(Recording, rid)

    def heartbeat(self, ids: list[int], claimer: str) -> None:
        if not ids:
            return
        with self.session() as s:
            s.execute(
                update(Recording)
                .where(Recording.id.in_(ids), Recording.claimed_by == claimer, Recording.status == RUNNING)
                .values(heartbeat_at=db_utcnow())
                .execution_options(synchronize_session=False)
            )
            s.commit()

    def reclaim_stale(self, study: Study, stale_after_s: float) -> int:
        """Put back to pending the running claims of dead processes or with an old heartbeat.

        A remote session (analysed live, there is no video to process again) whose server died or
        went silent is settled as ``partial`` instead: its rows up to the last flush are kept."""
        n = 0
        running = self.recordings(study, RUNNING)
        now = self._db_now() if running else None
        for rec in running:
            if rec.source == REMOTE:
                n += self._settle_remote(rec, now)
                continue
            cutoff = now - timedelta(seconds=stale_after_s)
            if not (_claimer_dead(rec.claimed_by) or (rec.heartbeat_at or rec.claimed_at or cutoff) < cutoff):
                continue
            n += self._set(rec.id, rec.claimed_by, RUNNING, status=PENDING, claimed_by=None)
        return n

    def _db_now(self) -> datetime:
        """The database's clock: heartbeats are written by it, so a machine whose own clock is minutes off neither
        reclaims the work of live processes nor keeps dead claims."""
        with self.session() as s:
            return s.scalar(select(db_utcnow()))

    def settle_remote(self, study: Study) -> int:
        """Settle the remote sessions whose server is gone (see :meth:`reclaim_stale`)."""
        remote = [r for r in self.recordings(study, RUNNING) if r.source == REMOTE]
        now = self._db_now() if remote else None
        return sum(self._settle_remote(r, now) for r in remote)

    def _settle_remote(self, rec: Recording, now: datetime, silent_after_s: float = 120.0) -> int:
        cutoff = now - timedelta(seconds=silent_after_s)
        if not (_claimer_dead(rec.claimed_by) or (rec.heartbeat_at or rec.claimed_at or cutoff) < cutoff):
            return 0
        return self._set(rec.id, rec.claimed_by, RUNNING, status=PARTIAL, finished_at=utcnow())

    def remote_progress(self, rid: int, claimer: str, so_far: Finished) -> bool:
        """A live session's rows so far are on disk: record them and beat the claim's heart."""
        return bool(self._set(rid, claimer, RUNNING, heartbeat_at=db_utcnow(), **self._remote_result(so_far)))

    def remote_finish(self, rid: int, claimer: str, result: Finished, status: str) -> bool:
        """End a live session as ``done`` or ``partial`` (False: the claim was lost)."""
        return bool(
            self._set(rid, claimer, RUNNING, status=status, finished_at=utcnow(), **self._remote_result(result))
        )

    @staticmethod
    def _remote_result(r: Finished) -> dict:
        """A live session's result columns (its duration is the stimulus time watched)."""
        return {
            "result_path": r.result_path,
            "frames": r.frames,
            "face_frames": r.face_frames,
            "seconds_watched": r.duration_s,
            "duration_s": r.duration_s,
        }

    def finish(self, rid: int, claimer: str, done: Finished) -> bool:
        """Mark a claimed recording done with its result, in one transaction (False: claim lost)."""
        return bool(
            self._set(
                rid,
                claimer,
                RUNNING,
                status=DONE,
                result_path=done.result_path,
                frames=done.frames,
                face_frames=done.face_frames,
                duration_s=done.duration_s,
                finished_at=utcnow(),
                error=None,
            )
        )

    def fail(self, rid: int, claimer: str, error: str) -> bool:
        return bool(self._set(rid, claimer, RUNNING, status=FAILED, error=error[:4000], finished_at=utcnow()))

    def release_all(self, study: Study, claimer: str) -> int:
        """Give back every claim ``claimer`` holds in ``study`` (an interrupted run), including one an interrupt
        caught between the database's commit and the claim reaching the caller."""
        with self.session() as s:
            res = s.execute(
                update(Recording)
                .where(Recording.study_id == study.id, Recording.status == RUNNING, Recording.claimed_by == claimer)
                .values(status=PENDING, claimed_by=None)
                .execution_options(synchronize_session=False)
            )
            s.commit()
            return res.rowcount

    def retry_failed(self, study: Study) -> int:
        with self.session() as s:
            res = s.execute(
                update(Recording)
                .where(Recording.study_id == study.id, Recording.status == FAILED)
                .values(status=PENDING, claimed_by=None)
                .execution_options(synchronize_session=False)
            )
            s.commit()
            return res.rowcount

    def _set(self, rid: int, claimer: str | None, current: str, /, **values) -> int:
        with Session(self.engine) as s:
            res = s.execute(
                update(Recording)
                .where(Recording.id == rid, Recording.status == current, Recording.claimed_by == claimer)
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            s.commit()
            return res.rowcount


def _compact_sqlite(conn, wait_s: float) -> str | None:
    conn.exec_driver_sql(f"PRAGMA busy_timeout={int(wait_s * 1000)}")
    try:
        conn.exec_driver_sql("VACUUM")
        busy, _log, _done = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()
    finally:
        conn.exec_driver_sql("PRAGMA busy_timeout=30000")
    if not busy:
        return None
    note = (
        "compaction incomplete: another connection is reading the database, so its file keeps the erased rows "
        "until their rewrite is copied in from the write-ahead log (SQLite does so once every other connection "
        "to it has closed, or at the next erasure)"
    )
    log.warning(note)
    return note


def _when(busy: list[Recording]) -> str:
    """When the recordings in progress will be done: a live session ends, or a batch run does."""
    return "the live session ends" if all(r.source == REMOTE for r in busy) else "`study run` ends"
