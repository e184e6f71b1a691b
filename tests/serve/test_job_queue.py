"""The job queue's workers outlive a database blip; job timestamps say they are UTC."""

from __future__ import annotations

import json
import time
from datetime import datetime

from sqlalchemy.exc import OperationalError

from affectlens.serve.db import Job, open_database
from affectlens.serve.jobs import JobQueue


def test_a_database_blip_does_not_kill_the_worker(tmp_path):
    db = open_database(f"sqlite:///{tmp_path / 'serve.db'}")
    ran: list[str] = []
    queue = JobQueue(db, tmp_path / "jobs", lambda: object(), workers=1)
    queue._run = lambda analyzer, job: (ran.append(job.id), queue._finish(job, summary={"frames": 0}))
    claim, blips = queue._claim, [3]

    def flaky_claim():
        if blips[0]:
            blips[0] -= 1
            raise OperationalError("select", {}, Exception("server closed the connection unexpectedly"))
        return claim()

    queue._claim = flaky_claim
    queue.start()
    try:
        time.sleep(0.5)
        queue.submit(Job(id="j1", state="queued", kind="video", filename="a.mp4", input_path="/x", out_dir="/y/out"))
        deadline = time.monotonic() + 20
        while queue.get("j1").state != "done" and time.monotonic() < deadline:
            time.sleep(0.1)
        assert [t.is_alive() for t in queue._threads] == [True]  # was: the thread died at the first error
        assert ran == ["j1"] and queue.get("j1").state == "done"
    finally:
        queue.stop()


def test_job_timestamps_are_utc():
    from affectlens.serve.routes.jobs import JobInfo

    job = Job(
        id="j",
        state="done",
        kind="image",
        filename="a.jpg",
        size_bytes=1,
        created_at=datetime(2024, 5, 1, 12, 0, 0),
        started_at=datetime(2024, 5, 1, 12, 0, 1),
        finished_at=None,
        frames_done=1,
        frames_total=1,
        attempts=1,
    )
    out = json.loads(JobInfo.of(job).model_dump_json())
    assert out["created_at"] == "2024-05-01T12:00:00Z" and out["started_at"] == "2024-05-01T12:00:01Z"
