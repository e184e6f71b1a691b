"""One upload job: analyse a video (or image) file into tables and annotated media in a folder.

``out_dir`` receives ``faces``, ``tracks`` and ``seconds`` tables in CSV, JSONL and Parquet,
``annotated.mp4`` (or ``annotated.jpg`` for an image) and ``run.json``: the same files and the same
summary ``affectlens analyze --format csv,jsonl,parquet --annotate`` writes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from affectlens.errors import AffectlensError
from affectlens.pipeline import Analyzer
from affectlens.sinks import FORMATS, TABLES, AnalysisTables, AnnotatedMedia, Annotator, Tally, consume
from affectlens.sinks.outputs import run_summary, timing_breakdown, write_json
from affectlens.sources import ImageSource, VideoSource

__all__ = ["FORMATS", "TABLES", "Cancelled", "run_media_job"]


class Cancelled(Exception):
    """The server is stopping: the job is left to be started again."""


def run_media_job(
    analyzer: Analyzer,
    input_path: Path,
    kind: str,
    out_dir: Path,
    blur_faces: bool = False,
    name: str | None = None,
    progress: Callable[[int, int | None], None] | None = None,
    cancelled: Callable[[], bool] = lambda: False,
) -> dict:
    """Analyse ``input_path`` (kind ``video`` or ``image``); returns the summary also written as ``run.json``.

    ``analyzer`` must keep images (``keep_images=True``) for the annotated output. Raises
    :class:`~affectlens.errors.AffectlensError` for unreadable media and :class:`Cancelled` when
    ``cancelled()`` turns true between frames.
    """
    src = VideoSource(input_path) if kind == "video" else ImageSource(input_path)
    src.name = name or src.name  # the rows' source column: the uploaded file's name, not the server's path
    total = src.total_frames
    tally, t0 = Tally(), time.perf_counter()

    def after_frame(_result) -> None:
        if progress is not None:
            progress(tally.frames, total)
        if cancelled():
            raise Cancelled()

    hold = analyzer.config.engagement.look_away_min_s
    tables = AnalysisTables(out_dir, FORMATS, analyzer.labels, analyzer.signals is not None, hold)
    media = AnnotatedMedia(out_dir, src.name, kind == "video", src.fps, Annotator(blur_faces=blur_faces), "annotated")
    with tables, media:
        try:
            # blurring: small faces in the background must be found to be blurred (tiles, as analyze does)
            frames = analyzer.analyze_source(src, small_faces=True if blur_faces else None)
            consume(frames, [tables, media], tally, after_frame)
        except AffectlensError:
            if not getattr(src, "truncated", False):
                raise  # a cut-off upload keeps what it holds, with the warning below
    extra = {"video_fps": src.fps, "duration_s": src.duration_s}
    if total and tally.frames < total * 0.95:  # FFmpeg stops quietly at some truncations
        extra["warning"] = f"decoded {tally.frames} of the {total} frames the container announces (truncated?)"
    summary = run_summary(
        [src.name],
        tally,
        tables.n_tracks(),
        time.perf_counter() - t0,
        breakdown_s=timing_breakdown(analyzer.timings, tally.sink_s),
        labels=analyzer.labels,
        **extra,
    )
    write_json(out_dir / "run.json", summary)
    return summary
