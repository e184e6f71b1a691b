"""Analysis verbs: ``affectlens analyze`` and ``affectlens webcam``."""

from __future__ import annotations

import itertools
import json
import logging
import signal
import sys
import threading
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Annotated

import typer

from affectlens.cli import app

log = logging.getLogger("affectlens")


def _formats(spec: str) -> list[str]:
    from affectlens.errors import AffectlensError
    from affectlens.sinks import FORMATS

    fmts = [f.strip().lower() for f in spec.split(",") if f.strip()]
    bad = [f for f in fmts if f not in FORMATS]
    if bad or not fmts:
        raise AffectlensError(f"--format {spec!r}: choose from {', '.join(FORMATS)} (comma-separated)")
    return fmts


@app.command("analyze")
def analyze_cmd(
    inputs: Annotated[list[str], typer.Argument(help="image, video, folder, stream URL or camera index")],
    out: Annotated[Path, typer.Option("--out", help="output folder")] = Path("results"),
    fmt: Annotated[str, typer.Option("--format", help="csv,jsonl,parquet (comma-separated)")] = "csv",
    annotate: Annotated[
        bool, typer.Option("--annotate", help="write annotated images/videos to OUT/annotated/")
    ] = False,
    blur_faces: Annotated[bool, typer.Option("--blur-faces", help="blur every face in annotated media")] = False,
    stride: Annotated[int, typer.Option("--stride", min=1, help="analyse every N-th video frame")] = 1,
    model: Annotated[str | None, typer.Option("--model", help="expression model name or .onnx")] = None,
    detector: Annotated[str, typer.Option("--detector", help="face detector")] = "blazeface",
    min_face: Annotated[int, typer.Option("--min-face", help="ignore faces smaller than this (px)")] = 16,
    alpha: Annotated[float, typer.Option("--alpha", help="EMA smoothing factor per frame (1 = none)")] = 0.5,
    device: Annotated[str, typer.Option("--device", help="auto | cpu | cuda")] = "auto",
    crops: Annotated[
        bool, typer.Option("--crops", help="every image already is one face crop: no face search")
    ] = False,
    signals: Annotated[
        bool, typer.Option("--signals/--no-signals", help="head pose, eyes, mouth and engagement columns")
    ] = True,
    engagement_config: Annotated[
        Path | None, typer.Option("--engagement-config", help="TOML/JSON file overriding engagement thresholds")
    ] = None,
    ray: Annotated[
        str | None,
        typer.Option(
            "--ray",
            metavar="[ADDRESS]",
            help="run on Ray: alone a local runtime; or auto, ray://HOST:10001, HOST:6379 (the [ray] extra)",
        ),
    ] = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress")] = True,
) -> None:
    """Detect, track and classify every face; write one row per face per frame.

    Writes OUT/faces.<fmt> (one row per face per frame), OUT/tracks.<fmt> (one row per face track),
    OUT/seconds.<fmt> (per face track and second of video) and OUT/run.json.
    """
    from affectlens.classify import DEFAULT_MODEL
    from affectlens.errors import AffectlensError
    from affectlens.pipeline import Analyzer, AnalyzerConfig
    from affectlens.signals.engagement import EngagementConfig
    from affectlens.sinks import AnnotatedMedia, Annotator, SecondSummary, TableWriter, TrackSummary
    from affectlens.sources import open_sources

    fmts = _formats(fmt)
    cfg = AnalyzerConfig(
        signals=signals,
        crops=crops,
        engagement=EngagementConfig.load(engagement_config) if engagement_config else EngagementConfig(),
        detector=detector,
        model=model or DEFAULT_MODEL,
        smoothing_alpha=alpha,
        stride=stride,
        min_face=min_face,
        device=device,
        keep_images=annotate,
    )
    failures: list[str] = []  # inputs that failed while being read
    unopened: list[str] = []  # files of a folder that could not even be opened
    # a missing path or a single bad file fails before any model is loaded or file written;
    # the files of a folder are opened one at a time as the run reaches them
    for spec in inputs:
        if "://" not in spec and not spec.isdigit() and not Path(spec).exists():
            raise AffectlensError(f"{spec}: no such file or folder")
    single = len(inputs) == 1 and not Path(inputs[0]).is_dir()
    sources = (
        list(open_sources(inputs[0], stride=stride))
        if single
        else itertools.chain.from_iterable(open_sources(s, stride=stride, on_skip=unopened.append) for s in inputs)
    )
    analyzer = Analyzer(cfg) if ray is None else None  # on Ray the workers load the models
    out.mkdir(parents=True, exist_ok=True)
    tracks = TrackSummary()
    seconds = SecondSummary()
    ray_rows: dict = {"frames": 0, "faces": 0, "tracks": [], "seconds": []}  # filled as Ray results arrive
    annotator = Annotator(blur_faces=blur_faces) if annotate else None
    names: list[str] = []
    t_start = time.perf_counter()
    write_s = 0.0
    frames = faces = 0
    interrupted = False
    with ExitStack() as stack:
        writers = [stack.enter_context(TableWriter(out / f"faces.{f}", f)) for f in fmts]
        bar = _progress(stack, progress)
        try:
            if ray is not None:
                sources = []
                _analyze_on_ray(inputs, cfg, ray, out, annotate, blur_faces, writers, names, failures, single, ray_rows)
            for src in sources:
                names.append(src.name)
                total = (src.total_frames + stride - 1) // stride if src.total_frames else None
                task = bar.add_task(Path(src.name).name, total=total) if bar else None
                media = None
                if annotator is not None:
                    media = AnnotatedMedia(out / "annotated", src.name, src.is_video, src.fps, annotator)
                try:
                    for result in analyzer.analyze_source(src):
                        t = time.perf_counter()
                        rows = result.rows()
                        with _deferred_interrupt():  # every format gets the frame, or none does
                            for w in writers:
                                w.write(rows)
                            tracks.update(result)
                            seconds.update(result)
                        if media is not None:
                            media.add(result)
                        write_s += time.perf_counter() - t
                        frames += 1
                        faces += len(result.faces)
                        if bar:
                            bar.advance(task)
                except AffectlensError as exc:
                    if single:
                        raise
                    failures.append(str(exc))
                    log.warning("skipped: %s", exc)
                finally:
                    if media is not None:
                        media.close()
        except KeyboardInterrupt:
            interrupted = True
        finally:
            for w in writers:
                w.flush()
            if ray is not None:  # whatever came back before an error or an interrupt is written too
                frames, faces, track_rows = ray_rows["frames"], ray_rows["faces"], ray_rows["tracks"]
                second_rows = sorted(ray_rows["seconds"], key=lambda r: (r["source"], r["track_id"], r["second"]))
            else:
                track_rows, second_rows = tracks.rows(), seconds.rows()
            for f in fmts:
                with TableWriter(out / f"tracks.{f}", f) as tw:
                    tw.write(track_rows)
                if second_rows:
                    with TableWriter(out / f"seconds.{f}", f) as tw:
                        tw.write(second_rows)
            tm = analyzer.timings if analyzer is not None else None
            elapsed = time.perf_counter() - t_start
            summary = {
                "inputs": names,
                "frames": frames,
                "faces": faces,
                "tracks": len(track_rows),
                "seconds": round(elapsed, 3),
                "fps": round(frames / max(elapsed, 1e-9), 2),
                "breakdown_s": {
                    "decode_wait": round(tm.decode, 3),
                    "detect_track_crop": round(tm.detect, 3),
                    "classify": round(tm.classify, 3),
                    "signals": round(tm.extra.get("signals", 0.0), 3),
                    "write": round(write_s, 3),
                }
                if tm is not None
                else {"ray": ray},
                "failed": unopened + failures,
                "interrupted": interrupted,
                "config": cfg.__dict__,
            }
            (out / "run.json").write_text(json.dumps(summary, indent=2, default=str))
    outs = ", ".join([f"faces.{f}" for f in fmts] + ["tracks"] + (["seconds"] if second_rows else []))
    typer.echo(
        f"{frames} frames, {faces} face rows, {len(track_rows)} tracks in {elapsed:.1f} s "
        f"({frames / max(elapsed, 1e-9):.1f} fps) → {out}/ ({outs}, run.json)",
        err=True,
    )
    if interrupted:
        typer.echo("interrupted: everything processed so far is written", err=True)
        sys.exit(130)
    if failures or unopened:
        n_bad = len(failures) + len(unopened)
        typer.echo(f"error: {n_bad} of {len(names) + len(unopened)} inputs failed (see warnings above)", err=True)
        sys.exit(1)


@contextmanager
def _deferred_interrupt():
    """Hold Ctrl-C back until the block is done (the main thread only; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    old = signal.signal(signal.SIGINT, lambda sig, _frame: pending.append(sig))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)
        if pending:
            raise KeyboardInterrupt


def _ray_inputs(inputs: list[str]) -> list[tuple[str, str, bool]]:
    """(path a worker opens, the ``source`` name a local run writes, is it a video) of every input."""
    from affectlens.errors import AffectlensError
    from affectlens.sources import STREAM_SCHEMES, VIDEO_SUFFIXES, media_files

    items = []
    for spec in inputs:
        if spec.startswith(STREAM_SCHEMES):
            items.append((spec, spec, True))
            continue
        path = Path(spec).expanduser()
        if spec.isdigit() and not path.exists():
            raise AffectlensError("--ray analyses files and streams, not a camera of this machine")
        files = media_files(path) if path.is_dir() else [path]
        items += [(str(f.resolve()), str(f), f.suffix.lower() in VIDEO_SUFFIXES) for f in files]
    return items


def _analyze_on_ray(inputs, cfg, address, out, annotate, blur_faces, writers, names, failures, single, acc) -> None:
    """Every input as Ray tasks; rows are written here, in input order, as they come back.

    ``acc`` collects frames, face count, track and per-second rows as each input arrives, so the
    caller writes what is done even when a later input fails or the run is interrupted.
    """
    from dataclasses import asdict

    from affectlens.errors import AffectlensError
    from affectlens.scale import analyze_on_ray

    items = _ray_inputs(inputs)
    display = {p: name for p, name, _ in items}
    config = asdict(cfg)
    annotate_dir = str((out / "annotated").resolve()) if annotate else None
    for o in analyze_on_ray([(p, v) for p, _, v in items], config, address, annotate_dir, blur_faces):
        name = display[o.source]
        names.append(name)
        if o.error:
            if single:
                raise AffectlensError(o.error)
            failures.append(o.error)
            log.warning("skipped: %s", o.error)
        for rows in (o.face_rows, o.track_rows, o.second_rows):
            for r in rows:
                r["source"] = name
        with _deferred_interrupt():
            for w in writers:
                w.write(o.face_rows)
            acc["tracks"] += o.track_rows
            acc["seconds"] += o.second_rows
            acc["frames"] += o.frames
            acc["faces"] += len(o.face_rows)


def _progress(stack: ExitStack, enabled: bool):
    if not enabled or not sys.stderr.isatty():
        return None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    class FpsColumn(TextColumn):
        def __init__(self) -> None:
            super().__init__("")

        def render(self, task):
            from rich.text import Text

            speed = task.finished_speed or task.speed
            return Text(f"{speed:.1f} fps" if speed else "")

    return stack.enter_context(
        Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            FpsColumn(),
            TimeRemainingColumn(),
            transient=False,
        )
    )


@app.command("webcam")
def webcam_cmd(
    device: Annotated[int, typer.Option("--device", help="camera index")] = 0,
    headless: Annotated[bool, typer.Option("--headless", help="no window: only write results")] = False,
    out: Annotated[Path | None, typer.Option("--out", help="write faces.csv/tracks.csv (and the video) here")] = None,
    model: Annotated[str | None, typer.Option("--model")] = None,
    alpha: Annotated[float, typer.Option("--alpha", help="EMA smoothing factor per frame")] = 0.5,
    blur_faces: Annotated[bool, typer.Option("--blur-faces")] = False,
    max_frames: Annotated[int | None, typer.Option("--max-frames", help="stop after N frames")] = None,
    engagement_config: Annotated[
        Path | None, typer.Option("--engagement-config", help="TOML/JSON file overriding engagement thresholds")
    ] = None,
) -> None:
    """Live analysis of a camera with a HUD window (q or Esc quits)."""
    import cv2

    from affectlens.classify import DEFAULT_MODEL
    from affectlens.errors import AffectlensError
    from affectlens.pipeline import Analyzer
    from affectlens.signals.engagement import EngagementConfig
    from affectlens.sinks import Annotator, TableWriter, TrackSummary, VideoWriter
    from affectlens.sources import WebcamSource

    if headless and out is None:
        raise AffectlensError("--headless needs --out DIR (otherwise nothing would be seen or kept)")
    src = WebcamSource(device, max_frames=max_frames)
    eng = EngagementConfig.load(engagement_config) if engagement_config else EngagementConfig()
    analyzer = Analyzer(
        model=model or DEFAULT_MODEL, smoothing_alpha=alpha, batch_frames=1, keep_images=True, engagement=eng
    )
    annotator = Annotator(blur_faces=blur_faces)
    tracks = TrackSummary()
    n = 0
    with ExitStack() as stack:
        writer = stack.enter_context(TableWriter(out / "faces.csv", "csv")) if out else None
        video = stack.enter_context(VideoWriter(out / "annotated" / "webcam.mp4", src.fps)) if out else None
        try:
            for result in analyzer.analyze_source(src):
                img = annotator.draw(result)
                tracks.update(result)
                if writer:
                    writer.write(result.rows())
                if video:
                    video.write(img)
                n += 1
                if not headless:
                    cv2.imshow("affectlens (q quits)", cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
                    if cv2.waitKey(1) & 0xFF in (ord("q"), 27):
                        break
        except KeyboardInterrupt:
            pass
        finally:
            if out:
                with TableWriter(out / "tracks.csv", "csv") as tw:
                    tw.write(tracks.rows())
            if not headless:
                cv2.destroyAllWindows()
    typer.echo(f"{n} frames analysed" + (f"; results in {out}" if out else ""), err=True)
