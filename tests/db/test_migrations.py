"""The database layer: one engine per URL, atomic migrations that keep child rows, safe concurrent first opens."""

from __future__ import annotations

import multiprocessing
import sqlite3
from datetime import datetime

import pytest
from alembic import command
from sqlalchemy import create_engine, event, text

from affectlens.db import _alembic_config, _sqlite_pragmas, connect, dispose, head_revision, migrate
from affectlens.errors import AffectlensError

NOW = datetime(2024, 1, 1)


def _engine_at(url: str, rev: str):
    """A database made by an older release: migrated to ``rev`` only, with its pragmas."""
    eng = create_engine(url)
    if url.startswith("sqlite"):
        event.listen(eng, "connect", _sqlite_pragmas)
    with eng.begin() as conn:
        cfg = _alembic_config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, rev)
    return eng


def _one_study_with_a_tagged_recording(conn) -> None:
    conn.execute(
        text(
            "insert into studies (id,name,stimulus_path,stimulus_sha256,stimulus_duration_s,data_dir,created_at) "
            "values (1,'s','/x','a',10,'/d',:n)"
        ),
        {"n": NOW},
    )
    conn.execute(
        text(
            "insert into recordings (id,study_id,respondent,path,sha256,offset_s,status,attempts,added_at) "
            "values (1,1,'r1','/r','b',0,'pending',0,:n)"
        ),
        {"n": NOW},
    )
    conn.execute(text("insert into recording_tags values (1,'age','18')"))


def _counts(eng) -> dict:
    with eng.connect() as c:
        tables = ("studies", "recordings", "recording_tags")
        return {t: c.execute(text(f"select count(*) from {t}")).scalar() for t in tables}


def test_upgrade_rebuilding_tables_keeps_child_rows(tmp_path):
    # 0002 and 0005 rebuild recordings/studies in batch mode: with foreign keys on, the DROP cascaded
    url = f"sqlite:///{tmp_path / 'old.db'}"
    eng = _engine_at(url, "0001")
    with eng.begin() as conn:
        _one_study_with_a_tagged_recording(conn)
    migrate(eng)
    assert _counts(eng) == {"studies": 1, "recordings": 1, "recording_tags": 1}
    with eng.connect() as c:  # foreign keys are on again for the application
        assert c.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    eng.dispose()


def test_downgrade_keeps_child_rows(tmp_path):
    url = f"sqlite:///{tmp_path / 'd.db'}"
    eng = connect(url)
    with eng.begin() as conn:
        _one_study_with_a_tagged_recording(conn)
    with eng.begin() as conn:
        cfg = _alembic_config()
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0004")
    assert _counts(eng) == {"studies": 1, "recordings": 1, "recording_tags": 1}
    with eng.connect() as c:
        assert c.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    dispose(url)


def test_interrupted_sqlite_migration_leaves_the_old_schema(tmp_path, monkeypatch):
    import alembic.runtime.migration as m

    url = f"sqlite:///{tmp_path / 'half.db'}"
    _engine_at(url, "0004").dispose()

    def interrupted(self, step):  # Ctrl-C after 0005's DDL, before its version row
        raise KeyboardInterrupt

    with monkeypatch.context() as mp:
        mp.setattr(m.HeadMaintainer, "update_to_step", interrupted)
        with pytest.raises(KeyboardInterrupt):
            connect(url)
    with sqlite3.connect(tmp_path / "half.db") as raw:
        assert raw.execute("select version_num from alembic_version").fetchone()[0] == "0004"
        assert "model" not in [r[1] for r in raw.execute("pragma table_info(studies)")]
    eng = connect(url)  # was: "duplicate column name: model", the database could not be opened again
    with eng.connect() as c:
        assert c.exec_driver_sql("select version_num from alembic_version").scalar() == head_revision()
    dispose(url)


def _open_at_once(barrier, url, queue):
    barrier.wait()
    try:
        connect(url)
        queue.put("ok")
    except BaseException as exc:
        queue.put(f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}")


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_concurrent_first_opens_migrate_once(backend, tmp_path, request):
    url = request.getfixturevalue("postgres_url") if backend == "postgresql" else f"sqlite:///{tmp_path / 'r.db'}"
    ctx = multiprocessing.get_context("fork")
    barrier, queue = ctx.Barrier(4), ctx.Queue()
    procs = [ctx.Process(target=_open_at_once, args=(barrier, url, queue)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [queue.get(timeout=5) for _ in procs] == ["ok"] * 4  # was: IntegrityError / "already exists"


def test_one_engine_per_url_and_a_deleted_file_is_migrated_again(tmp_path):
    url = f"sqlite:///{tmp_path / 's' / 'study.db'}"
    eng = connect(url)
    assert connect(url) is eng
    dispose(url)
    (tmp_path / "s" / "study.db").unlink()
    for f in tmp_path.glob("s/study.db-*"):
        f.unlink()
    again = connect(url)  # a study deleted and created again under the same name: a new, migrated file
    with again.connect() as c:
        assert c.exec_driver_sql("select count(*) from studies").scalar() == 0
    dispose(url)


def test_calls_do_not_pile_up_postgres_connections(postgres_url):
    import psycopg

    from affectlens.studies.store import StudyStore

    base, name = postgres_url.replace("+psycopg", "").rsplit("/", 1)
    for _ in range(30):  # what every API call and CLI verb does
        with StudyStore(connect(postgres_url)).session() as s:
            s.execute(text("select 1"))
    with psycopg.connect(f"{base}/postgres") as c:
        n = c.execute("select count(*) from pg_stat_activity where datname = %s", (name,)).fetchone()[0]
    assert n <= 2  # was: one pool (one connection or more) per call, left until the collector ran
    dispose(postgres_url)


def test_connect_errors_are_one_line(tmp_path, monkeypatch):
    with pytest.raises(AffectlensError, match="cannot open database"):
        connect("sqlite:////proc/affectlens-no/x.db")  # was: FileNotFoundError from mkdir
    with pytest.raises(AffectlensError, match="pymysql"):  # was: "pip install psycopg[binary]"
        connect("mysql://u@localhost/x")
    monkeypatch.setenv("HOME", str(tmp_path))
    connect("sqlite:///~/tilde/x.db")
    assert (tmp_path / "tilde" / "x.db").is_file()  # the engine got the literal ~ (a folder named '~')
    dispose("sqlite:///~/tilde/x.db")


def test_an_invalidated_sqlite_connection_goes_back_to_the_pool(tmp_path):
    """The check-in hook that turns foreign keys back on got None for an invalidated connection (a disconnect,
    a Ctrl-C mid-query) and raised AttributeError in place of the interrupt."""
    engine = connect(f"sqlite:///{tmp_path / 'x.db'}")
    conn = engine.connect()
    conn.execute(text("select 1"))
    conn.invalidate()
    conn.close()
    with engine.connect() as again:
        assert again.execute(text("select 1")).scalar() == 1
    dispose(f"sqlite:///{tmp_path / 'x.db'}")
