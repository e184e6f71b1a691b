"""The code that runs inside Ray worker processes (imported there by reference, never pickled).

A worker process keeps one :class:`~affectlens.pipeline.Analyzer` per configuration for its whole
life, so ONNX Runtime sessions are created once per worker, not once per task.
"""

from __future__ import annotations

import json
from contextlib import nullcontext

_analyzers: dict[str, object] = {}


def _analyzer(config: dict):
    from affectlens.pipeline import Analyzer, AnalyzerConfig
    from affectlens.signals.engagement import EngagementConfig

    key = json.dumps(config, sort_keys=True, default=str)
    if key not in _analyzers:
        cfg = dict(config)
        cfg.pop("threads", None)
        eng = cfg.pop("engagement", None)
        engagement = EngagementConfig(**eng) if isinstance(eng, dict) else EngagementConfig()
        _analyzers[key] = Analyzer(AnalyzerConfig(**cfg, engagement=engagement, threads=1))
    return _analyzers[key]


def call(fn, *args, **kwargs):
    """Run a job function (e.g. a study's :func:`affectlens.studies.worker.process`) in this worker."""
    from affectlens.studies import worker

    worker.init_worker(1)  # one ONNX Runtime thread per task: Ray gives each task one CPU
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


def unpack(out: dict):
    from affectlens.scale.cluster import SourceOutput

    return SourceOutput(
        source=out["source"],
        face_rows=_unpack_rows(out["faces"]),
        track_rows=out["tracks"],
        second_rows=out["seconds"],
        frames=out["frames"],
        error=out["error"],
    )


def analyze_paths(paths: list[str], config: dict, annotate_dir: str | None, blur_faces: bool) -> list[dict]:
    """Analyse each file in ``paths`` as ``affectlens analyze`` does; one packed output per file."""
    from affectlens.errors import AffectlensError
    from affectlens.sinks import AnnotatedMedia, Annotator, SecondSummary, TrackSummary
    from affectlens.sources import open_sources

    analyzer = _analyzer(config)
    outputs = []
    for path in paths:
        tracks, seconds, rows, frames, error = TrackSummary(), SecondSummary(), [], 0, None
        annotator = Annotator(blur_faces=blur_faces) if annotate_dir else None
        try:
            for src in open_sources(path, stride=config.get("stride", 1)):
                media = AnnotatedMedia(annotate_dir, src.name, src.is_video, src.fps, annotator) if annotator else None
                with media or nullcontext():
                    for result in analyzer.analyze_source(src):
                        rows.extend(result.rows())
                        tracks.update(result)
                        seconds.update(result)
                        frames += 1
                        if media is not None:
                            media.add(result)
        except AffectlensError as exc:
            error = str(exc)
        outputs.append(
            {
                "source": path,
                "faces": _pack(rows),
                "tracks": tracks.rows(),
                "seconds": seconds.rows(),
                "frames": frames,
                "error": error,
            }
        )
    return outputs
