"""The output folder of an analysis run: the three tables in each format, and ``run.json``.

``affectlens analyze``, Ray tasks' callers and the service's upload jobs all write this one layout:
``faces.<fmt>`` (a row per face per frame), ``tracks.<fmt>`` (per face track), ``seconds.<fmt>``
(per track and second of video), each with its header even when no face was found, and ``run.json``.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path

from affectlens.labels import EMOTIONS
from affectlens.signals.engagement import EngagementConfig
from affectlens.sinks.base import Sink, Tally
from affectlens.sinks.columns import face_columns
from affectlens.sinks.stop import deferred_stop
from affectlens.sinks.tables import FORMATS, FaceTable
from affectlens.sinks.tracks import SecondSummary, TrackSummary
from affectlens.types import FrameResult

TABLES = ("faces", "tracks", "seconds")
log = logging.getLogger(__name__)


class AnalysisTables(Sink):
    """Sink: faces, tracks and seconds tables in every format of ``formats`` under ``out``."""

    def __init__(
        self,
        out: str | Path,
        formats: Sequence[str],
        labels: tuple[str, ...] = EMOTIONS,
        signals: bool = True,
        look_away_hold_s: float = EngagementConfig.look_away_min_s,
    ):
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        self.formats = list(formats)
        _remove_stale(out, self.formats)
        self.faces = [FaceTable(out / f"faces.{f}", face_columns(labels, signals)) for f in formats]
        self.tracks = TrackSummary([out / f"tracks.{f}" for f in formats], labels, signals, look_away_hold_s)
        self.seconds = SecondSummary([out / f"seconds.{f}" for f in formats], labels, signals)

    def add(self, result: FrameResult) -> None:
        rows = result.rows()  # once for every format
        for table in self.faces:
            table.write_rows(rows)
        self.tracks.add(result)
        self.seconds.add(result)

    def add_rows(self, face_rows: list[dict], track_rows: list[dict], second_rows: list[dict]) -> None:
        """One input's rows, summarised elsewhere (a Ray worker)."""
        for table in self.faces:
            table.write_rows(face_rows)
        self.tracks.extend(track_rows)
        self.seconds.extend(second_rows)

    def n_tracks(self) -> int:
        return len(self.tracks.all_rows())

    def close(self) -> None:
        """Write out every table; a second stop signal meanwhile waits until they are all complete (a
        Ctrl-C pressed twice must not leave a table empty)."""
        with deferred_stop():
            try:
                for table in self.faces:
                    table.close()
            finally:
                self.tracks.close()
                self.seconds.close()


def _remove_stale(out: Path, formats: Sequence[str]) -> None:
    """A run writes its tables in ``formats``; an earlier run's tables in other formats would be read as
    this run's (a faces.parquet of 283 rows beside this run's faces.csv of one): they are removed."""
    for table in TABLES:
        for fmt in FORMATS:
            old = out / f"{table}.{fmt}"
            if fmt not in formats and old.is_file():
                log.info("removed %s of an earlier run (this run writes %s)", old, ", ".join(formats))
                old.unlink()


def run_summary(
    inputs: list[str],
    tally: Tally,
    tracks: int,
    elapsed_s: float,
    *,
    breakdown_s: dict | None = None,
    failed: Sequence[str] = (),
    interrupted: bool = False,
    labels: Sequence[str] = (),
    config: dict | None = None,
    **extra,
) -> dict:
    """The ``run.json`` of every analysis run (CLI, Ray, service jobs): one set of keys."""
    from affectlens import __version__

    return {
        "affectlens": __version__,
        "inputs": list(inputs),
        "frames": tally.frames,
        "faces": tally.faces,
        "tracks": tracks,
        "seconds": round(elapsed_s, 3),
        "analysis_fps": round(tally.frames / max(elapsed_s, 1e-9), 2),
        "breakdown_s": breakdown_s or {},
        "failed": list(failed),
        "interrupted": interrupted,
        "labels": list(labels),
        **extra,
        "config": config or {},
    }


def timing_breakdown(timings, sink_s: float) -> dict:
    """Seconds per stage from an analyzer's :class:`~affectlens.pipeline.Timings`."""
    return {
        "decode_wait": round(timings.decode, 3),
        "detect_track_crop": round(timings.detect, 3),
        "classify": round(timings.classify, 3),
        "signals": round(timings.extra.get("signals", 0.0), 3),
        "write": round(sink_s, 3),
    }


def write_json(path: str | Path, data: dict) -> None:
    """Write ``data`` as JSON so that ``path`` is always complete (temporary file, then rename)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str))
    os.replace(tmp, path)
