"""End-to-end speed of `affectlens analyze` on a clip, with a breakdown and a same-run baseline.

    python benchmarks/bench_pipeline.py ../shared/data/media/videos/short_hamilton_clip.mp4
    python benchmarks/bench_pipeline.py CLIP --loop-seconds 600     # memory over a long video
    python benchmarks/bench_pipeline.py CLIP --detect-every 3       # keyframes, faces followed between

Reports: decode-only fps (the baseline: no pipeline can beat it), pipeline fps, the ratio,
× real time, the per-stage breakdown (decode wait / detect+track+crop / classify / write) and
RSS at start and end. ``--no-detect-ahead`` runs every stage in one thread (the baseline for the
worker thread). Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

from affectlens.pipeline import Analyzer
from affectlens.runtime import machine
from affectlens.sinks import TableWriter
from affectlens.sources import VideoSource


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def decode_only(clip: str) -> tuple[int, float]:
    t = time.perf_counter()
    n = sum(1 for _ in VideoSource(clip))
    return n, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("clip")
    ap.add_argument("--loop-seconds", type=float, default=0.0, help="repeat the clip until this much video is done")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--model", default=None, help="expression model (default: the shipped default)")
    ap.add_argument("--json", type=Path, help="write the figures here too")
    ap.add_argument("--fps", type=float, default=0.0, help="analysis rate (affectlens analyze --fps); 0: every frame")
    ap.add_argument("--detect-every", type=int, default=1, help="keyframe interval (affectlens analyze --detect-every)")
    ap.add_argument(
        "--detect-ahead",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="decode and detect in the worker thread (the default); --no-detect-ahead: one thread, the baseline",
    )
    args = ap.parse_args()

    src = VideoSource(args.clip)
    duration = src.duration_s or 0.0
    src.close()
    n_dec, t_dec = decode_only(args.clip)
    duration = min(duration, n_dec / (src.fps or 30)) if duration else n_dec / (src.fps or 30)

    extra = {"model": args.model} if args.model else {}
    analyzer = Analyzer(
        device=args.device,
        analysis_fps=args.fps or None,
        detect_every=args.detect_every,
        detect_ahead=args.detect_ahead,
        **extra,
    )
    rss_start = rss_mb()
    frames = faces = 0
    video_s = 0.0
    t0 = time.perf_counter()
    write_s = 0.0
    with tempfile.TemporaryDirectory() as tmp, TableWriter(Path(tmp) / "faces.csv", "csv") as w:
        loops = 0
        while True:
            for r in analyzer.analyze(args.clip):
                tw = time.perf_counter()
                w.write(r.rows())
                write_s += time.perf_counter() - tw
                frames += 1
                faces += len(r.faces)
            loops += 1
            video_s += duration
            if loops == 1:
                rss_after_first = rss_mb()
            if video_s >= args.loop_seconds:
                break
    elapsed = time.perf_counter() - t0
    tm = analyzer.timings
    res = {
        "machine": machine(),
        "clip": args.clip,
        "model": analyzer.classifier.card.name,
        "analysis_fps": args.fps or "every frame",
        "detect_every": args.detect_every,
        "detect_ahead": args.detect_ahead,
        "video_seconds": round(video_s, 2),
        "frames": frames,
        "faces": faces,
        "decode_only_fps": round(n_dec / t_dec, 1),
        "pipeline_fps": round(frames / elapsed, 1),  # analysed frames per second (fewer with --fps)
        "pipeline_vs_decode_only": round((frames / elapsed) / (n_dec / t_dec), 3),
        "x_real_time": round(video_s / elapsed, 2),
        # with --detect-ahead, decode and detect run in the worker thread beside the other stages: their
        # seconds overlap the rest and do not add up to the total
        "breakdown_s": {
            "decode_wait": round(tm.decode, 2),
            "detect_track_crop": round(tm.detect, 2),
            "classify": round(tm.classify, 2),
            "signals": round(tm.extra.get("signals", 0.0), 2),
            "write": round(write_s, 2),
            "total": round(elapsed, 2),
        },
        "rss_mb": {
            "start": round(rss_start, 1),
            "after_first_pass": round(rss_after_first, 1),
            "end": round(rss_mb(), 1),
            "peak": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        },
    }
    print(json.dumps(res, indent=2))
    if args.json:
        args.json.write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
