"""Track-id stability on the staged clips: how many ids each clip produces vs the faces in it.

    python benchmarks/track_ids.py [--data ../shared/data] [--detect-every 1 2 3]

The clips have no ground-truth ids, so this reports, per clip: frames, frames with a face,
ids, ids that last ≥ 1 s ("real" tracks) and the share of face rows held by those ids. With
one face visible throughout, every extra long id is an id switch; short ids are brief
detections (a face turning away, a hand in front, a scene cut). With ``--detect-every``, one
table per keyframe interval (faces followed by the face mesh in between), plus the face rows as a
share of the every-frame run's (a recall proxy: the detector's rows are the reference).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from affectlens import Analyzer, to_dataframe

CLIPS = {  # clip: faces seen by eye (media/README.md)
    "short_hamilton_clip.mp4": "1 singer (+ pianist, audience cut)",
    "expressions_man.mp4": "1",
    "two_faces_composite.mp4": "2",
    "intel_two_people_head_pose.mp4": "2",
    "intel_three_people_standing.mp4": "3",
    "intel_classroom_four_people.mp4": "4 (15-25 px)",
    "tv_family_dinner.mp4": "0-5, scene cuts",
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--detect-every", type=int, nargs="+", default=[1], help="keyframe intervals (1: every frame)")
    args = ap.parse_args()
    reference: dict[str, int] = {}
    for every in sorted(set(args.detect_every) | {1}):
        analyzer = Analyzer(detect_every=every)
        print(f"\n--detect-every {every}\n")
        print("| clip | faces by eye | frames | frames with a face | ids | ids ≥ 1 s | rows in ids ≥ 1 s | rows vs 1 |")
        print("|---|---|---|---|---|---|---|---|")
        for clip, faces in CLIPS.items():
            results = list(analyzer.analyze(args.data / "media" / "videos" / clip))
            df = to_dataframe(results)
            reference.setdefault(clip, len(df))
            if df.empty:
                print(f"| {clip} | {faces} | {len(results)} | 0 | 0 | 0 | - | - |")
                continue
            span = df.groupby("track_id")["time_s"].agg(lambda t: t.max() - t.min())
            long_ids = span[span >= 1.0].index
            share = df["track_id"].isin(long_ids).mean()
            print(
                f"| {clip} | {faces} | {len(results)} | {df['frame'].nunique()} | {df['track_id'].nunique()} | "
                f"{len(long_ids)} | {share:.0%} | {len(df) / max(reference[clip], 1):.1%} |"
            )


if __name__ == "__main__":
    main()
