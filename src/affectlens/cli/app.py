"""The Typer app every verb module registers on (``affectlens.cli`` imports them all)."""

from __future__ import annotations

import typer

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
