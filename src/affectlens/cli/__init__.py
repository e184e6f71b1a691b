"""The ``affectlens`` command: a Typer app, one module per verb group."""

from __future__ import annotations

import atexit
import gc
import logging
import re
import sys

import typer

from affectlens.cli import analyze as _analyze  # noqa: F401  (registers the analysis verbs)
from affectlens.cli import model as _model  # noqa: F401  (registers the model verbs)
from affectlens.cli import serve as _serve  # noqa: F401  (registers serve and keys)
from affectlens.cli import study as _study  # noqa: F401  (registers the study verbs)
from affectlens.cli.app import app
from affectlens.errors import AffectlensError, first_line

__all__ = ["app", "main"]


def _is_ray_address(token: str) -> bool:
    return token in ("local", "auto") or token.startswith("ray://") or bool(re.fullmatch(r"[\w.-]+:\d+", token))


def ray_flag_args(argv: list[str]) -> list[str]:
    """Let ``--ray`` take an optional address: ``--ray`` alone means a local runtime.

    ``--ray`` is followed by its value only when that value is an address (``local``, ``auto``,
    ``ray://host:port`` or ``host:port``); otherwise ``local`` is inserted, so inputs and other
    options after a bare ``--ray`` keep their meaning.
    """
    out: list[str] = []
    for i, tok in enumerate(argv):
        out.append(tok)
        if tok == "--ray" and not (i + 1 < len(argv) and _is_ray_address(argv[i + 1])):
            out.append("local")
    return out


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    # exit handlers run last-registered first: this one runs after those registered during the command
    # (sinks, temporary folders, Ray) and before those registered at import (logging's flush), none of
    # which needs the collector. The objects left at exit (every imported module's) then leave the cyclic
    # collector's sight and the interpreter's last collections have nothing to walk: process exit after a
    # video run 0.21-0.24 s -> 0.05 s, measured with the old tracker's ~900 modules (README, "Speed ...")
    atexit.register(gc.freeze)
    try:
        app(args=ray_flag_args(sys.argv[1:]))
    except AffectlensError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except Exception as exc:
        message = _environment_error(exc)
        if message is None:
            raise
        typer.echo(f"error: {message}", err=True)
        sys.exit(1)


def _environment_error(exc: Exception) -> str | None:
    """One line for a failure of the environment rather than of affectlens: the database refused (read-only,
    locked, unreachable, gone mid-way) or the file system did (permissions, missing folder, full disk)."""
    sa = sys.modules.get("sqlalchemy.exc")  # imported only if a database was used
    if sa is not None and isinstance(exc, sa.DBAPIError):
        return f"database: {first_line(exc)}"
    if isinstance(exc, OSError):
        return str(exc) or exc.__class__.__name__
    return None
