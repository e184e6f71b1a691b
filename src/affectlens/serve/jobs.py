"""The job queue: jobs live in the database; a bounded pool of worker threads claims and runs them.

* admission: at most ``max_queued`` jobs wait; more are refused (503) instead of piling up;
* claiming is one conditional UPDATE (``queued`` → ``running``), safe with several workers;
* a stop of the server leaves the running jobs ``queued`` again (graceful) or ``running`` (crash);
  on the next start :meth:`JobQueue.recover` starts them again from the beginning, or marks them
  ``failed`` with the reason once ``max_attempts`` is reached or their upload is gone.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import func, select, update
from sqlalchemy.orm import sessionmaker

from affectlens.errors import AffectlensError, first_line
from affectlens.pipeline import Analyzer
from affectlens.serve.db import Job, utcnow
from affectlens.serve.errors import ApiError
from affectlens.serve.mediajob import Cancelled, run_media_job

log = logging.getLogger("affectlens.serve")


class JobQueue:
    def __init__(
        self,
        db: sessionmaker,
        jobs_dir: Path,
        analyzer_factory: Callable[[], Analyzer],
        workers: int = 1,
        max_queued: int = 64,
        max_attempts: int = 2,
    ):
        self.db = db
        self.jobs_dir = jobs_dir
        self.analyzer_factory = analyzer_factory
        self.workers = workers
        self.max_queued = max_queued
        self.max_attempts = max_attempts
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._admit = threading.Lock()

    # -- lifecycle --------------------------------------------------------------------------------
    def recover(self) -> list[str]:
        """After a restart: requeue (or fail, with the reason) the jobs a stopped server left running."""
        notes = []
        with self.db.begin() as s:
            for job in s.scalars(select(Job).where(Job.state.in_(("running", "queued")))):
                if not Path(job.input_path).exists():
                    self._fail(job, "the uploaded file is gone (removed while the server was stopped)")
                elif job.state == "running" and job.attempts >= self.max_attempts:
                    self._fail(job, f"the server stopped while processing this job {job.attempts} times; given up")
                elif job.state == "running":
                    job.state, job.frames_done = "queued", 0
                    job.note = f"the server stopped while processing (attempt {job.attempts}); started again"
                else:
                    continue
                notes.append(f"job {job.id}: {job.state} ({job.error or job.note})")
        for n in notes:
            log.warning(n)
        return notes

    def start(self) -> None:
        self._stop.clear()
        for i in range(self.workers):
            t = threading.Thread(target=self._work, name=f"affectlens-job-{i}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        for t in self._threads:
            t.join(timeout)
        self._threads.clear()

    # -- API --------------------------------------------------------------------------------------
    def new_id(self) -> str:
        return uuid.uuid4().hex

    def check_capacity(self) -> None:
        with self.db() as s:
            waiting = s.scalar(select(func.count()).select_from(Job).where(Job.state == "queued")) or 0
        if waiting >= self.max_queued:
            raise ApiError(503, f"{waiting} jobs are waiting already (limit {self.max_queued}); try again later")

    def submit(self, job: Job) -> Job:
        with self._admit:
            self.check_capacity()
            with self.db.begin() as s:
                s.add(job)
        self._wake.set()
        return job

    def get(self, job_id: str) -> Job:
        with self.db() as s:
            job = s.get(Job, job_id)
        if job is None:
            raise ApiError(404, f"no job {job_id}")
        return job

    def recent(self, limit: int = 100) -> list[Job]:
        with self.db() as s:
            return list(s.scalars(select(Job).order_by(Job.created_at.desc()).limit(limit)))

    def delete(self, job_id: str) -> None:
        job = self.get(job_id)
        if job.state == "running":
            raise ApiError(409, f"job {job_id} is running; delete it once it is done or failed")
        with self.db.begin() as s:
            s.execute(Job.__table__.delete().where(Job.id == job_id))
        shutil.rmtree(Path(job.out_dir).parent, ignore_errors=True)

    # -- workers ----------------------------------------------------------------------------------
    def _claim(self) -> Job | None:
        with self.db() as s:
            ids = list(
                s.scalars(select(Job.id).where(Job.state == "queued").order_by(Job.created_at).limit(self.workers))
            )
        for job_id in ids:
            with self.db.begin() as s:
                claimed = s.execute(
                    update(Job)
                    .where(Job.id == job_id, Job.state == "queued")
                    .values(state="running", attempts=Job.attempts + 1, started_at=utcnow(), frames_done=0)
                ).rowcount
            if claimed:
                return self.get(job_id)
        return None

    def _work(self) -> None:
        analyzer: Analyzer | None = None
        backoff = 0.0
        while not self._stop.is_set():
            try:
                job = self._claim()
                if job is None:
                    self._wake.wait(timeout=2.0)
                    self._wake.clear()
                    backoff = 0.0
                    continue
                if analyzer is None:
                    try:
                        analyzer = self.analyzer_factory()
                    except Exception as exc:  # e.g. a broken install: say so on the job instead of hanging
                        log.exception("cannot load the models")
                        self._finish(job, error=f"the server cannot load its models: {exc}")
                        continue
                self._run(analyzer, job)
                backoff = 0.0
            except Exception as exc:  # the database went away a moment (restart, failover): the worker lives on
                backoff = min(max(2 * backoff, 0.5), 30.0)
                log.warning(
                    "job worker: %s: %s; trying again in %.1f s", exc.__class__.__name__, first_line(exc), backoff
                )
                self._stop.wait(backoff)

    def _run(self, analyzer: Analyzer, job: Job) -> None:
        last = [0.0]

        def progress(done: int, total: int | None) -> None:
            now = time.monotonic()
            if now - last[0] >= 0.5 or (total and done >= total):
                last[0] = now
                with self.db.begin() as s:
                    s.execute(update(Job).where(Job.id == job.id).values(frames_done=done, frames_total=total))

        log.info("job %s: %s (%s) started", job.id, job.filename, job.kind)
        try:
            summary = run_media_job(
                analyzer,
                Path(job.input_path),
                job.kind,
                Path(job.out_dir),
                blur_faces=bool((job.options or {}).get("blur_faces")),
                name=job.filename,
                progress=progress,
                cancelled=self._stop.is_set,
            )
        except Cancelled:
            with self.db.begin() as s:
                s.execute(
                    update(Job)
                    .where(Job.id == job.id)
                    .values(state="queued", note="interrupted by a server stop; starts again on the next start")
                )
            return
        except AffectlensError as exc:
            self._finish(job, error=str(exc))
            return
        except Exception as exc:  # a bug or a full disk: the job fails with the reason, the worker lives on
            log.exception("job %s failed", job.id)
            self._finish(job, error=f"internal error: {exc.__class__.__name__}: {exc}")
            return
        self._finish(job, summary=summary)
        log.info("job %s: done (%s frames)", job.id, summary["frames"])

    def _finish(self, job: Job, summary: dict | None = None, error: str | None = None) -> None:
        """Record the job's end; its upload is deleted (the service keeps derived data only: README, Privacy)."""
        job_id = job.id
        if job.input_path:
            Path(job.input_path).unlink(missing_ok=True)
        values: dict = {"finished_at": utcnow(), "state": "failed" if error else "done", "error": error}
        if summary is not None:
            values |= {"summary": summary, "frames_done": summary["frames"], "frames_total": summary["frames"]}
            if summary.get("warning"):
                values["note"] = summary["warning"]
        with self.db.begin() as s:
            s.execute(update(Job).where(Job.id == job_id).values(**values))

    @staticmethod
    def _fail(job: Job, reason: str) -> None:
        job.state, job.error, job.finished_at = "failed", reason, utcnow()
