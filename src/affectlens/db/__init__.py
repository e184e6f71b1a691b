"""The one database layer: engines with their SQLite pragmas, the declarative ``Base``, ``utcnow`` and the
Alembic migrations (configured in code, no alembic.ini) that every opened database is brought to.

Studies (``studies``, ``recordings``, …) and the service (``serve_jobs``, ``serve_api_keys``) define their
tables on this ``Base``; one revision history creates them all, so the service and studies can share a
database (SQLite by default, any SQLAlchemy URL such as ``postgresql+psycopg://…``).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import DeclarativeBase, sessionmaker

from affectlens.errors import AffectlensError

__all__ = ["Base", "connect", "head_revision", "migrate", "safe_url", "sessions", "utcnow"]


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


def _migrations_dir() -> Path:
    return Path(__file__).parent / "migrations"


def _alembic_config():
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(_migrations_dir()))
    return cfg


def head_revision() -> str:
    logging.getLogger("alembic").setLevel(logging.WARNING)
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (a no-op when it already is)."""
    logging.getLogger("alembic").setLevel(logging.WARNING)
    from alembic import command
    from alembic.runtime.migration import MigrationContext

    with engine.begin() as conn:
        if MigrationContext.configure(conn).get_current_revision() == head_revision():
            return
        cfg = _alembic_config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA secure_delete=ON")  # deleted rows are zeroed, not left in free pages (erasure)
    cur.execute("PRAGMA journal_mode=WAL")  # readers never block the writer; several processes at once
    cur.close()


def connect(url: str) -> Engine:
    """An engine on ``url`` with the schema migrated to head; a bad URL is an :class:`AffectlensError`."""
    try:
        if url.startswith("sqlite"):
            path = url.removeprefix("sqlite:///")
            if url.startswith("sqlite:///") and path and path != ":memory:":
                Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
            event.listen(engine, "connect", _sqlite_pragmas)
        else:
            engine = create_engine(url, pool_pre_ping=True)
        migrate(engine)
    except ModuleNotFoundError as exc:
        raise AffectlensError(f"no database driver for {safe_url(url)}: {exc} (pip install psycopg[binary])") from None
    except Exception as exc:
        if isinstance(exc, AffectlensError):
            raise
        from sqlalchemy.exc import ArgumentError, OperationalError

        if isinstance(exc, OperationalError | ArgumentError | ValueError):
            raise AffectlensError(f"cannot open database {safe_url(url)}: {str(exc).splitlines()[0]}") from None
        raise
    return engine


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
