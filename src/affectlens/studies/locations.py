"""Where a study lives: its database URL and the folder of its Parquet results.

By default every study is a folder ``<root>/<NAME>/`` holding ``study.db`` (SQLite) and
``results/<recording-id>.parquet``; ``<root>`` is ``$AFFECTLENS_HOME/studies`` when
``AFFECTLENS_HOME`` is set, else ``./affectlens-studies``. ``--db URL`` (or ``AFFECTLENS_DB``)
puts the tables in another database (e.g. ``postgresql+psycopg://user@host/db``); the Parquet
files still go to ``<root>/<NAME>/results/``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from affectlens.errors import AffectlensError

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")  # the whole name (fullmatch: no trailing newline)


@dataclass(frozen=True)
class Location:
    name: str
    url: str
    folder: Path  # the study's own folder (Parquet results; the SQLite file by default)
    default_db: bool  # the URL is the folder's own SQLite file

    @property
    def sqlite_file(self) -> Path:
        return self.folder / "study.db"


def studies_root() -> Path:
    home = os.environ.get("AFFECTLENS_HOME")
    return (Path(home).expanduser() / "studies" if home else Path.cwd() / "affectlens-studies").resolve()


def check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise AffectlensError(
            f"study name {name!r}: use up to 100 letters, digits, '.', '_' and '-' (starting with a letter or digit)"
        )
    return name


def locate(name: str, db: str | None = None) -> Location:
    """The location of study ``name``; ``db`` (or ``$AFFECTLENS_DB``) overrides the SQLite default."""
    folder = studies_root() / check_name(name)
    url = db or os.environ.get("AFFECTLENS_DB")
    if url:
        return Location(name, driver_url(url), folder, default_db=False)
    return Location(name, f"sqlite:///{folder / 'study.db'}", folder, default_db=True)


def driver_url(url: str) -> str:
    """``postgresql://`` means the psycopg 3 driver (the one affectlens depends on)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url
