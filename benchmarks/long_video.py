"""Memory over a long video: RSS every 10 minutes of video while one file is analysed end to end.

    python benchmarks/long_video.py VIDEO [--every 600] [--json out.json]

A long file is made from the demo clip without re-encoding (its packets repeated with shifted
timestamps, see ``--make``). The analysis is the CLI's: every frame, engagement on, rows written to
CSV as they come. Prints one line per ``--every`` seconds of video (RSS, frames, speed so far) and
the machine; the goal is an RSS that stays flat (within 20 MB of the first report).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from affectlens.pipeline import Analyzer
from affectlens.runtime import machine_line
from affectlens.sinks import TableWriter


def rss_mb() -> float:
    line = next(x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith("VmRSS"))
    return int(line.split()[1]) / 1024


def make_long(clip: str, out: str, seconds: float) -> None:
    """``clip``'s packets repeated (timestamps shifted) until ``seconds`` long: a long file, no re-encode."""
    import av

    with av.open(clip) as src:
        stream = src.streams.video[0]
        packets = [(p, p.pts, p.dts) for p in src.demux(stream) if p.dts is not None]
        with av.open(out, "w") as dst:
            o = dst.add_stream_from_template(stream)
            t0 = min(pts for _, pts, _ in packets)
            span = max(pts + (p.duration or 0) for p, pts, _ in packets) - t0
            n = 0
            while n * span * stream.time_base < seconds:
                for p, pts, dts in packets:
                    p.pts, p.dts, p.stream = pts - t0 + n * span, dts - t0 + n * span, o
                    dst.mux(p)
                n += 1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("video")
    ap.add_argument("--every", type=float, default=600.0, help="report every this many seconds of video")
    ap.add_argument("--make", metavar="CLIP", help="first write VIDEO as CLIP repeated for --seconds")
    ap.add_argument("--seconds", type=float, default=3600.0)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    if args.make:
        make_long(args.make, args.video, args.seconds)
    print(machine_line(), flush=True)
    analyzer = Analyzer()
    reports, frames, next_at, t0 = [], 0, args.every, time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp, TableWriter(Path(tmp) / "faces.csv", "csv") as w:
        for r in analyzer.analyze(args.video):
            w.write(r.rows())
            frames += 1
            if (r.time_s or 0.0) >= next_at:
                wall = time.perf_counter() - t0
                row = {"video_min": round(next_at / 60), "rss_mb": round(rss_mb(), 1), "frames": frames}
                row |= {"wall_s": round(wall, 1), "x_real_time": round(next_at / wall, 2)}
                reports.append(row)
                print(json.dumps(row), flush=True)
                next_at += args.every
    first = reports[0]["rss_mb"] if reports else float("nan")
    growth = max(r["rss_mb"] for r in reports) - first if reports else float("nan")
    print(f"RSS {first:.0f} MB at the first report, at most {growth:+.1f} MB after it (goal within 20 MB)")
    if args.json:
        args.json.write_text(json.dumps({"machine": machine_line(), "reports": reports}, indent=2) + "\n")


if __name__ == "__main__":
    main()
