"""How far per-second figures move when expressions and signals are analysed at a reduced rate.

    python benchmarks/analysis_rate.py [--data ../shared/data] [--rates 5 10 15]
    python benchmarks/analysis_rate.py --rates --detect-every 2 3   # keyframe detection instead

For every staged clip, `affectlens analyze` runs at full rate and at each ``--fps`` rate (in-process,
one Analyzer); the per-second rows (`seconds.csv`: per track and second) of tracks present in both
runs are compared: the largest and mean absolute difference of `mean_engagement` (points) and of
every `mean_p_<class>` (probability), the track ids kept, and the analysis time. The README's
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


def per_second(clip: str, fps: float | None, detect_every: int = 1) -> tuple[pd.DataFrame, float, int]:
    an = Analyzer(AnalyzerConfig(analysis_fps=fps, detect_every=detect_every))
    seconds, tally = SecondSummary(labels=an.labels), Tally()
    t = time.perf_counter()
    for src in open_sources(clip):
        consume(an.analyze_source(src), [seconds], tally)
    return pd.DataFrame(seconds.rows()), time.perf_counter() - t, tally.frames


def compare(full: pd.DataFrame, low: pd.DataFrame) -> dict:
    key = ["track_id", "second"]
    if full.empty or low.empty:
        return {"track_seconds_compared": 0, "track_seconds_full": len(full)}
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
        full, t_full, n_full = per_second(clip, None)
        row = {"full": {"seconds": round(t_full, 2), "frames": n_full}}
        for fps in args.rates:
            low, t_low, n_low = per_second(clip, fps)
            row[str(fps)] = compare(full, low) | {"seconds": round(t_low, 2), "frames": n_low}
        for k in args.detect_every:
            low, t_low, n_low = per_second(clip, None, detect_every=k)
            row[f"detect_every_{k}"] = compare(full, low) | {"seconds": round(t_low, 2), "frames": n_low}
        out[Path(clip).name] = row
        print(Path(clip).name, json.dumps(row), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
