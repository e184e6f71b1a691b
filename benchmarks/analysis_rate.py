"""How far per-second figures move when expressions and signals are analysed at a reduced rate.

    python benchmarks/analysis_rate.py [--data ../shared/data] [--rates 5 10 15]
    python benchmarks/analysis_rate.py --rates --detect-every 2 3   # keyframe detection instead

For every staged clip, `affectlens analyze` runs at full rate and at each ``--fps`` rate (in-process,
one Analyzer); the per-second rows (`seconds.csv`: per track and second) of tracks present in both
runs are compared: the largest and mean absolute difference of `mean_engagement` (points) and of
every `mean_p_<class>` (probability), the track-seconds compared, and the analysis time. A track of
the reduced run is compared with the full run's track it overlaps on the most frames (ids are
numbered in the order tracks are confirmed, which another schedule can change). The README's
default is the lowest rate whose differences stay within 1 point / 0.02 on every clip.
"""

from __future__ import annotations

import argparse
import glob
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from affectlens.pipeline import Analyzer, AnalyzerConfig
from affectlens.sinks import SecondSummary, Tally, consume
from affectlens.sources import open_sources


def per_second(clip: str, fps: float | None, detect_every: int = 1) -> tuple[pd.DataFrame, pd.DataFrame, float, int]:
    """The per-track, per-second rows of one run, its face boxes (frame, track_id, x1..y2), time, frames."""
    an = Analyzer(AnalyzerConfig(analysis_fps=fps, detect_every=detect_every))
    seconds, tally = SecondSummary(labels=an.labels), Tally()
    boxes: list[tuple] = []

    def keep_boxes(r) -> None:
        boxes.extend((r.frame, int(i), *b) for i, b in zip(r.faces.track_ids, r.faces.boxes.tolist(), strict=True))

    t = time.perf_counter()
    for src in open_sources(clip):
        consume(an.analyze_source(src), [seconds], tally, on_result=keep_boxes)
    faces = pd.DataFrame(boxes, columns=["frame", "track_id", "x1", "y1", "x2", "y2"])
    return pd.DataFrame(seconds.rows()), faces, time.perf_counter() - t, tally.frames


def same_faces(full: pd.DataFrame, low: pd.DataFrame) -> dict[int, int]:
    """Each of the low run's track ids → the full run's id it overlaps (IoU > 0.5) on the most frames.

    Ids are numbered in the order tracks are confirmed, which a different detection schedule can change:
    comparing by id number alone would compare different people."""
    m = full.merge(low, on="frame", suffixes=("_f", "_l"))
    if m.empty:
        return {}
    ix = np.clip(np.minimum(m.x2_f, m.x2_l) - np.maximum(m.x1_f, m.x1_l), 0, None)
    iy = np.clip(np.minimum(m.y2_f, m.y2_l) - np.maximum(m.y1_f, m.y1_l), 0, None)
    inter = ix * iy
    union = (m.x2_f - m.x1_f) * (m.y2_f - m.y1_f) + (m.x2_l - m.x1_l) * (m.y2_l - m.y1_l) - inter
    hits = m[inter / union > 0.5].groupby(["track_id_l", "track_id_f"]).size().reset_index(name="n")
    best = hits.sort_values("n", ascending=False).drop_duplicates("track_id_l")
    return dict(zip(best.track_id_l.astype(int), best.track_id_f.astype(int), strict=True))


def compare(full: pd.DataFrame, low: pd.DataFrame, ids: dict[int, int] | None = None) -> dict:
    key = ["track_id", "second"]
    if full.empty or low.empty:
        return {"track_seconds_compared": 0, "track_seconds_full": len(full)}
    if ids is not None:  # the full run's ids for the same faces; tracks with no counterpart are left out
        low = low.assign(track_id=low.track_id.map(ids)).dropna(subset=["track_id"]).astype({"track_id": int})
    m = full.merge(low, on=key, suffixes=("_full", "_low"))
    p_cols = [c[: -len("_full")] for c in m.columns if c.startswith("mean_p_") and c.endswith("_full")]
    eng = (m["mean_engagement_full"] - m["mean_engagement_low"]).abs()
    prob = np.abs(m[[f"{c}_full" for c in p_cols]].to_numpy() - m[[f"{c}_low" for c in p_cols]].to_numpy())
    return {
        "track_seconds_compared": len(m),
        "track_seconds_full": len(full),
        "engagement_max_abs": round(float(eng.max()), 2) if len(m) else None,
        "engagement_mean_abs": round(float(eng.mean()), 3) if len(m) else None,
        "probability_max_abs": round(float(prob.max()), 4) if len(m) else None,
        "probability_mean_abs": round(float(prob.mean()), 5) if len(m) else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--rates", type=float, nargs="*", default=[5.0, 10.0, 15.0])
    ap.add_argument("--detect-every", type=int, nargs="*", default=[], help="keyframe intervals to compare too")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    out = {}
    for clip in sorted(glob.glob(str(Path(args.data) / "media" / "videos" / "*.mp4"))):
        full, boxes, t_full, n_full = per_second(clip, None)
        row = {"full": {"seconds": round(t_full, 2), "frames": n_full}}
        for fps in args.rates:
            low, low_boxes, t_low, n_low = per_second(clip, fps)
            row[str(fps)] = compare(full, low, same_faces(boxes, low_boxes)) | {
                "seconds": round(t_low, 2),
                "frames": n_low,
            }
        for k in args.detect_every:
            low, low_boxes, t_low, n_low = per_second(clip, None, detect_every=k)
            row[f"detect_every_{k}"] = compare(full, low, same_faces(boxes, low_boxes)) | {
                "seconds": round(t_low, 2),
                "frames": n_low,
            }
        out[Path(clip).name] = row
        print(Path(clip).name, json.dumps(row), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
