"""Plot engagement over time for one clip (the README's example figure).

    python benchmarks/engagement_plot.py ../shared/data/media/videos/intel_two_people_head_pose.mp4 \
        --out docs/engagement_example.png

Runs the default Analyzer, then draws per face track: the engagement index (0-100), its two
ingredients (attention and expression engagement, 0-1 scaled to 0-100), and the disengaged
moments coloured by their reason (grey: face_lost, the face unreadable: no engagement at all).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from affectlens import Analyzer, to_dataframe

REASON_COLORS = {"eyes_closed": "tab:purple", "yawning": "tab:orange", "looking_away": "tab:red", "face_lost": "0.5"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("video")
    ap.add_argument("--out", default="docs/engagement_example.png")
    ap.add_argument("--min-frames", type=int, default=30, help="plot tracks with at least this many frames")
    args = ap.parse_args()
    df = to_dataframe(Analyzer().analyze(args.video))
    tracks = [t for t, g in df.groupby("track_id") if len(g) >= args.min_frames]
    fig, axes = plt.subplots(len(tracks), 1, figsize=(9, 2.4 * len(tracks)), sharex=True, squeeze=False)
    for ax, tid in zip(axes[:, 0], tracks, strict=True):
        g = df[df.track_id == tid].sort_values("time_s")
        ax.plot(g.time_s, g.engagement, color="tab:green", lw=1.8, label="engagement (0-100)")
        ax.plot(g.time_s, 100 * g.attention, color="tab:blue", lw=0.9, alpha=0.7, label="100 × attention")
        ax.plot(g.time_s, 100 * g.expression_engagement, color="tab:olive", lw=0.9, alpha=0.7,
                label="100 × expression engagement")  # fmt: skip
        for reason, col in REASON_COLORS.items():
            m = g.state_reason == reason
            if m.any():
                ax.scatter(g.time_s[m], [3] * int(m.sum()), s=6, color=col, marker="s", label=reason.replace("_", " "))
        ax.set_ylim(0, 105)
        ax.set_ylabel(f"face #{tid}")
        ax.grid(alpha=0.3)
    axes[0, 0].legend(loc="lower left", fontsize=7, ncol=3)
    axes[-1, 0].set_xlabel("time (s, container timestamps)")
    fig.suptitle(Path(args.video).name, fontsize=10)
    fig.tight_layout()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print(f"{len(df)} face rows, {len(tracks)} tracks → {args.out}")


if __name__ == "__main__":
    main()
