"""The database layer on SQLite and a real PostgreSQL server: schema, duplicates, atomic claims, stale claims."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest
from sqlalchemy import inspect, text

from affectlens.db import connect, head_revision
from affectlens.errors import AffectlensError
from affectlens.studies.models import DONE, FAILED, PENDING, RUNNING
from affectlens.studies.store import Finished, StudyStore, new_claimer
from tests.studies.conftest import STIM


def _study(store: StudyStore, n: int = 3):
    study = store.create_study("ad", STIM, "/tmp/ad")
    for i in range(n):
        store.add_recording(study, f"r{i}", f"/rec/{i}.mp4", f"{i:064x}", 0.5 * i, {"group": "ab"[i % 2]})
    return study


def test_migrations_create_the_schema_once(db_url):
    engine = connect(db_url)
    connect(db_url).dispose()  # a second open finds the schema at head: no-op
    insp = inspect(engine)
    assert {"studies", "recordings", "recording_tags", "alembic_version"} <= set(insp.get_table_names())
    with engine.connect() as c:
        assert c.execute(text("select version_num from alembic_version")).scalar_one() == head_revision()
    engine.dispose()


def test_create_add_and_duplicates(store):
    study = _study(store, 2)
    assert store.study("ad").stimulus_duration_s == 10.0
    with pytest.raises(AffectlensError, match="already exists"):
        store.create_study("ad", STIM, "/tmp/ad")
    with pytest.raises(AffectlensError, match="no study named 'nope'"):
        store.study("nope")
    with pytest.raises(AffectlensError, match="same content"):
        store.add_recording(study, "r9", "/rec/copy-of-0.mp4", f"{0:064x}", 0, {})
    with pytest.raises(AffectlensError, match="already has a recording"):
        store.add_recording(study, "r1", "/rec/other.mp4", "f" * 64, 0, {})
    recs = store.recordings(study)
    assert [r.respondent for r in recs] == ["r0", "r1"]
    assert recs[1].tag_dict == {"group": "b"} and recs[1].offset_s == 0.5
    assert store.counts(study)[PENDING] == 2


def test_claims_are_atomic_under_contention(store):
    study = _study(store, 6)
    claimers = [new_claimer() for _ in range(4)]
    got: dict[str, list[int]] = {c: [] for c in claimers}

    def grab(c: str) -> None:
        own = StudyStore(store.engine)
        while (rec := own.claim(study, c)) is not None:
            got[c].append(rec.id)

    threads = [threading.Thread(target=grab, args=(c,)) for c in claimers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ids = [i for v in got.values() for i in v]
    assert sorted(ids) == sorted({r.id for r in store.recordings(study)})  # every one claimed exactly once
    assert all(r.attempts == 1 and r.status == RUNNING for r in store.recordings(study))


def test_finish_fail_release_only_by_the_claimer(store):
    study = _study(store, 4)
    me, other = new_claimer(), new_claimer()
    a, b, c = (store.claim(study, me) for _ in range(3))
    d = store.claim(study, other)
    assert not store.finish(a.id, other, Finished("results/1.parquet", 10, 9, 1.0))  # not theirs
    assert store.finish(a.id, me, Finished("results/1.parquet", 10, 9, 1.0))
    assert not store.finish(a.id, me, Finished("results/1.parquet", 10, 9, 1.0))  # already done
    assert store.fail(b.id, me, "bad video")
    assert store.release_all(study, me) == 1  # an interrupted run gives back what it still holds: c
    by = {r.id: r for r in store.recordings(study)}
    assert by[d.id].status == RUNNING and by[d.id].claimed_by == other
    assert (by[a.id].status, by[a.id].face_frames, by[a.id].result_path) == (DONE, 9, "results/1.parquet")
    assert (by[b.id].status, by[b.id].error) == (FAILED, "bad video")
    assert by[c.id].status == PENDING and by[c.id].claimed_by is None
    assert store.retry_failed(study) == 1
    assert store.counts(study)[PENDING] == 2


def test_stale_claims_of_dead_processes_are_reclaimed(store):
    study = _study(store, 2)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    host = new_claimer().split(":")[0]
    dead_claimer = f"{host}:{dead.stdout.strip()}:deadbeef"
    alive_claimer = new_claimer()
    first = store.claim(study, dead_claimer)
    second = store.claim(study, alive_claimer)
    assert store.reclaim_stale(study, stale_after_s=600) == 1  # only the dead one
    by = {r.id: r for r in store.recordings(study)}
    assert by[first.id].status == PENDING and by[second.id].status == RUNNING
    # a live claim with an old heartbeat is stale too (another host, a hung process)
    assert store.reclaim_stale(study, stale_after_s=-1) == 1
    again = store.claim(study, alive_claimer)
    assert again is not None and again.attempts == 2


def test_claims_are_judged_by_the_databases_clock_not_each_machines(store, monkeypatch):
    """A worker whose clock ran 15 minutes late wrote heartbeats that a reader with a right clock took for stale
    (its running recording reclaimed and processed twice); a reader 15 minutes ahead did the same to everyone."""
    from datetime import timedelta

    import affectlens.studies.store as store_module
    from affectlens.db import utcnow

    study = _study(store, 2)
    monkeypatch.setattr(store_module, "utcnow", lambda: utcnow() - timedelta(minutes=15))  # the late worker
    late = store.claim(study, new_claimer())
    store.heartbeat([late.id], late.claimed_by)
    monkeypatch.setattr(store_module, "utcnow", lambda: utcnow() + timedelta(minutes=15))  # a reader ahead
    on_time = store.claim(study, new_claimer())
    assert store.reclaim_stale(study, stale_after_s=600) == 0
    assert {r.status for r in store.recordings(study)} == {RUNNING}
    assert on_time is not None
    assert store.reclaim_stale(study, stale_after_s=-1) == 2  # old heartbeats are still found stale


def test_heartbeat_keeps_a_long_claim_fresh(store):
    import time

    from affectlens.studies.runner import _Heartbeat

    study = _study(store, 1)
    me = new_claimer()
    rec = store.claim(study, me)
    beat = _Heartbeat(store, me, {rec.id: rec}, every_s=0.05)
    beat.start()
    time.sleep(1.2)
    beat.stop()
    fresh = store.recordings(study)[0]
    assert fresh.heartbeat_at > fresh.claimed_at
    assert store.reclaim_stale(study, stale_after_s=0.5) == 0  # alive and beating: not stale


def test_a_claim_of_another_pid_namespace_on_this_host_is_not_taken_for_dead():
    """Two containers sharing a host name (docker --uts=host, a hostNetwork pod) cannot see each other's
    processes: a run in one took the other's running recording back as 'dead' and both processed it."""
    import socket

    from affectlens.studies.store import _claimer_dead, new_claimer

    here = new_claimer().rsplit(":", 2)[0]
    assert _claimer_dead(f"{here}:999999999:x")  # this namespace, no such process: gone
    assert not _claimer_dead(f"{socket.gethostname()}/1:999999999:x")  # another namespace: not ours to judge
    assert not _claimer_dead(f"{socket.gethostname()}:999999999:x")  # an older release's claim: its heartbeat decides


def test_a_deleted_study_made_again_under_its_name_gets_a_new_engine(home):
    """The engine cache knew a study's SQLite file by its inode, which a file system reuses: a study deleted
    and made again in one process could get the old engine back, its migration skipped."""
    from affectlens import db
    from affectlens.studies import add_recording, create_study, delete_study
    from affectlens.studies.locations import locate
    from tests.studies.conftest import clip

    create_study("again", clip("intel_classroom_four_people.mp4"))
    url = locate("again").url
    assert url in db._engines
    delete_study("again", erased_by="test")
    assert url not in db._engines
    create_study("again", clip("intel_classroom_four_people.mp4"))
    add_recording("again", clip("expressions_man.mp4"), "r1")
