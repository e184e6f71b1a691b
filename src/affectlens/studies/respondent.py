"""From one recording's face rows to the respondent's rows on the stimulus timeline (pure functions).

The respondent is the recording's main face: the track seen in the most frames (ties: the larger
mean box, then the smaller track id). Other faces (bystanders) are dropped, never stored.
Stimulus time = recording time - offset, where the offset is the second of the recording at which
the stimulus started playing.
"""

from __future__ import annotations

import pandas as pd

#: columns of a respondent's Parquet file that are not kept (the source path is in the database)
DROPPED = ("source",)


def stored_row(row: dict) -> dict:
    """A face row as a respondent's file keeps it: no source path, no raw (unsmoothed) probabilities."""
    return {k: v for k, v in row.items() if k not in DROPPED and not k.startswith("raw_p_")}


def main_track(rows: pd.DataFrame) -> int | None:
    """The id of the track seen in the most frames (None when there are no faces)."""
    if rows.empty:
        return None
    area = (rows["x2"] - rows["x1"]) * (rows["y2"] - rows["y1"])
    stats = rows.assign(_area=area).groupby("track_id").agg(n=("frame", "size"), area=("_area", "mean"))
    stats = stats.reset_index().sort_values(["n", "area", "track_id"], ascending=[False, False, True])
    return int(stats["track_id"].iloc[0])


def respondent_rows(rows: pd.DataFrame, offset_s: float, fps: float | None = None) -> pd.DataFrame:
    """The main face's rows with ``stimulus_time_s`` (recording time - offset) added."""
    tid = main_track(rows)
    if tid is None:
        return pd.DataFrame(columns=["frame", "time_s", "stimulus_time_s"])
    out = rows[rows["track_id"] == tid].drop(columns=[c for c in DROPPED if c in rows.columns])
    t = out["time_s"]
    if t.isna().any() and fps:
        t = t.fillna(out["frame"] / fps)
    return out.assign(stimulus_time_s=(t - offset_s).round(4)).reset_index(drop=True)
