"""The documented columns of the faces, tracks and seconds tables, so that a table with no rows
(a video without a face) still has its header or schema."""

from __future__ import annotations

from affectlens.signals.columns import DERIVED, MEASURED

FACE_BASE = ("source", "frame", "time_s", "track_id", "x1", "y1", "x2", "y2", "score", "label", "valence")


def face_columns(labels: tuple[str, ...], signals: bool = True) -> list[str]:
    """Columns of :meth:`FrameResult.rows` for a model with ``labels`` (signals on or off)."""
    cols = [*FACE_BASE, *(f"p_{c}" for c in labels), *(f"raw_p_{c}" for c in labels)]
    return cols + ([*MEASURED, *DERIVED] if signals else [])


_STRINGS = {"source", "label", "valence", "state", "state_reason", "dominant_label", "dominant_valence"}
_INTS = {"frame", "track_id", "second", "n_frames", "first_frame", "last_frame", "smiles", "yawns", "blinks"}
_INTS |= {"peak_time_s", "dip_time_s"}  # the start of a whole second
_BOOLS = set(DERIVED[: DERIVED.index("blink") + 1])  # laugh ... blink


def column_type(name: str) -> str:
    """The Arrow type alias a column has in a table with rows, for the schema of one without (an empty
    Parquet file typed all-string made ``pd.concat`` with a real run's file turn numbers into objects)."""
    if name in _STRINGS:
        return "string"
    if name in _INTS or name.startswith("frames_"):
        return "int64"
    return "bool" if name in _BOOLS else "float64"


def to_dataframe(results) -> pd.DataFrame:  # noqa: F821
    """Face rows of many :class:`~affectlens.types.FrameResult` as a pandas DataFrame (one row per face per frame),
    with the faces table's columns and types also when no face was found (``df["engagement"]`` of a photo of dogs
    is an empty column, not a KeyError) and ``time_s`` a float column (NaN for still images)."""
    import pandas as pd

    results = list(results)
    rows = [row for r in results for row in r.rows()]
    if rows:
        df = pd.DataFrame(rows)
        df["time_s"] = df["time_s"].astype("float64")
        return df
    labels = next((tuple(r.labels) for r in results if r.labels), ())
    cols = face_columns(labels)
    return pd.DataFrame({c: pd.Series(dtype=_PANDAS[column_type(c)]) for c in cols})


_PANDAS = {"string": "object", "int64": "int64", "bool": "bool", "float64": "float64"}
