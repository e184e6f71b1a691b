"""A real local Ray runtime (2 CPUs): a folder and a study through it, compared with local runs."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

pytest.importorskip("ray", reason="the [ray] extra is not installed: pip install -e '.[ray]'")

from affectlens.studies import recordings
from affectlens.studies.api import add_recording, create_study
from affectlens.studies.locations import locate
from tests.conftest import cli, need
from tests.studies.conftest import clip

pytestmark = pytest.mark.slow
CLIPS = ("intel_two_people_head_pose.mp4", "expressions_man.mp4", "intel_three_people_standing.mp4")


def test_a_folder_on_ray_writes_the_same_files_as_a_local_run(tmp_path, media):
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("happy.jpg", "sad.jpg", "surprised.jpg"):
        (folder / name).symlink_to(need(media / "expressions" / name))
    (folder / "happy.png").symlink_to(need(media / "expressions" / "happy.jpg"))  # a stem shared with happy.jpg
    for name in CLIPS[:2]:
        (folder / name).symlink_to(clip(name))
    inputs = (folder,)
    cli("analyze", *inputs, "--out", tmp_path / "local", "--annotate", "--no-progress", check=True)
    r = cli("analyze", *inputs, "--out", tmp_path / "ray", "--annotate", "--ray", "--no-progress", check=True)
    assert int(re.search(r"(\d+) frames", r.stderr).group(1)) > 6  # the videos were analysed, not only the stills
    for table in ("faces.csv", "tracks.csv", "seconds.csv"):
        local, remote = (tmp_path / "local" / table).read_bytes(), (tmp_path / "ray" / table).read_bytes()
        assert local == remote, f"{table} differs between the local and the Ray run"
    assert len(pd.read_csv(tmp_path / "ray" / "faces.csv")) > 100
    local, remote = ({p.name for p in (tmp_path / d / "annotated").iterdir()} for d in ("local", "ray"))
    assert local == remote and len(remote) == 6  # every input its own annotated file, none overwritten
    labels = [json.loads((tmp_path / d / "run.json").read_text())["labels"] for d in ("local", "ray")]
    assert labels[0] == labels[1] and len(labels[0]) == 8  # the Ray run's run.json listed no classes


def _ray_task_pids() -> list[int]:
    out = subprocess.run(["ps", "-eo", "pid=,args="], capture_output=True, text=True).stdout
    return [int(line.split()[0]) for line in out.splitlines() if "ray::call" in line]


def test_a_killed_worker_is_retried_and_every_recording_is_done_exactly_once(tmp_path, monkeypatch):
    monkeypatch.setenv("AFFECTLENS_HOME", str(tmp_path / "home"))
    for name in ("local", "onray"):  # (set up in-process: eight commands cost ~10 s of imports)
        create_study(name, clip("intel_classroom_four_people.mp4"))
        for i, c in enumerate(CLIPS):
            add_recording(name, clip(c), f"r{i}")
    cli("study", "run", "local", "--no-progress", check=True)

    cmd = [sys.executable, "-m", "affectlens", "study", "run", "onray", "--ray", "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy())
    killed = None
    deadline = time.monotonic() + 120
    while killed is None and time.monotonic() < deadline and proc.poll() is None:
        pids = _ray_task_pids()
        if pids:
            time.sleep(1.0)  # let it get into the video
            killed = pids[0]
            os.kill(killed, signal.SIGKILL)
        time.sleep(0.2)
    _, err = proc.communicate(timeout=300)
    assert killed is not None, f"no Ray task was seen running: {err[-500:]}"
    assert proc.returncode == 0, err[-2000:]

    local, onray = (sorted(recordings(n)[1], key=lambda r: r.respondent) for n in ("local", "onray"))
    assert [r.status for r in onray] == ["done"] * 3
    assert [r.attempts for r in onray] == [1, 1, 1]  # claimed once each: Ray's retry is not a second claim
    results = locate("onray").folder / "results"
    assert sorted(p.name for p in results.iterdir()) == sorted(f"{r.id}.parquet" for r in onray)
    for a, b in zip(local, onray, strict=True):
        fa = pd.read_parquet(locate("local").folder / a.result_path)
        fb = pd.read_parquet(locate("onray").folder / b.result_path)
        pd.testing.assert_frame_equal(fa, fb)  # row for row, no duplicate rows from the killed attempt
    before = {p.name: p.stat().st_mtime_ns for p in results.iterdir()}
    again = cli("study", "run", "onray", "--ray", "--no-progress", check=True)
    assert "nothing to do" in again.stdout
    assert {p.name: p.stat().st_mtime_ns for p in results.iterdir()} == before  # a no-op: nothing rewritten
