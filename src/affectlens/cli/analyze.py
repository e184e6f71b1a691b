"""Analysis verbs: ``affectlens analyze`` and ``affectlens webcam``.

Both build sinks, feed them with :func:`affectlens.sinks.consume` and write ``run.json``; a stop
signal (Ctrl-C, SIGTERM, SIGHUP) ends a run with everything analysed so far written.
"""

from __future__ import annotations

import logging
import sys
import time
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:  # the verbs import their rooms lazily, so `affectlens --help` stays fast
    from affectlens.pipeline import Analyzer, AnalyzerConfig
    from affectlens.sinks import StopRequested

from affectlens.cli.app import app
from affectlens.cli.common import resolve_model

log = logging.getLogger("affectlens")

DEFAULT_ANALYSIS_FPS = 0.0  # see README, "Speed": per-second figures at this rate against every frame


def _formats(spec: str) -> list[str]:
    from affectlens.errors import AffectlensError
    from affectlens.sinks import FORMATS

    fmts = [f.strip().lower() for f in spec.split(",") if f.strip()]
    bad = [f for f in fmts if f not in FORMATS]
    if bad or not fmts:
        raise AffectlensError(f"--format {spec!r}: choose from {', '.join(FORMATS)} (comma-separated)")
    return fmts


# options of analyze that take more than a line to describe
FpsOption = Annotated[
    float,
    typer.Option(
        "--fps",
        min=0,
        help="analyse expressions and signals this often per second of video (0: every frame); "
        "faces are still detected and tracked on every frame",
    ),
]

DetectEveryOption = Annotated[
    int,
    typer.Option(
        "--detect-every",
        min=1,
        help="video: detect faces on every N-th frame and after scene cuts; the face mesh follows them in "
        "between (faster: README, Speed)",
    ),
]

SmallFacesOption = Annotated[
    bool,
    typer.Option(
        "--small-faces",
        help="video: also search each frame in overlapping tiles for faces of 15-30 px (a classroom, a wide "
        "shot); several times the detector's cost",
    ),
]

RayOption = Annotated[
    str | None,
    typer.Option(
        "--ray",
        metavar="[ADDRESS]",
        help="run on Ray: alone a local runtime; or auto, ray://HOST:10001, HOST:6379 (the \\[ray] extra)",
    ),
]

MinFaceOption = Annotated[
    int | None,
    typer.Option("--min-face", help="ignore faces smaller than this in px (default 16; 12 with --small-faces)"),
]


@app.command("analyze")
def analyze_cmd(
    inputs: Annotated[list[str], typer.Argument(help="image, video, folder, stream URL or camera index")],
    out: Annotated[Path, typer.Option("--out", help="output folder")] = Path("results"),
    fmt: Annotated[str, typer.Option("--format", help="csv,jsonl,parquet (comma-separated)")] = "csv",
    annotate: Annotated[
        bool, typer.Option("--annotate", help="write annotated images/videos to OUT/annotated/")
    ] = False,
    blur_faces: Annotated[bool, typer.Option("--blur-faces", help="blur every face in annotated media")] = False,
    stride: Annotated[int, typer.Option("--stride", min=1, help="decode only every N-th video frame")] = 1,
    fps: FpsOption = DEFAULT_ANALYSIS_FPS,
    detect_every: DetectEveryOption = 1,
    model: Annotated[str | None, typer.Option("--model", help="expression model name or .onnx")] = None,
    detector: Annotated[str, typer.Option("--detector", help="face detector")] = "blazeface",
    min_face: MinFaceOption = None,
    small_faces: SmallFacesOption = False,
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
    ray: RayOption = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress")] = True,
) -> None:
    """Detect, track and classify every face; write one row per face per frame.

    Writes OUT/faces.<fmt> (one row per face per frame), OUT/tracks.<fmt> (one row per face track),
    OUT/seconds.<fmt> (per face track and second of video) and OUT/run.json.
    """
    from affectlens.classify import DEFAULT_MODEL
    from affectlens.errors import AffectlensError
    from affectlens.pipeline import AnalyzerConfig
    from affectlens.signals.engagement import EngagementConfig

    fmts = _formats(fmt)
    if blur_faces and not annotate:  # (it made no media, but searched video frames for small faces: other tables)
        raise AffectlensError("--blur-faces blurs the faces of annotated media: add --annotate")
    cfg = AnalyzerConfig(
        signals=signals,
        crops=crops,
        engagement=EngagementConfig.load(engagement_config) if engagement_config else EngagementConfig(),
        detector=detector,
        model=resolve_model(model or DEFAULT_MODEL),
        smoothing_alpha=alpha,
        stride=stride,
        analysis_fps=fps or None,
        detect_every=detect_every,
        min_face=min_face if min_face is not None else (12 if small_faces else 16),
        tile_video=small_faces or blur_faces,  # every face must be found to be blurred, small ones too
        device=device,
        keep_images=annotate,
    )
    run = _AnalyzeRun(inputs, out, fmts, cfg, annotate, blur_faces, progress)
    run.execute(ray)
    run.report()


@dataclass
class _AnalyzeRun:
    """One ``affectlens analyze`` run: its inputs, output folder and what happened so far."""

    inputs: list[str]
    out: Path
    fmts: list[str]
    cfg: AnalyzerConfig
    annotate: bool
    blur_faces: bool
    progress: bool
    names: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # inputs that failed (could not be opened or read)
    annotated_stems: set[str] = field(default_factory=set)  # annotated files' names so far (never overwritten)
    unopened: int = 0  # files of a folder that could not even be opened
    single: bool = False
    stopped: StopRequested | None = None  # the stop signal that ended the run early
    analyzer: Analyzer | None = None
    summary: dict = field(default_factory=dict)

    def execute(self, ray: str | None) -> None:
        from affectlens.errors import AffectlensError
        from affectlens.pipeline import Analyzer
        from affectlens.sinks import AnalysisTables, StopRequested, Tally, stop_signals
        from affectlens.sources import list_inputs, open_item

        # a missing path, a single bad file or an unusable output folder fails before any model is loaded
        items = _distinct([item for spec in self.inputs for item in list_inputs(spec)])
        self.single = len(items) == 1 and not items[0].in_folder
        first = open_item(items[0], self.cfg.stride) if self.single and ray is None else None
        _output_folder(self.out)
        tally, t0 = Tally(), time.perf_counter()
        with stop_signals():
            try:  # a bad model or device fails here, before any file is written; a stop while loading does not
                self.analyzer = Analyzer(self.cfg) if ray is None else None  # on Ray the workers load the models
            except StopRequested as exc:
                self.stopped = exc
            hold = self.cfg.engagement.look_away_min_s
            try:
                tables = AnalysisTables(self.out, self.fmts, signals=self.cfg.signals, look_away_hold_s=hold)
            except OSError as exc:
                raise AffectlensError(f"--out {self.out}: {exc.strerror or exc}") from None
            try:
                with tables:
                    if self.stopped is not None:
                        raise self.stopped
                    if ray is None:
                        self._local(items, first, tables, tally)
                    else:
                        self._ray(items, ray, tables, tally)
            except StopRequested as exc:
                self.stopped = exc
            finally:
                self._write_summary(tables, tally, time.perf_counter() - t0, ray)

    def _local(self, items, first, tables, tally) -> None:
        from affectlens.errors import AffectlensError
        from affectlens.sources import open_item

        with ExitStack() as stack:
            bar = _progress(stack, self.progress)
            for item in items:
                try:
                    src = first or open_item(item, self.cfg.stride)
                except AffectlensError as exc:  # a file inside a folder that cannot be opened
                    log.warning("skipped %s", exc)
                    self.failures.append(str(exc))
                    self.unopened += 1
                    continue
                self.names.append(src.name)
                try:
                    self._source(src, tables, tally, bar)
                except AffectlensError as exc:
                    self.failures.append(str(exc))  # in run.json, also when it ends the run
                    if self.single:
                        raise
                    log.warning("skipped: %s", exc)

    def _source(self, src, tables, tally, bar) -> None:
        from affectlens.sinks import AnnotatedMedia, Annotator, consume
        from affectlens.sinks.annotate import unique_stem

        total = (src.total_frames + self.cfg.stride - 1) // self.cfg.stride if src.total_frames else None
        if total and self.cfg.analysis_fps and src.duration_s:  # a result per analysed frame, not per decoded one
            total = min(total, int(src.duration_s * self.cfg.analysis_fps) + 1)
        task = bar.add_task(Path(src.name).name, total=total) if bar else None
        sinks = [tables]
        with ExitStack() as stack:
            if self.annotate:
                annotator = Annotator(blur_faces=self.blur_faces)
                stem = unique_stem(src.name, self.annotated_stems)
                sinks.append(
                    stack.enter_context(
                        AnnotatedMedia(self.out / "annotated", src.name, src.is_video, src.fps, annotator, stem)
                    )
                )
            consume(self.analyzer.analyze_source(src), sinks, tally, (lambda _: bar.advance(task)) if bar else None)

    def _ray(self, items, address, tables, tally) -> None:
        """Every input as Ray tasks; rows are written here, in input order, as they come back."""
        from affectlens.errors import AffectlensError
        from affectlens.scale import analyze_on_ray
        from affectlens.sinks import deferred_stop
        from affectlens.sinks.annotate import unique_stem

        if any(item.kind == "camera" for item in items):
            raise AffectlensError("--ray analyses files and streams, not a camera of this machine")
        annotate_dir = str((self.out / "annotated").resolve()) if self.annotate else None
        work = [
            (str(Path(i.location).resolve()) if i.kind != "stream" else i.location, i.is_video)
            + ((unique_stem(i.location, self.annotated_stems),) if self.annotate else ())
            for i in items
        ]
        outputs = analyze_on_ray(work, self.cfg.to_dict(), address, annotate_dir, self.blur_faces)
        for item, o in zip(items, outputs, strict=True):  # one output per input, in input order
            name = item.location
            self.names.append(name)
            for rows in (o.face_rows, o.track_rows, o.second_rows):
                for r in rows:
                    r["source"] = name
            with deferred_stop():  # the rows of an input that broke part-way are kept, as locally
                tables.add_rows(o.face_rows, o.track_rows, o.second_rows)
                tally.frames += o.frames
                tally.faces += len(o.face_rows)
            if o.error:
                self.failures.append(o.error)
                if self.single:
                    raise AffectlensError(o.error)
                log.warning("skipped: %s", o.error)

    def _write_summary(self, tables, tally, elapsed: float, ray: str | None) -> None:
        from affectlens.sinks.outputs import run_summary, timing_breakdown, write_json

        tm = self.analyzer.timings if self.analyzer is not None else None
        self.summary = run_summary(
            self.names,
            tally,
            tables.n_tracks(),
            elapsed,
            breakdown_s=timing_breakdown(tm, tally.sink_s) if tm is not None else {"ray": ray},
            failed=self.failures,
            interrupted=self.stopped is not None,
            labels=self.analyzer.labels if self.analyzer is not None else _card_labels(self.cfg.model),
            formats=self.fmts,
            config=self.cfg.to_dict(),
        )
        write_json(self.out / "run.json", self.summary)

    def report(self) -> None:
        s = self.summary
        outs = ", ".join([f"faces.{f}" for f in self.fmts] + ["tracks", "seconds"])
        typer.echo(
            f"{s['frames']} frames, {s['faces']} face rows, {s['tracks']} tracks in {s['seconds']:.1f} s "
            f"({s['analysis_fps']:.1f} fps) → {self.out}/ ({outs}, run.json)",
            err=True,
        )
        if self.stopped is not None:
            typer.echo(f"stopped ({self.stopped}): everything processed so far is written", err=True)
            sys.exit(self.stopped.exit_code)
        if self.failures:
            n = len(self.names) + self.unopened
            typer.echo(f"error: {len(self.failures)} of {n} inputs failed (see warnings above)", err=True)
            sys.exit(1)


@app.command("demo")
def demo_cmd(
    out: Annotated[Path, typer.Option("--out", help="output folder")] = Path("affectlens-demo"),
    annotate: Annotated[bool, typer.Option("--annotate", help="also write annotated video and photo")] = False,
    progress: Annotated[bool, typer.Option("--progress/--no-progress")] = True,
) -> None:
    """Analyse the sample media that ships with affectlens (a 9 s clip and a two-face photo)."""
    from affectlens.classify import DEFAULT_MODEL
    from affectlens.demo import sample_paths
    from affectlens.pipeline import AnalyzerConfig

    samples = [str(p) for p in sample_paths()]
    run = _AnalyzeRun(
        samples, out, ["csv"], AnalyzerConfig(model=DEFAULT_MODEL, keep_images=annotate), annotate, False, progress
    )
    run.execute(None)
    run.report()
    typer.echo(
        f"demo results in {out.resolve()}/: faces.csv (a row per face per frame), tracks.csv, seconds.csv"
        + (", annotated/" if annotate else "")
        + f"\nnext: affectlens analyze YOUR_VIDEO.mp4 --out results   (samples: {Path(samples[0]).parent})",
        err=True,
    )


def _card_labels(model: str) -> tuple[str, ...]:
    """The classes a model reads, from its card (a Ray run loads no model here: run.json listed none)."""
    from affectlens.classify import get_model

    try:
        return tuple(get_model(model).card.labels)
    except Exception:  # the workers said what was wrong with it
        return ()


def _distinct(items: list) -> list:
    """Each input once: a file given twice (or inside a folder also given) would be analysed twice and its
    tracks' summaries merged under one source name (frames counted twice, 24 frames a second at 12 fps)."""
    import os

    seen: set[str] = set()
    out = []
    for item in items:
        key = item.location if item.kind in ("stream", "camera") else os.path.abspath(item.location)  # (links kept)
        if key in seen:
            log.warning("%s is given more than once: analysed once", item.location)
            continue
        seen.add(key)
        out.append(item)
    return out


def _output_folder(out: Path) -> None:
    """Check ``--out`` can be written (it, or the folder it would be made in) before any model loads, so
    a bad one is one line rather than a traceback once the models have loaded; nothing is created yet."""
    import os

    from affectlens.errors import AffectlensError

    place = out.absolute()
    while not place.exists() and place != place.parent:
        place = place.parent
    if not place.is_dir():
        raise AffectlensError(f"--out {out}: {place} is a file, not a folder")
    if not os.access(place, os.W_OK | os.X_OK):
        raise AffectlensError(f"--out {out}: {place} is not writable")


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
    from affectlens.classify import DEFAULT_MODEL
    from affectlens.errors import AffectlensError
    from affectlens.pipeline import Analyzer
    from affectlens.signals.engagement import EngagementConfig
    from affectlens.sinks import (
        AnnotatedMedia,
        Annotator,
        FaceTable,
        StopRequested,
        Tally,
        TrackSummary,
        consume,
        stop_signals,
    )
    from affectlens.sources import WebcamSource

    if headless and out is None:
        raise AffectlensError("--headless needs --out DIR (otherwise nothing would be seen or kept)")
    if out is not None:
        _output_folder(out)
    eng = EngagementConfig.load(engagement_config) if engagement_config else EngagementConfig()
    analyzer = Analyzer(  # bad options are refused before the camera's light goes on
        model=resolve_model(model or DEFAULT_MODEL),
        smoothing_alpha=alpha,
        batch_frames=1,
        keep_images=True,
        engagement=eng,
    )
    src = WebcamSource(device, max_frames=max_frames)
    annotator = Annotator(blur_faces=blur_faces)
    tally = Tally()
    with stop_signals(), ExitStack() as stack:
        sinks: list = []
        if out:
            sinks += [
                stack.enter_context(FaceTable(out / "faces.csv")),
                stack.enter_context(TrackSummary([out / "tracks.csv"], look_away_hold_s=eng.look_away_min_s)),
            ]
            sinks.append(stack.enter_context(AnnotatedMedia(out / "annotated", "webcam", True, src.fps, annotator)))
        if not headless:
            sinks.append(stack.enter_context(_Window(Annotator(blur_faces=blur_faces))))  # its own sparkline history
        with suppress(StopRequested, _Quit):
            consume(analyzer.analyze_source(src), sinks, tally)
    typer.echo(f"{tally.frames} frames analysed" + (f"; results in {out}" if out else ""), err=True)


class _Quit(Exception):
    """q or Esc pressed in the HUD window."""


class _Window:
    """Sink: the HUD in a desktop window; q or Esc ends the run."""

    def __init__(self, annotator):
        self.annotator = annotator

    def __enter__(self):
        return self

    def add(self, result) -> None:
        import cv2

        cv2.imshow("affectlens (q quits)", cv2.cvtColor(self.annotator.draw(result), cv2.COLOR_RGB2BGR))
        if cv2.waitKey(1) & 0xFF in (ord("q"), 27):
            raise _Quit()

    def close(self) -> None:
        import cv2

        cv2.destroyAllWindows()

    def __exit__(self, *exc) -> None:
        self.close()
