"""The code that runs inside Ray worker processes (imported there by reference, never pickled).

A worker process keeps one :class:`~affectlens.pipeline.Analyzer` per configuration for its whole
life, so ONNX Runtime sessions are created once per worker, not once per task. What a job needs
in its worker (a study's thread budget, say) comes in as an ``initializer``: this layer imports
nothing above the pipeline.
"""

from __future__ import annotations

import json
from contextlib import ExitStack
from dataclasses import dataclass

from affectlens.errors import AffectlensError
from affectlens.pipeline import Analyzer, AnalyzerConfig
from affectlens.sinks import AnnotatedMedia, Annotator, SecondSummary, Sink, Tally, TrackSummary, consume
from affectlens.sources import open_sources

_analyzers: dict[str, Analyzer] = {}
_initialized: set[str] = set()


@dataclass
class SourceOutput:
    """What one input gives back: its face rows, track and per-second summaries, or its error."""

    source: str
    face_rows: list[dict]
    track_rows: list[dict]
    second_rows: list[dict]
    frames: int
    error: str | None = None


def _analyzer(config: dict) -> Analyzer:
    key = json.dumps(config, sort_keys=True, default=str)
    if key not in _analyzers:
        # one ONNX Runtime thread per worker: Ray gives each task one CPU
        _analyzers[key] = Analyzer(AnalyzerConfig.from_dict(config | {"threads": 1}))
    return _analyzers[key]


def call(init: tuple, fn, *args, **kwargs):
    """Run a job function in this worker, after ``init = (initializer, initargs)`` ran here once."""
    initializer, initargs = init
    if initializer is not None:
        key = f"{initializer.__module__}.{initializer.__qualname__}{initargs!r}"
        if key not in _initialized:
            initializer(*initargs)
            _initialized.add(key)
    return fn(*args, **kwargs)


def _pack(rows: list[dict]) -> dict:
    """Rows as column names once plus value tuples (a fraction of the bytes of repeated dicts)."""
    if not rows:
        return {"columns": [], "values": []}
    cols = list(rows[0])
    if all(list(r) == cols for r in rows):
        return {"columns": cols, "values": [tuple(r.values()) for r in rows]}
    return {"columns": None, "values": rows}


def _unpack_rows(packed: dict) -> list[dict]:
    if packed["columns"] is None:
        return packed["values"]
    cols = packed["columns"]
    return [dict(zip(cols, v, strict=True)) for v in packed["values"]]


def unpack(out: dict) -> SourceOutput:
    return SourceOutput(
        source=out["source"],
        face_rows=_unpack_rows(out["faces"]),
        track_rows=out["tracks"],
        second_rows=out["seconds"],
        frames=out["frames"],
        error=out["error"],
    )


class _Rows(Sink):
    """Sink: the face rows in memory (they travel back to the driver)."""

    def __init__(self) -> None:
        self.rows: list[dict] = []

    def add(self, result) -> None:
        self.rows.extend(result.rows())


def analyze_paths(
    paths: list[str | tuple[str, str | None]], config: dict, annotate_dir: str | None, blur_faces: bool
) -> list[dict]:
    """Analyse each file in ``paths`` as ``affectlens analyze`` does; one packed output per file. An entry
    may be ``(path, stem)``: its annotated file's name, chosen by the driver so that no two collide."""
    entries = [(p, None) if isinstance(p, str) else p for p in paths]
    return [_analyze_path(path, config, annotate_dir, blur_faces, stem) for path, stem in entries]


def _analyze_path(path: str, config: dict, annotate_dir: str | None, blur_faces: bool, stem: str | None = None) -> dict:
    analyzer = _analyzer(config)
    hold = analyzer.config.engagement.look_away_min_s
    rows, tracks, seconds, tally = _Rows(), TrackSummary(look_away_hold_s=hold), SecondSummary(), Tally()
    error = None
    try:
        for src in open_sources(path, stride=config.get("stride", 1)):
            with ExitStack() as stack:
                sinks = [rows, tracks, seconds]
                if annotate_dir:
                    annotator = Annotator(blur_faces=blur_faces)
                    media = AnnotatedMedia(annotate_dir, src.name, src.is_video, src.fps, annotator, stem)
                    sinks.append(stack.enter_context(media))
                consume(analyzer.analyze_source(src), sinks, tally)
    except AffectlensError as exc:
        error = str(exc)
    return {
        "source": path,
        "faces": _pack(rows.rows),
        "tracks": tracks.rows(),
        "seconds": seconds.rows(),
        "frames": tally.frames,
        "error": error,
    }
