"""One recording → the respondent's Parquet file; runs inside a worker process (or inline).

The Parquet file is written under a temporary name, fsynced and renamed into place, so a file
at the final name is always complete; the parent marks the recording done only afterwards.
"""

from __future__ import annotations

import os
import traceback
from dataclasses import dataclass
from pathlib import Path

_analyzer = None
_threads: int | None = None


@dataclass(frozen=True)
class Job:
    recording_id: int
    path: str
    offset_s: float
    out_path: str  # final Parquet path


@dataclass(frozen=True)
class Outcome:
    recording_id: int
    ok: bool
    error: str | None = None
    frames: int = 0
    face_frames: int = 0
    duration_s: float | None = None


def init_worker(threads: int | None) -> None:
    """Pool initializer: remember the thread budget; the models load on the first job."""
    global _threads
    _threads = threads


def _get_analyzer():
    global _analyzer
    if _analyzer is None:
        from affectlens.pipeline import Analyzer

        _analyzer = Analyzer(threads=_threads)
    return _analyzer


def process(job: Job) -> Outcome:
    """Analyse one recording; never raises for a bad video (the outcome carries the error)."""
    from affectlens.errors import AffectlensError

    try:
        return _process(job)
    except AffectlensError as exc:
        return Outcome(job.recording_id, ok=False, error=str(exc))
    except KeyboardInterrupt:
        raise
    except Exception as exc:
        tb = traceback.format_exc(limit=3)
        return Outcome(job.recording_id, ok=False, error=f"{type(exc).__name__}: {exc}\n{tb}")


def _process(job: Job) -> Outcome:
    import pandas as pd

    from affectlens.sources import VideoSource
    from affectlens.studies.respondent import respondent_rows

    if not Path(job.path).is_file():
        from affectlens.errors import AffectlensError

        raise AffectlensError(f"{job.path}: recording file is gone (moved or deleted?)")
    analyzer = _get_analyzer()
    src = VideoSource(job.path)
    fps, duration = src.fps, getattr(src, "duration_s", None)
    rows: list[dict] = []
    chunks: list[pd.DataFrame] = []  # face rows in compact DataFrames, a few hundred bytes per face per frame
    frames = 0
    for result in analyzer.analyze_source(src):
        frames += 1
        rows.extend({k: v for k, v in r.items() if k != "source" and not k.startswith("raw_p_")} for r in result.rows())
        if len(rows) >= 4096:
            chunks.append(pd.DataFrame(rows))
            rows = []
    chunks.append(pd.DataFrame(rows))
    nonempty = [c for c in chunks if len(c)]
    all_rows = pd.concat(nonempty, ignore_index=True) if nonempty else pd.DataFrame()
    df = respondent_rows(all_rows, job.offset_s, fps)
    write_parquet_atomic(df, Path(job.out_path))
    return Outcome(job.recording_id, ok=True, frames=frames, face_frames=len(df), duration_s=duration)


def write_parquet_atomic(df, path: Path) -> None:
    """Write ``df`` to ``path`` so that ``path`` is either absent or complete (temp file, fsync, rename)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        pq.write_table(pa.Table.from_pandas(df, preserve_index=False), tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
