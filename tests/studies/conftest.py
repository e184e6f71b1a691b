"""Fixtures of the study tests: a private studies home, and a throwaway PostgreSQL server."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from affectlens.db import connect, dispose
from affectlens.studies.store import NewStimulus, StudyStore
from tests.conftest import need

VIDEOS = Path(os.environ.get("AFFECTLENS_DATA", Path(__file__).resolve().parents[2].parent / "shared" / "data"))
VIDEOS = VIDEOS / "media" / "videos"


def clip(name: str) -> Path:
    return need(VIDEOS / name)


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """A fresh ``AFFECTLENS_HOME`` (studies under HOME/studies) for the test and its subprocesses."""
    monkeypatch.setenv("AFFECTLENS_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("AFFECTLENS_DB", raising=False)
    return tmp_path / "home"


def _pg_bin() -> Path | None:
    for d in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(d, "initdb").exists() and Path(d, "pg_ctl").exists():
            return Path(d)
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb and shutil.which("pg_ctl") else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def postgres_server():
    """A PostgreSQL server of our own on a free local port (trust auth), stopped at the end.

    As root, the server runs as the ``postgres`` user (PostgreSQL refuses to run as root).
    Skips, saying why, only when no server can be started here.
    """
    bin_dir = _pg_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL tests skipped: no initdb/pg_ctl found (apt-get install postgresql)")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("PostgreSQL tests skipped: psycopg is not installed (pip install 'psycopg[binary]')")
    root = Path(tempfile.mkdtemp(prefix="affectlens-pg-"))
    prefix: list[str] = []
    if os.geteuid() == 0:
        if not shutil.which("runuser"):
            pytest.skip("PostgreSQL tests skipped: running as root without `runuser` to drop privileges")
        try:
            import pwd

            pw = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("PostgreSQL tests skipped: running as root and there is no `postgres` user")
        os.chown(root, pw.pw_uid, pw.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    os.chmod(root, 0o755)
    data, port = root / "data", _free_port()
    run = {"capture_output": True, "text": True, "timeout": 120}
    init = subprocess.run(
        [*prefix, str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "affectlens", "--no-sync"], **run
    )
    if init.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(f"PostgreSQL tests skipped: initdb failed: {init.stderr.strip()[-300:]}")
    opts = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    ctl = [*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-w", "-t", "60"]
    start = subprocess.run([*ctl, "-o", opts, "start"], **run)
    if start.returncode != 0:
        log = (root / "log").read_text()[-300:] if (root / "log").exists() else start.stderr
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(f"PostgreSQL tests skipped: the server did not start: {log.strip()}")
    try:
        yield f"postgresql+psycopg://affectlens@127.0.0.1:{port}"
    finally:
        subprocess.run([*ctl, "-m", "fast", "stop"], **run)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server) -> Iterator[str]:
    """A fresh, empty database on the test server."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"{postgres_server.replace('+psycopg', '')}/postgres", autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    yield f"{postgres_server}/{name}"
    dispose(f"{postgres_server}/{name}")  # the process's engine on it: its idle connections count on the server


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path) -> str:
    """Each store test runs against SQLite and a real PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'study.db'}"
    return request.getfixturevalue("postgres_url")


STIM = NewStimulus("/media/ad.mp4", "0" * 64, 10.0, 30.0, 300)  # a stimulus row for store-level tests


@pytest.fixture
def store(db_url) -> StudyStore:
    """A StudyStore on each database of ``db_url`` (SQLite and PostgreSQL)."""
    s = StudyStore(connect(db_url))
    yield s
    s.engine.dispose()
