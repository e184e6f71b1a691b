"""Study verbs: ``affectlens study create | add | run | status | report | export | forget | delete``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from affectlens.cli.app import app

study_app = typer.Typer(
    help="Ad and content testing: one stimulus, many respondents' recordings, a per-second report.",
    no_args_is_help=True,
)
app.add_typer(study_app, name="study")

Name = Annotated[str, typer.Argument(help="study name (letters, digits, . _ -)")]
Db = Annotated[
    str | None,
    typer.Option("--db", envvar="AFFECTLENS_DB", help="database URL (default: the study folder's SQLite file)"),
]


@study_app.command("create")
def create_cmd(
    name: Name,
    stimulus: Annotated[Path, typer.Option("--stimulus", help="the ad or content video respondents watch")],
    require_consent: Annotated[
        bool, typer.Option("--require-consent", help="process only recordings added with --consent")
    ] = False,
    keep_media: Annotated[
        bool,
        typer.Option("--keep-media", help="keep a copy of each recording in the study folder (default: results only)"),
    ] = False,
    db: Db = None,
) -> None:
    """Create a study around one stimulus video."""
    from affectlens.studies import create_study

    s = create_study(name, stimulus, db, require_consent=require_consent, keep_media=keep_media)
    fps = f", {s.stimulus_fps:.2f} fps" if s.stimulus_fps else ""
    typer.echo(f"study {s.name!r}: stimulus {Path(s.stimulus_path).name} ({s.stimulus_duration_s:.1f} s{fps})")
    typer.echo(f"data in {s.data_dir}", err=True)


@study_app.command("add")
def add_cmd(
    name: Name,
    recording: Annotated[Path, typer.Argument(help="a respondent's webcam video")],
    respondent: Annotated[str, typer.Option("--respondent", help="the respondent's pseudonym (not their name)")],
    offset: Annotated[
        float, typer.Option("--offset", help="seconds into the recording at which the stimulus started")
    ] = 0.0,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="key=value (repeatable), e.g. age=18-24")] = None,
    consent: Annotated[bool, typer.Option("--consent", help="the respondent consented to this analysis")] = False,
    db: Db = None,
) -> None:
    """Add one respondent's recording (pending until `study run`)."""
    from affectlens.studies import add_recording, parse_tags

    rec = add_recording(name, recording, respondent, offset, parse_tags(tag), db, consent=consent)
    tags = "".join(f" {k}={v}" for k, v in rec.tag_dict.items())
    typer.echo(f"added {recording.name} as respondent {rec.respondent!r} (offset {rec.offset_s:g} s{tags}): pending")


@study_app.command("run")
def run_cmd(
    name: Name,
    workers: Annotated[int, typer.Option("--workers", min=1, help="recordings processed in parallel")] = 1,
    retry_failed: Annotated[bool, typer.Option("--retry-failed", help="try failed recordings again")] = False,
    ray: Annotated[
        str | None,
        typer.Option(
            "--ray", metavar="[ADDRESS]", help="process on Ray: alone a local runtime; or auto, ray://HOST:10001"
        ),
    ] = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress")] = True,
    db: Db = None,
) -> None:
    """Process the pending recordings (resumable: an interrupted run loses nothing done)."""
    from affectlens.studies import run_study

    bar, task = None, None
    live = progress and sys.stderr.isatty()

    def on_start(n: int) -> None:
        nonlocal bar, task
        if n and live:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            bar = Progress(TextColumn("recordings"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
            bar.start()
            task = bar.add_task("run", total=n)

    def on_result(rec, outcome) -> None:
        if bar is not None:
            bar.advance(task)
        what = f"{outcome.face_frames} face frames" if outcome.ok else f"FAILED: {outcome.error.splitlines()[0]}"
        typer.echo(f"{rec.respondent}: {what}", err=True)

    try:
        s = run_study(name, workers, db, retry_failed=retry_failed, on_start=on_start, on_result=on_result, ray=ray)
    finally:
        if bar is not None:
            bar.stop()
    if s.no_consent:
        typer.echo(
            f"skipped {len(s.no_consent)} recording(s) without consent (the study requires it): "
            + ", ".join(s.no_consent),
            err=True,
        )
    if not (s.done or s.failed or s.interrupted):
        busy = f"; {s.busy} being processed by another run" if s.busy else ""
        typer.echo(f"nothing to do: no pending recordings{busy}")
        return
    typer.echo(f"{s.done} done, {s.failed} failed in {s.seconds:.1f} s")
    if s.interrupted:
        typer.echo("interrupted: finished recordings are kept; run again to continue", err=True)
        raise typer.Exit(130)
    if s.failed:
        typer.echo(f"error: {s.failed} recording(s) failed (see `affectlens study status {name}`)", err=True)
        raise typer.Exit(1)


@study_app.command("forget")
def forget_cmd(
    name: Name,
    respondent: Annotated[str, typer.Option("--respondent", help="the respondent to erase")],
    db: Db = None,
) -> None:
    """Erase one respondent: every row, result file and kept copy; the erasure is audited (who, when)."""
    from affectlens.studies import forget_respondent

    e = forget_respondent(name, respondent, db)
    typer.echo(f"forgot respondent {e.respondent!r}: {e.recordings} recording(s), {e.files} file(s) removed")


@study_app.command("delete")
def delete_cmd(
    name: Name,
    yes: Annotated[bool, typer.Option("--yes", help="do not ask for confirmation")] = False,
    db: Db = None,
) -> None:
    """Remove a whole study: its rows, results, kept media and folder."""
    from affectlens.studies import delete_study

    if not yes and sys.stdin.isatty():
        typer.confirm(f"delete study {name!r} and every result of it?", abort=True)
    e = delete_study(name, db)
    typer.echo(f"deleted study {name!r}: {e.recordings} recording(s), {e.files} file(s)")


@study_app.command("status")
def status_cmd(name: Name, db: Db = None) -> None:
    """List the study's recordings and their state."""
    from affectlens.studies import recordings

    study, recs = recordings(name, db)
    typer.echo(f"study {study.name!r}: stimulus {study.stimulus_path} ({study.stimulus_duration_s:.1f} s)")
    for r in recs:
        tags = " ".join(f"{k}={v}" for k, v in sorted(r.tag_dict.items()))
        err = f"  {r.error.splitlines()[0]}" if r.error else ""
        typer.echo(f"  {r.respondent:<16} {r.status:<8} offset {r.offset_s:>6.2f} s  {tags}  {r.path}{err}")


@study_app.command("report")
def report_cmd(
    name: Name,
    out: Annotated[Path, typer.Option("--out", help="HTML file to write")] = Path("report.html"),
    db: Db = None,
) -> None:
    """Write a self-contained interactive HTML report (no network needed to view it)."""
    from affectlens.report import write_report

    path = write_report(name, out, db)
    typer.echo(f"report → {path} ({path.stat().st_size // 1024} KB)")


@study_app.command("export")
def export_cmd(
    name: Name,
    out: Annotated[Path, typer.Option("--out", help="folder for the tables")] = Path("study-export"),
    fmt: Annotated[str, typer.Option("--format", help="csv,parquet (comma-separated)")] = "csv,parquet",
    db: Db = None,
) -> None:
    """Export the aggregated tables (timeline, per-respondent seconds, key moments, tag comparison)."""
    from affectlens.studies import export_study

    formats = tuple(f.strip().lower() for f in fmt.split(",") if f.strip())
    files = export_study(name, out, formats, db)
    typer.echo(f"{len(files)} files → {out}/ ({', '.join(sorted({p.stem for p in files}))})")
