"""The ``affectlens`` command: a Typer app, one module per verb group."""

from __future__ import annotations

import logging
import sys

import typer

from affectlens.errors import AffectlensError

app = typer.Typer(
    name="affectlens",
    help="Facial expression and engagement analysis: analyze media, train and evaluate models.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root() -> None:
    """affectlens: analyze faces in media; train, evaluate and export expression models."""


from affectlens.cli import analyze as _analyze  # noqa: E402,F401  (registers the analysis verbs)
from affectlens.cli import model as _model  # noqa: E402,F401  (registers the model verbs)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    try:
        app()
    except AffectlensError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(1)
