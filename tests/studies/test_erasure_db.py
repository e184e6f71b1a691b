"""Erasure against a busy database: files go before the compaction, which waits a bounded time and says so."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from affectlens.studies.privacy import forget
from tests.studies.conftest import STIM


def _study_with_result(store, tmp_path: Path):
    study = store.create_study("s", STIM, str(tmp_path / "data"))
    rec = store.add_recording(study, "r1", "/v/r1.mp4", "b" * 64, 0.0, {"segment": "SEGSECRET"})
    store.add_recording(study, "r2", "/v/r2.mp4", "c" * 64, 0.0, {})
    result = tmp_path / "data" / "results" / f"{rec.id}.parquet"
    result.parent.mkdir(parents=True)
    result.write_bytes(b"per-frame rows of r1")
    return study, result


def test_files_go_even_when_the_compaction_is_interrupted(store, tmp_path, monkeypatch):
    study, result = _study_with_result(store, tmp_path)

    def interrupted(*_a, **_k):
        raise KeyboardInterrupt  # Ctrl-C while VACUUM waits

    monkeypatch.setattr(store, "compact", interrupted)
    with pytest.raises(KeyboardInterrupt):
        forget(store, study, "r1")
    assert not result.exists()  # was: left for good (a second forget finds no respondent)
    assert [r.respondent for r in store.recordings(study)] == ["r2"]


def test_forget_beside_an_open_sqlite_reader_is_quick_and_says_so(tmp_path):
    from affectlens.db import connect, dispose
    from affectlens.studies.store import StudyStore

    url = f"sqlite:///{tmp_path / 'study.db'}"
    store = StudyStore(connect(url))
    study, result = _study_with_result(store, tmp_path)
    reader = sqlite3.connect(tmp_path / "study.db")
    reader.execute("BEGIN")
    reader.execute("select count(*) from recordings").fetchone()  # a report being built: a read snapshot
    try:
        t = time.monotonic()
        erased = forget(store, study, "r1")
        took = time.monotonic() - t
    finally:
        reader.rollback()
        reader.close()
    assert took < 10  # was: 30 s (the busy timeout), then a "busy" result nobody read
    assert erased.recordings == 1 and not result.exists()
    assert erased.note and "another connection" in erased.note
    assert store.compact() is None  # once the reader is gone the compaction goes through
    data = b"".join(p.read_bytes() for p in tmp_path.glob("study.db*"))
    assert b"SEGSECRET" not in data
    dispose(url)


def test_forget_beside_an_open_postgres_transaction_does_not_hang(postgres_url, tmp_path):
    import psycopg

    from affectlens.db import connect
    from affectlens.studies.store import StudyStore

    store = StudyStore(connect(postgres_url))
    study, result = _study_with_result(store, tmp_path)
    reader = psycopg.connect(postgres_url.replace("+psycopg", ""))
    reader.execute("select count(*) from recordings").fetchone()  # idle in transaction
    out: list = []
    worker = threading.Thread(target=lambda: out.append(forget(store, study, "r1")), daemon=True)
    try:
        worker.start()
        worker.join(30)
        hung = worker.is_alive()
    finally:
        reader.rollback()
        reader.close()
        worker.join(30)
    assert not hung  # was: VACUUM FULL waited for the lock for ever, every other client queued behind it
    erased = out[0]
    assert erased.recordings == 1 and not result.exists()
    assert erased.note and "postponed" in erased.note
    assert store.compact() is None
