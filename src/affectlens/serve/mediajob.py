"""One upload job: analyse a video (or image) file into tables and annotated media in a folder.

``out_dir`` receives ``faces``, ``tracks`` and ``seconds`` tables in CSV, JSONL and Parquet,
``annotated.mp4`` (or ``annotated.jpg`` for an image) and ``summary.json``; the same files
``affectlens analyze --format csv,jsonl,parquet --annotate`` writes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

from affectlens.pipeline import Analyzer
from affectlens.sinks import Annotator, SecondSummary, TableWriter, TrackSummary, VideoWriter, write_image
from affectlens.sources import ImageSource, VideoSource

FORMATS = ("csv", "jsonl", "parquet")
TABLES = ("faces", "tracks", "seconds")


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
    """Analyse ``input_path`` (kind ``video`` or ``image``); returns the summary also written as JSON.

    ``analyzer`` must keep images (``keep_images=True``) for the annotated output. Raises
    :class:`~affectlens.errors.AffectlensError` for unreadable media and :class:`Cancelled` when
    ``cancelled()`` turns true between frames.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    src = VideoSource(input_path) if kind == "video" else ImageSource(input_path)
    src.name = name or src.name  # the rows' source column: the uploaded file's name, not the server's path
    total = src.total_frames
    tracks, seconds, annotator = TrackSummary(), SecondSummary(), Annotator(blur_faces=blur_faces)
    frames = faces = 0
    t0 = time.perf_counter()
    with ExitStack() as stack:
        writers = [stack.enter_context(TableWriter(out_dir / f"faces.{f}", f)) for f in FORMATS]
        video = stack.enter_context(VideoWriter(out_dir / "annotated.mp4", src.fps)) if kind == "video" else None
        for result in analyzer.analyze_source(src):
            rows = result.rows()
            for w in writers:
                w.write(rows)
            tracks.update(result)
            seconds.update(result)
            img = annotator.draw(result)
            if video is not None:
                video.write(img)
            else:
                write_image(out_dir / "annotated.jpg", img)
            frames += 1
            faces += len(result.faces)
            if progress is not None:
                progress(frames, total)
            if cancelled():
                raise Cancelled()
    for name, rows in (("tracks", tracks.rows()), ("seconds", seconds.rows())):
        for f in FORMATS:
            with TableWriter(out_dir / f"{name}.{f}", f) as tw:
                tw.write(rows)
    elapsed = time.perf_counter() - t0
    summary = {
        "frames": frames,
        "faces": faces,
        "tracks": len(tracks.rows()),
        "fps": src.fps,
        "duration_s": src.duration_s,
        "seconds": round(elapsed, 3),
        "analysis_fps": round(frames / max(elapsed, 1e-9), 2),
        "labels": list(analyzer.labels),
    }
    if total and frames < total * 0.95:  # FFmpeg stops quietly at some truncations
        summary["warning"] = f"decoded {frames} of the {total} frames the container announces (truncated?)"
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary
