"""Study verbs: ``affectlens study create | add | invite | revoke | run | status | report | export | forget |
delete``."""

from __future__ import annotations

import sys
from collections import Counter
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
    consent_text: Annotated[
        str | None,
        typer.Option("--consent-text", help="what remote respondents agree to before their camera turns on"),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option("--model", help="expression model for every recording: shipped name or .onnx (default: today's)"),
    ] = None,
    db: Db = None,
) -> None:
    """Create a study around one stimulus video."""
    from affectlens.studies import create_study

    s = create_study(
        name,
        stimulus,
        db,
        require_consent=require_consent,
        keep_media=keep_media,
        consent_text=consent_text,
        model=model,
    )
    fps = f", {s.stimulus_fps:.2f} fps" if s.stimulus_fps else ""
    typer.echo(f"study {s.name!r}: stimulus {Path(s.stimulus_path).name} ({s.stimulus_duration_s:.1f} s{fps})")
    typer.echo(f"expression model: {s.model}", err=True)
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
        if outcome.lost:  # another run took the claim (it thought this one stale): its result stands, not this
            what = "taken over by another run meanwhile: this run's result is discarded"
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
    if s.lost:
        typer.echo(f"{s.lost} recording(s) were taken over by another run meanwhile (see above)", err=True)
    if not (s.done or s.failed or s.interrupted or s.lost):
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
    yes: Annotated[
        bool, typer.Option("--yes", help="do not ask for confirmation (required when stdin is not a terminal)")
    ] = False,
    db: Db = None,
) -> None:
    """Remove a whole study: its rows, results, kept media and folder."""
    from affectlens.errors import AffectlensError
    from affectlens.studies import delete_study

    if not yes:  # a pipe or a cron job cannot answer: it must say --yes (it deleted without asking)
        if not sys.stdin.isatty():
            raise AffectlensError(
                f"deleting study {name!r} needs --yes when no one can be asked (stdin is not a terminal)"
            )
        typer.confirm(f"delete study {name!r} and every result of it?", abort=True)
    e = delete_study(name, db)
    typer.echo(f"deleted study {name!r}: {e.recordings} recording(s), {e.files} file(s)")


@study_app.command("status")
def status_cmd(
    name: Name,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON (one object, respondents listed)")] = False,
    db: Db = None,
) -> None:
    """List the study's respondents: state, source (upload or remote), seconds of the stimulus watched."""
    import json

    from affectlens.studies import respondents

    study, people = respondents(name, db)
    if as_json:
        typer.echo(json.dumps(status_json(study, people), indent=2))
        return
    typer.echo(f"study {study.name!r}: stimulus {study.stimulus_path} ({study.stimulus_duration_s:.1f} s)")
    typer.echo(f"expression model: {study.model or 'the default (a study made before studies recorded it)'}")
    for p in people:
        tags = " ".join(f"{k}={v}" for k, v in sorted(p.tags.items()))
        watched = "" if p.seconds_watched is None else f"{p.seconds_watched:.1f} s watched"
        r = p.recording
        err = f"  {r.error.splitlines()[0]}" if r is not None and r.error else ""
        where = r.path if r is not None and p.source == "upload" else ""
        typer.echo(f"  {p.respondent:<16} {p.state:<9} {p.source:<6} {watched:>16}  {tags}  {where}{err}".rstrip())


def status_json(study, people) -> dict:
    """The study and its respondents as plain JSON (what ``study status --json`` prints)."""
    counts = dict(Counter(p.state for p in people))
    return {
        "name": study.name,
        "stimulus": study.stimulus_path,
        "stimulus_duration_s": study.stimulus_duration_s,
        "model": study.model,
        "counts": counts,
        "respondents": [p.to_dict() for p in people],
    }


@study_app.command("invite")
def invite_cmd(
    name: Name,
    respondent: Annotated[
        list[str] | None, typer.Option("--respondent", help="the respondent's pseudonym (repeatable)")
    ] = None,
    count: Annotated[int, typer.Option("--count", min=0, help="also invite N generated pseudonyms")] = 0,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="key=value (repeatable), e.g. panel=b")] = None,
    expires: Annotated[str, typer.Option("--expires", help="how long the links work: 7d, 12h, 30m, 2w")] = "7d",
    url: Annotated[
        str,
        typer.Option("--url", envvar="AFFECTLENS_PUBLIC_URL", help="where respondents reach the server"),
    ] = "http://127.0.0.1:8000",
    as_json: Annotated[bool, typer.Option("--json", help="print a JSON list of {respondent, url, expires}")] = False,
    db: Db = None,
) -> None:
    """Create per-respondent links to watch the stimulus in a browser (served by `affectlens serve`).

    Each link opens only this study's page for that respondent, once, until it expires or is revoked;
    it is shown now and never again (only its hash is stored)."""
    import json

    from affectlens.studies import invite, parse_tags

    made = invite(name, respondent, count, parse_tags(tag), expires, db)
    rows = [{"respondent": i.respondent, "url": i.url(url), "expires": i.expires.isoformat() + "Z"} for i in made]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        typer.echo(f"{r['url']}  {r['respondent']}  (expires {r['expires'][:16].replace('T', ' ')} UTC)")
    typer.echo(f"{len(rows)} link(s) for study {name!r}: send each to its respondent only", err=True)


@study_app.command("revoke")
def revoke_cmd(
    name: Name,
    respondent: Annotated[str, typer.Option("--respondent", help="whose link to withdraw")],
    db: Db = None,
) -> None:
    """Withdraw a respondent's invite link (it then opens nothing)."""
    from affectlens.studies import revoke

    revoke(name, respondent, db)
    typer.echo(f"revoked the link of respondent {respondent!r} in study {name!r}")


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
    """Export the aggregated tables: timeline, respondent_seconds, key_moments, tag_comparison, tag_timelines,
    segments, segment_seconds, recordings."""
    from affectlens.studies import export_study

    formats = tuple(f.strip().lower() for f in fmt.split(",") if f.strip())
    files = export_study(name, out, formats, db)
    typer.echo(f"{len(files)} files → {out}/ ({', '.join(sorted({p.stem for p in files}))})")
