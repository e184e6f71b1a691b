"""The documented columns of the faces, tracks and seconds tables, so that a table with no rows
(a video without a face) still has its header or schema."""

from __future__ import annotations

from affectlens.signals.columns import DERIVED, MEASURED

FACE_BASE = ("source", "frame", "time_s", "track_id", "x1", "y1", "x2", "y2", "score", "label", "valence")


def face_columns(labels: tuple[str, ...], signals: bool = True) -> list[str]:
    """Columns of :meth:`FrameResult.rows` for a model with ``labels`` (signals on or off)."""
    cols = [*FACE_BASE, *(f"p_{c}" for c in labels), *(f"raw_p_{c}" for c in labels)]
    return cols + ([*MEASURED, *DERIVED] if signals else [])
