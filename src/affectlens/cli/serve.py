"""Service verbs: ``affectlens serve`` (API + dashboard) and ``affectlens keys create|list|revoke``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from affectlens.cli.app import app

keys_app = typer.Typer(help="API keys for `affectlens serve` (stored hashed in its database).", no_args_is_help=True)
app.add_typer(keys_app, name="keys")

DbOption = Annotated[
    str | None, typer.Option("--db", help="SQLAlchemy URL (default: sqlite file in --data-dir)", show_default=False)
]
DataDirOption = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="uploads, results and the default database (default: $AFFECTLENS_SERVE_DIR or "
        "~/.local/share/affectlens/serve)",
    ),
]


def _settings(**kw):
    from affectlens.serve.settings import ServeSettings

    data_dir = kw.pop("data_dir", None)
    s = ServeSettings(**kw)
    if data_dir is not None:
        s.data_dir = data_dir.expanduser()
    return s


def _require_serve_extra() -> None:
    from affectlens.errors import AffectlensError

    try:
        import fastapi  # noqa: F401
        import python_multipart  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise AffectlensError(
            f"the web service needs the [serve] extra: pip install 'affectlens[serve]' ({exc})"
        ) from None


@app.command("serve")
def serve_cmd(
    host: Annotated[str, typer.Option("--host", help="address to bind (loopback unless told otherwise)")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535)] = 8000,
    db: DbOption = None,
    data_dir: DataDirOption = None,
    no_auth: Annotated[
        bool, typer.Option("--no-auth", help="no API key needed (only allowed on a loopback address)")
    ] = False,
    workers: Annotated[int, typer.Option("--workers", min=1, help="video jobs processed at once")] = 1,
    max_queued: Annotated[int, typer.Option("--max-queued", min=1, help="jobs allowed to wait")] = 64,
    max_upload_mb: Annotated[float, typer.Option("--max-upload-mb", help="largest upload accepted")] = 200.0,
    cors_origin: Annotated[
        list[str] | None, typer.Option("--cors-origin", help="allow browser calls from this origin (repeatable)")
    ] = None,
    threads: Annotated[int | None, typer.Option("--threads", help="ONNX Runtime threads per model")] = None,
    inference_workers: Annotated[
        int,
        typer.Option(
            "--inference-workers", min=1, help="analyzers shared by images, live cameras and remote respondents"
        ),
    ] = 2,
    public_url: Annotated[
        str | None,
        typer.Option(
            "--public-url", envvar="AFFECTLENS_PUBLIC_URL", help="base of respondents' invite links (behind a proxy)"
        ),
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", help="expression model of every analyzer: shipped name or .onnx")
    ] = None,
    reconnect_grace: Annotated[
        float,
        typer.Option("--reconnect-grace", help="seconds a remote respondent's dropped connection may come back in"),
    ] = 30.0,
) -> None:
    """Run the web API, the dashboard and remote respondents' pages; open the printed URL in a browser."""
    _require_serve_extra()
    import uvicorn

    from affectlens.serve.app import create_app

    same_named = (
        "host",
        "port",
        "data_dir",
        "workers",
        "max_queued",
        "max_upload_mb",
        "threads",
        "public_url",
        "inference_workers",
        "model",
    )
    options = {k: v for k, v in locals().items() if k in same_named}
    settings = _settings(
        **options,
        db_url=db,
        auth=not no_auth,
        cors_origins=tuple(cors_origin or ()),
        reconnect_grace_s=reconnect_grace,
    ).validate()
    web = create_app(settings)
    auth = "off (--no-auth, loopback only)" if no_auth else "on: send X-API-Key (create one: affectlens keys create)"
    typer.echo(f"affectlens dashboard: {settings.url}  (API docs: {settings.url}docs; API keys {auth})", err=True)
    uvicorn.run(web, host=host, port=port, log_level="info", ws_max_size=16 << 20, proxy_headers=False)


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option("--name", help="who or what the key is for")] = "",
    db: DbOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Create an API key and print it (once: only its hash is stored)."""
    from affectlens.serve.db import open_database
    from affectlens.serve.keys import create_key

    key = create_key(open_database(_settings(db_url=db, data_dir=data_dir).database_url), name)
    typer.echo(key)
    typer.echo("store it now: it cannot be shown again. Send it as the X-API-Key header.", err=True)


@keys_app.command("list")
def keys_list(db: DbOption = None, data_dir: DataDirOption = None) -> None:
    """The keys' ids, names and state (never the keys themselves)."""
    from affectlens.serve.db import open_database
    from affectlens.serve.keys import list_keys

    for k in list_keys(open_database(_settings(db_url=db, data_dir=data_dir).database_url)):
        typer.echo(f"{k.id}\t{k.name or '-'}\t{k.created_at:%Y-%m-%d %H:%M}\t{'revoked' if k.revoked else 'active'}")


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="the id shown by `keys list` (or the key itself)")],
    db: DbOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Revoke a key: requests with it are refused from now on."""
    from affectlens.serve.db import open_database
    from affectlens.serve.keys import revoke_key

    revoke_key(open_database(_settings(db_url=db, data_dir=data_dir).database_url), key_id)
    typer.echo(f"revoked {key_id}", err=True)
