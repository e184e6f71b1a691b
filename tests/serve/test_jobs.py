"""Video jobs: upload → queue → progress → CSV / JSONL / Parquet and annotated video; restarts."""

from __future__ import annotations

import io
import json
import shutil
import signal
import time

import av
import pandas as pd

from tests.serve.conftest import start_server, wait_job

CLIP = "intel_two_people_head_pose.mp4"  # 4.7 s, 2 faces, 56 frames


def test_video_job_end_to_end(server, media):
    with server.client() as c:
        r = c.post("/v1/jobs", files={"file": (CLIP, (media / "videos" / CLIP).read_bytes(), "video/mp4")})
        assert r.status_code == 202, r.text
        job = r.json()
        assert job["state"] == "queued" and job["kind"] == "video" and job["filename"] == CLIP
        r = c.get(f"/v1/jobs/{job['id']}/results/faces")
        assert r.status_code in (409, 200)  # 409 until it is done (unless it already is)
        seen = set()
        deadline = time.monotonic() + 120
        while (job := c.get(f"/v1/jobs/{job['id']}").json())["state"] not in ("done", "failed"):
            seen.add((job["state"], job["progress"]))
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert job["state"] == "done", job
        assert job["progress"] == 1.0 and job["frames_done"] == job["frames_total"] == 56
        assert job["summary"]["tracks"] >= 2
        folder = server.data_dir / "jobs" / job["id"]
        assert not list(folder.glob("input.*"))  # the upload is deleted once processed (README, Privacy)

        csv = pd.read_csv(io.BytesIO(c.get(job["links"]["faces.csv"]).content))
        jsonl = [json.loads(line) for line in c.get(job["links"]["faces.jsonl"]).text.splitlines()]
        parquet = pd.read_parquet(io.BytesIO(c.get(job["links"]["faces.parquet"]).content))
        assert len(csv) == len(jsonl) == len(parquet) > 50
        assert {"track_id", "label", "p_happiness", "engagement", "state"} <= set(csv.columns)
        assert set(csv["source"]) == {CLIP}  # the upload's name, never the server's path
        rows = c.get(f"/v1/jobs/{job['id']}/results/seconds", params={"format": "json"}).json()
        assert rows and {"second", "track_id", "mean_engagement"} <= set(rows[0])
        tracks = c.get(f"/v1/jobs/{job['id']}/results/tracks", params={"format": "json"}).json()
        assert len(tracks) == job["summary"]["tracks"]

        r = c.get(job["links"]["annotated"])
        assert r.status_code == 200 and r.headers["content-type"] == "video/mp4"
        with av.open(io.BytesIO(r.content)) as v:
            assert sum(1 for _ in v.decode(video=0)) == 56
        r = c.get(job["links"]["annotated"], headers={"Range": "bytes=0-99"})  # <video> seeks with ranges
        assert r.status_code == 206 and len(r.content) == 100

        assert any(j["id"] == job["id"] for j in c.get("/v1/jobs").json())
        assert c.delete(f"/v1/jobs/{job['id']}").status_code == 204
        assert c.get(f"/v1/jobs/{job['id']}").status_code == 404
        assert not (server.data_dir / "jobs" / job["id"]).exists()


def test_image_job_gives_an_annotated_jpeg(server, media):
    with server.client() as c:
        r = c.post("/v1/jobs", files={"file": ("x.bin", (media / "expressions" / "happy.jpg").read_bytes())})
        assert r.status_code == 202 and r.json()["kind"] == "image"
        job = wait_job(c, r.json()["id"], 60)
        assert job["state"] == "done", job
        r = c.get(job["links"]["annotated"])
        assert r.headers["content-type"] == "image/jpeg" and r.content[:3] == b"\xff\xd8\xff"
        faces = c.get(job["links"]["faces.jsonl"]).text.splitlines()
        assert json.loads(faces[0])["label"] == "happiness"


def _insert_job(data_dir, job_id, state, attempts, input_path):
    from affectlens.serve.db import Job, open_database

    db = open_database(f"sqlite:///{data_dir / 'serve.db'}")
    with db.begin() as s:
        s.add(
            Job(
                id=job_id,
                state=state,
                kind="video",
                filename=CLIP,
                input_path=str(input_path),
                out_dir=str(data_dir / "jobs" / job_id / "out"),
                attempts=attempts,
                options={},
            )
        )


def test_jobs_left_running_by_a_stopped_server_are_resumed_or_failed_with_reason(tmp_path, media):
    data = tmp_path / "data"
    for job_id, attempts in (("resume", 1), ("givenup", 2)):
        (data / "jobs" / job_id).mkdir(parents=True)
        shutil.copy(media / "videos" / CLIP, data / "jobs" / job_id / "input.mp4")
        _insert_job(data, job_id, "running", attempts, data / "jobs" / job_id / "input.mp4")
    _insert_job(data, "gone", "running", 1, data / "jobs" / "gone" / "input.mp4")
    server = start_server(data, "--no-auth")
    try:
        with server.client() as c:
            resumed = wait_job(c, "resume", 120)
            assert resumed["state"] == "done" and resumed["attempts"] == 2
            assert "server stopped" in resumed["note"]
            failed = c.get("/v1/jobs/givenup").json()
            assert failed["state"] == "failed" and "stopped while processing" in failed["error"]
            gone = c.get("/v1/jobs/gone").json()
            assert gone["state"] == "failed" and "gone" in gone["error"]
    finally:
        server.stop()


def test_a_job_killed_with_the_server_finishes_after_restart(tmp_path, media):
    data = tmp_path / "data"
    server = start_server(data, "--no-auth")
    try:
        with server.client() as c:
            clip = (media / "videos" / "short_hamilton_clip.mp4").read_bytes()  # 275 frames: time to kill it
            job_id = c.post("/v1/jobs", files={"file": ("ham.mp4", clip)}).json()["id"]
            wait_job(c, job_id, 60, until=("running", "done", "failed"))
        server.stop(signal.SIGKILL)
    finally:
        server.stop(signal.SIGKILL)
    server = start_server(data, "--no-auth")
    try:
        with server.client() as c:
            job = wait_job(c, job_id, 180)
            assert job["state"] == "done" and job["attempts"] == 2, job
    finally:
        server.stop()


def test_a_graceful_stop_puts_the_running_job_back_in_the_queue(tmp_path, media):
    import sqlite3

    data = tmp_path / "data"
    server = start_server(data, "--no-auth")
    try:
        with server.client() as c:
            clip = (media / "videos" / "short_hamilton_clip.mp4").read_bytes()
            job_id = c.post("/v1/jobs", files={"file": ("ham.mp4", clip)}).json()["id"]
            job = wait_job(c, job_id, 60, until=("running", "done", "failed"))
            assert job["state"] == "running"
        t = time.monotonic()
        server.stop(signal.SIGTERM)
        assert server.proc.returncode in (0, -signal.SIGTERM) and time.monotonic() - t < 15  # uvicorn re-raises it
    finally:
        server.stop(signal.SIGKILL)
    with sqlite3.connect(data / "serve.db") as db:
        state, note = db.execute("select state, note from serve_jobs where id = ?", (job_id,)).fetchone()
    assert state == "queued" and "server stop" in note


def test_a_video_cut_short_says_so_in_its_note(server, media):
    clip = (media / "videos" / CLIP).read_bytes()
    with server.client() as c:
        r = c.post("/v1/jobs", files={"file": ("half.mp4", clip[: len(clip) // 2])})  # index intact, data cut
        assert r.status_code == 202, r.text
        job = wait_job(c, r.json()["id"], 60)
    assert job["state"] in ("done", "failed")
    if job["state"] == "done":
        assert job["frames_done"] < 56 and "decoded" in job["note"]
    else:
        assert "corrupt" in job["error"] or "truncated" in job["error"]
