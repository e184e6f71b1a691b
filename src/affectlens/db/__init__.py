"""The one database layer: engines with their SQLite pragmas, the declarative ``Base``, ``utcnow`` and the
Alembic migrations (configured in code, no alembic.ini) that every opened database is brought to.

Studies (``studies``, ``recordings``, …) and the service (``serve_jobs``, ``serve_api_keys``) define their
tables on this ``Base``; one revision history creates them all, so the service and studies can share a
database (SQLite by default, any SQLAlchemy URL such as ``postgresql+psycopg://…``).
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import DateTime, Engine, create_engine, event
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase, sessionmaker
from sqlalchemy.sql.expression import FunctionElement

from affectlens.errors import AffectlensError, first_line

__all__ = ["Base", "connect", "db_utcnow", "dispose", "head_revision", "migrate", "safe_url", "sessions", "utcnow"]


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class db_utcnow(FunctionElement):
    """The database server's clock in UTC (naive, as the columns hold it), for times that processes on different
    machines compare: claims and heartbeats. Each machine's own clock may be minutes off; the database's is one."""

    type = DateTime()
    inherit_cache = True


@compiles(db_utcnow, "sqlite")
def _sqlite_utcnow(element, compiler, **kw) -> str:
    return "strftime('%Y-%m-%d %H:%M:%f', 'now')"


@compiles(db_utcnow, "postgresql")
def _pg_utcnow(element, compiler, **kw) -> str:
    return "(CURRENT_TIMESTAMP AT TIME ZONE 'UTC')"


@compiles(db_utcnow)
def _default_utcnow(element, compiler, **kw) -> str:
    return "CURRENT_TIMESTAMP"


class Base(DeclarativeBase):
    pass


def _migrations_dir() -> Path:
    return Path(__file__).parent / "migrations"


def _alembic_config():
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(_migrations_dir()))
    return cfg


@functools.cache
def head_revision() -> str:
    logging.getLogger("alembic").setLevel(logging.WARNING)
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


_PG_MIGRATE_LOCK = 0x6166666C656E73  # pg_advisory_xact_lock key of migrations ("afflens")


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (a no-op when it already is), atomically and once.

    Several processes may open a fresh database at once: each takes the database's write lock
    (SQLite ``BEGIN IMMEDIATE``, a PostgreSQL advisory lock) before it reads the revision, so one
    migrates and the others find it done. On SQLite the DDL runs in that one transaction (pysqlite would
    commit before each DDL statement), so an interrupted upgrade leaves the old schema whole, and with
    foreign keys off (a batch rebuild's DROP TABLE would otherwise cascade into the child tables)."""
    logging.getLogger("alembic").setLevel(logging.WARNING)
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        if MigrationContext.configure(conn).get_current_revision() == head_revision():
            return
    if engine.dialect.name == "sqlite":
        _migrate_sqlite(engine)
        return
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_MIGRATE_LOCK})")
        _upgrade(conn)


def _upgrade(conn) -> None:
    """Upgrade to head on ``conn`` (in its transaction), unless another process did so meanwhile."""
    from alembic import command
    from alembic.runtime.migration import MigrationContext

    if MigrationContext.configure(conn).get_current_revision() == head_revision():
        return
    cfg = _alembic_config()
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, "head")


def _migrate_sqlite(engine: Engine) -> None:
    with engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        isolation = raw.isolation_level
        raw.isolation_level = None  # the driver no longer commits before DDL: our BEGIN holds it all
        try:
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")  # a no-op inside a transaction: before BEGIN
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            try:
                _upgrade(conn)
                bad = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if bad:
                    raise AffectlensError(f"the migration left rows without their parent: {bad[:3]}")
            except BaseException:
                raw.rollback()
                raise
            raw.commit()
        finally:
            try:
                conn.exec_driver_sql("PRAGMA foreign_keys=ON")
            finally:
                raw.isolation_level = isolation
            conn.rollback()  # end SQLAlchemy's own (empty) transaction


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA secure_delete=ON")  # deleted rows are zeroed, not left in free pages (erasure)
    cur.execute("PRAGMA journal_mode=WAL")  # readers never block the writer; several processes at once
    cur.close()


def _sqlite_checkin(dbapi_conn, _record) -> None:
    # a migration turned foreign keys off on this connection (they cannot be turned on inside its transaction);
    # an invalidated connection (a disconnect, a Ctrl-C mid-query) comes back as None: nothing to reset
    if dbapi_conn is not None:
        dbapi_conn.execute("PRAGMA foreign_keys=ON")


#: the driver each dialect needs when its module is missing
_DRIVERS = {
    "postgresql": "pip install 'psycopg[binary]'",
    "mysql": "pip install pymysql (and a mysql+pymysql:// URL)",
    "mariadb": "pip install pymysql (and a mariadb+pymysql:// URL)",
    "mssql": "pip install pyodbc",
    "oracle": "pip install oracledb",
}

# One engine per URL and process: a pool (not a new one per call, whose connections stay open until the
# collector finds it) and a migration check once. A SQLite file is checked to be the same file each time
# (a deleted study's database may be created again under the same name).
_engines: dict[str, tuple[Engine, tuple[int, int] | None]] = {}
_engines_lock = threading.RLock()


def _file_id(path: Path | None) -> tuple[int, int] | None:
    if path is None:
        return None
    try:
        st = path.stat()
    except OSError:
        return (-1, -1)
    return (st.st_dev, st.st_ino)


def _sqlite_path(url: str) -> Path | None:
    """The file of a ``sqlite:///PATH`` URL (``~`` expanded), None for memory databases and other URLs."""
    if not url.startswith("sqlite:///"):
        return None
    path = url.removeprefix("sqlite:///").split("?", 1)[0]
    if not path or path == ":memory:" or path.startswith("file:"):  # a URI (uri=true) is the driver's
        return None
    return Path(path).expanduser()


def connect(url: str) -> Engine:
    """The engine on ``url`` (one per URL and process) with the schema migrated to head; a bad URL, a missing
    driver or an unreachable or unwritable database is an :class:`AffectlensError`."""
    path = _sqlite_path(url)
    with _engines_lock:
        cached = _engines.get(url)
        if cached is not None and cached[1] == _file_id(path):
            return cached[0]
        if cached is not None:
            cached[0].dispose()
            del _engines[url]
        engine = _open(url, path)
        _engines[url] = (engine, _file_id(path))
        return engine


def _open(url: str, path: Path | None) -> Engine:
    engine = None
    try:
        if url.startswith("sqlite"):
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                rest = url.removeprefix("sqlite:///")
                url = "sqlite:///" + str(path) + (rest[rest.index("?") :] if "?" in rest else "")
            engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
            event.listen(engine, "connect", _sqlite_pragmas)
            event.listen(engine, "checkin", _sqlite_checkin)
        else:
            engine = create_engine(url, pool_pre_ping=True)
        migrate(engine)
    except ModuleNotFoundError as exc:
        hint = _DRIVERS.get(url.split(":", 1)[0].split("+", 1)[0], "install the driver its URL names")
        raise AffectlensError(f"no database driver for {safe_url(url)}: {exc} ({hint})") from None
    except Exception as exc:
        if engine is not None:
            engine.dispose()
        if isinstance(exc, AffectlensError):
            raise
        from sqlalchemy.exc import ArgumentError, DBAPIError

        if isinstance(exc, DBAPIError | ArgumentError | ValueError | OSError):
            raise AffectlensError(f"cannot open database {safe_url(url)}: {first_line(exc)}") from None
        raise
    return engine


def dispose(url: str | None = None) -> None:
    """Close the pooled connections of ``url``'s engine (every engine: None) and forget it."""
    with _engines_lock:
        for key in [url] if url is not None else list(_engines):
            cached = _engines.pop(key, None)
            if cached is not None:
                cached[0].dispose()


def _after_fork() -> None:
    # a forked child must not use its parent's pooled connections (they are the parent's sockets)
    global _engines_lock
    _engines_lock = threading.RLock()
    for engine, _ in _engines.values():
        engine.dispose(close=False)
    _engines.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


def sessions(url: str) -> sessionmaker:
    """A session factory on ``url`` (migrated to head)."""
    return sessionmaker(connect(url), expire_on_commit=False)


def safe_url(url: str) -> str:
    """The URL without its password."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<database URL>"
