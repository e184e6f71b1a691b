"""The same study batch locally and on a local Ray runtime with 1 and 2 workers, in one run.

    python benchmarks/ray_scale.py                      # 4 staged clips, each added as a respondent
    python benchmarks/ray_scale.py --copies 2 --json    # the batch twice over (8 recordings)

For each mode: wall time of `study run` (start-up included), recordings per minute, throughput
relative to the local single-process run, and Ray's overhead per task (wall time minus the
local per-recording time, divided by the number of tasks, at 1 worker). Run on an idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DATA = Path(os.environ.get("AFFECTLENS_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
CLIPS = (
    "intel_two_people_head_pose.mp4",
    "expressions_man.mp4",
    "intel_three_people_standing.mp4",
    "faceapi_test_video.mp4",
)
STIMULUS = "intel_classroom_four_people.mp4"


def _study(home: Path, name: str, copies: int) -> None:
    env = os.environ | {"AFFECTLENS_HOME": str(home)}
    videos = DATA / "media" / "videos"

    def run(*args):
        subprocess.run([sys.executable, "-m", "affectlens", *args], check=True, env=env, capture_output=True)

    run("study", "create", name, "--stimulus", str(videos / STIMULUS))
    for c in range(copies):
        for i, clip in enumerate(CLIPS):
            src = videos / clip
            if c:  # another respondent: same pixels, another file (a study refuses identical content)
                dst = home / f"copy{c}-{clip}"
                shutil.copyfile(src, dst)
                with open(dst, "ab") as fh:
                    fh.write(b"\0" * c)
                src = dst
            run("study", "add", name, str(src), "--respondent", f"r{c}-{i}")


def _timed_run(home: Path, name: str, mode: str) -> tuple[float, float]:
    code = (
        "import sys, time; from affectlens.studies import run_study; "
        "from affectlens import scale; "
        f"mode = {mode!r}; "
        "n = {'ray1': 1, 'ray2': 2}.get(mode); "
        "n and scale.connect(None, num_cpus=n); "
        "t = time.perf_counter(); "
        "s = run_study(sys.argv[1], ray='local' if n else None); "
        "print(time.perf_counter() - t, s.done, s.failed)"
    )
    env = os.environ | {"AFFECTLENS_HOME": str(home)}
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code, name], check=True, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0  # the whole process: imports, runtime start, model loads
    inner, done, failed = out.stdout.split()
    assert int(failed) == 0 and int(done) > 0, out.stderr
    return wall, float(inner)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--copies", type=int, default=1, help="add the clips this many times (respondents)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    n = len(CLIPS) * args.copies
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for mode in ("local", "ray1", "ray2"):
            home = Path(tmp) / mode
            home.mkdir()
            _study(home, "bench", args.copies)
            rows[mode] = _timed_run(home, "bench", mode)
    base = rows["local"][0]
    report = {
        "recordings": n,
        "cores": os.cpu_count(),
        "modes": {
            m: {
                "process_s": round(wall, 2),
                "run_study_s": round(inner, 2),
                "recordings_per_min": round(60 * n / wall, 2),
                "speedup_vs_local": round(base / wall, 2),
            }
            for m, (wall, inner) in rows.items()
        },
        "ray_overhead_per_task_s": round((rows["ray1"][0] - base) / n, 2),
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"{n} recordings on {report['cores']} cores")
    for m, r in report["modes"].items():
        print(
            f"  {m:<6} {r['process_s']:7.1f} s (run_study {r['run_study_s']:.1f} s)  "
            f"{r['recordings_per_min']:6.1f} rec/min  x{r['speedup_vs_local']:.2f} vs local"
        )
    print(f"  Ray overhead per task (1 worker vs local): {report['ray_overhead_per_task_s']:+.2f} s")


if __name__ == "__main__":
    main()
