"""Engines and schema migrations: Alembic is configured in code (no alembic.ini) and runs on open."""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import Engine, create_engine, event

from affectlens.errors import AffectlensError


def _migrations_dir() -> Path:
    from affectlens.studies import migrations

    return Path(migrations.__file__).parent


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
    cur.execute("PRAGMA journal_mode=WAL")  # readers never block the writer; several `study run`s at once
    cur.close()


def connect(url: str) -> Engine:
    """An engine on ``url`` with the schema migrated to head."""
    try:
        if url.startswith("sqlite"):
            engine = create_engine(url, connect_args={"timeout": 30})
            event.listen(engine, "connect", _sqlite_pragmas)
        else:
            engine = create_engine(url, pool_pre_ping=True)
        migrate(engine)
    except ModuleNotFoundError as exc:
        raise AffectlensError(f"no database driver for {_safe(url)}: {exc} (pip install psycopg[binary])") from None
    except Exception as exc:
        if isinstance(exc, AffectlensError):
            raise
        from sqlalchemy.exc import ArgumentError, OperationalError

        if isinstance(exc, OperationalError | ArgumentError):
            raise AffectlensError(f"cannot open database {_safe(url)}: {str(exc).splitlines()[0]}") from None
        raise
    return engine


def _safe(url: str) -> str:
    """The URL without its password."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<database URL>"
