"""One recording → the respondent's Parquet file; runs inside a worker process (or inline).

The Parquet file is written under a temporary name, fsynced and renamed into place, so a file
at the final name is always complete; the parent marks the recording done only afterwards.
"""

from __future__ import annotations

import os
import traceback
from dataclasses import dataclass
from pathlib import Path

from affectlens.sinks.base import Sink

_analyzers: dict = {}  # model -> the Analyzer loaded for it in this process
_threads: int | None = None


@dataclass(frozen=True)
class Job:
    recording_id: int
    path: str
    offset_s: float
    out_path: str  # final Parquet path
    model: str | None = None  # the study's expression model (None: the default)


@dataclass(frozen=True)
class Outcome:
    recording_id: int
    ok: bool
    error: str | None = None
    frames: int = 0
    face_frames: int = 0
    duration_s: float | None = None
    lost: bool = False  # set by the run: its claim was taken meanwhile (another run has it), the result discarded


def init_worker(threads: int | None) -> None:
    """Pool initializer: remember the thread budget; the models load on the first job."""
    global _threads
    _threads = threads


def _get_analyzer(model: str | None = None):
    if model not in _analyzers:
        from affectlens.classify import DEFAULT_MODEL
        from affectlens.pipeline import Analyzer

        _analyzers[model] = Analyzer(threads=_threads, model=model or DEFAULT_MODEL)
    return _analyzers[model]


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


class _RespondentRows(Sink):
    """Sink: face rows without ``source`` and raw probabilities, kept as compact DataFrame chunks
    (a few hundred bytes per face per frame)."""

    def __init__(self, chunk: int = 4096):
        self.chunk = chunk
        self.rows: list[dict] = []
        self.chunks: list = []

    def add(self, result) -> None:
        from affectlens.studies.respondent import stored_row

        self.rows.extend(stored_row(r) for r in result.rows())
        if len(self.rows) >= self.chunk:
            self.close()

    def close(self) -> None:
        import pandas as pd

        if self.rows:
            self.chunks.append(pd.DataFrame(self.rows))
            self.rows = []

    def frame(self):
        import pandas as pd

        self.close()
        return pd.concat(self.chunks, ignore_index=True) if self.chunks else pd.DataFrame()


def _process(job: Job) -> Outcome:
    from affectlens.errors import AffectlensError
    from affectlens.sinks import consume
    from affectlens.sources import VideoSource
    from affectlens.studies.respondent import respondent_rows

    if not Path(job.path).is_file():
        raise AffectlensError(f"{job.path}: recording file is gone (moved or deleted?)")
    src = VideoSource(job.path)
    fps, duration = src.fps, getattr(src, "duration_s", None)
    rows = _RespondentRows()
    frames = consume(_get_analyzer(job.model).analyze_source(src), [rows]).frames
    df = respondent_rows(rows.frame(), job.offset_s, fps)
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
