"""From one recording's face rows to the respondent's rows on the stimulus timeline (pure functions).

The respondent is the recording's main face: the track seen in the most frames (ties: the larger
mean box, then the smaller track id), joined by the tracks of the same face after it was lost (the
tracker gives a face that looked away for more than 1.5 s a new id): tracks never seen in a frame
beside it, where it sat and at its size. Other faces (bystanders) are dropped, never stored.
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


def respondent_tracks(rows: pd.DataFrame, reach: float = 1.5, size_ratio: float = 2.0) -> list[int]:
    """The main track and the tracks of the same face before or after it was lost: never in a frame
    with the tracks already taken, their mean centre within ``reach`` face widths of the main
    track's, their mean face width within ``size_ratio`` of its (longest first)."""
    tid = main_track(rows)
    if tid is None:
        return []
    r = rows.assign(_cx=(rows["x1"] + rows["x2"]) / 2, _cy=(rows["y1"] + rows["y2"]) / 2, _w=rows["x2"] - rows["x1"])
    stats = r.groupby("track_id").agg(n=("frame", "size"), cx=("_cx", "mean"), cy=("_cy", "mean"), w=("_w", "mean"))
    main = stats.loc[tid]
    near = ((stats["cx"] - main["cx"]) ** 2 + (stats["cy"] - main["cy"]) ** 2) ** 0.5 <= reach * main["w"]
    alike = (stats["w"] <= size_ratio * main["w"]) & (stats["w"] >= main["w"] / size_ratio)
    taken, frames = [tid], set(r.loc[r["track_id"] == tid, "frame"])
    for other in stats[near & alike].drop(index=tid).sort_values("n", ascending=False).index:
        seen = set(r.loc[r["track_id"] == other, "frame"])
        if not seen & frames:
            taken.append(int(other))
            frames |= seen
    return taken


def respondent_rows(rows: pd.DataFrame, offset_s: float, fps: float | None = None) -> pd.DataFrame:
    """The respondent's rows (:func:`respondent_tracks`, under the main track's id) with
    ``stimulus_time_s`` (recording time - offset) added."""
    tracks = respondent_tracks(rows)
    if not tracks:
        return pd.DataFrame(columns=["frame", "time_s", "stimulus_time_s"])
    out = rows[rows["track_id"].isin(tracks)].drop(columns=[c for c in DROPPED if c in rows.columns])
    out = out.assign(track_id=tracks[0]).sort_values("frame", kind="stable")
    t = out["time_s"]
    if t.isna().any() and fps:
        t = t.fillna(out["frame"] / fps)
    return out.assign(stimulus_time_s=(t - offset_s).round(4)).reset_index(drop=True)
