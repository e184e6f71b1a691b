"""The service on PostgreSQL (`--db postgresql+psycopg://…`): keys, jobs and studies in one database.

Uses the PostgreSQL server fixture of the studies tests (a server of our own on a free port);
skips, saying why, where no PostgreSQL can be started.
"""

from __future__ import annotations

import pytest

from tests.serve.conftest import run_cli, start_server, wait_job

try:
    from tests.studies.conftest import postgres_server, postgres_url  # noqa: F401  (fixtures)
except ImportError as exc:  # pragma: no cover
    pytest.skip(f"no PostgreSQL fixture ({exc})", allow_module_level=True)


def test_keys_jobs_and_studies_live_in_postgres(postgres_url, tmp_path, media):
    proc = run_cli("keys", "create", "--db", postgres_url, "--data-dir", str(tmp_path / "keys-only"))
    assert proc.returncode == 0, proc.stderr
    server = start_server(tmp_path / "data", "--db", postgres_url, key=proc.stdout.strip())
    try:
        with server.client() as c:
            clip = (media / "videos" / "faceapi_test_video.mp4").read_bytes()
            r = c.post("/v1/jobs", files={"file": ("clip.mp4", clip)})
            assert r.status_code == 202, r.text
            job = wait_job(c, r.json()["id"], 60)
            assert job["state"] == "done" and job["frames_done"] == 5
            assert c.get("/v1/studies").json() == []
            assert c.get("/v1/jobs", headers={"X-API-Key": "al_wrong_key"}).status_code == 401
        assert not (tmp_path / "data" / "serve.db").exists()  # nothing went to the default SQLite file
    finally:
        server.stop()
