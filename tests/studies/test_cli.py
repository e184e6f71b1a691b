"""`affectlens study …` end to end on short staged clips: errors, failures, parallel runs, resume, report."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from affectlens.studies import recordings
from tests.conftest import cli
from tests.studies.conftest import clip

STIMULUS = "intel_classroom_four_people.mp4"  # 3 s
SHORT = ("intel_two_people_head_pose.mp4", "intel_three_people_standing.mp4", "expressions_man.mp4")


def _by_respondent(name: str, db: str | None = None) -> dict:
    return {r.respondent: r for r in recordings(name, db)[1]}


def test_user_errors_are_one_line(home, tmp_path):
    stim = clip(STIMULUS)
    r = cli("study", "create", "ad", "--stimulus", tmp_path / "missing.mp4")
    assert r.returncode == 1 and "error: stimulus" in r.stderr and "no such file" in r.stderr
    r = cli("study", "add", "nope", stim, "--respondent", "r1")
    assert r.returncode == 1 and "no study named 'nope'" in r.stderr
    cli("study", "create", "ad", "--stimulus", stim, check=True)
    r = cli("study", "create", "ad", "--stimulus", stim)
    assert r.returncode == 1 and "already exists" in r.stderr
    r = cli("study", "create", "bad/name", "--stimulus", stim)
    assert r.returncode == 1 and "study name" in r.stderr
    r = cli("study", "add", "ad", clip(SHORT[0]), "--respondent", "r1", "--tag", "agegroup")
    assert r.returncode == 1 and "key=value" in r.stderr
    cli("study", "add", "ad", clip(SHORT[0]), "--respondent", "r1", "--tag", "age=18-24", check=True)
    copy = tmp_path / "same-video-other-name.mp4"
    copy.write_bytes(clip(SHORT[0]).read_bytes())
    r = cli("study", "add", "ad", copy, "--respondent", "r2")
    assert r.returncode == 1 and "same content" in r.stderr and "'r1'" in r.stderr
    assert len(_by_respondent("ad")) == 1
    assert all(len(line) < 400 for line in r.stderr.splitlines())


def test_parallel_run_failure_rerun_report_and_export(home, tmp_path):
    cli("study", "create", "ad", "--stimulus", clip(STIMULUS), check=True)
    cli("study", "add", "ad", clip(SHORT[0]), "--respondent", "r1", "--offset", "0.5", "--tag", "group=a", check=True)
    cli("study", "add", "ad", clip(SHORT[1]), "--respondent", "r2", "--tag", "group=b", check=True)
    bad = tmp_path / "corrupt.mp4"
    bad.write_bytes(os.urandom(20000))
    cli("study", "add", "ad", bad, "--respondent", "r3", "--tag", "group=b", check=True)

    r = cli("study", "run", "ad", "--workers", "2")
    assert r.returncode == 1, r.stderr  # one recording failed: reported, the rest went on
    recs = _by_respondent("ad")
    assert (recs["r1"].status, recs["r2"].status, recs["r3"].status) == ("done", "done", "failed")
    assert "corrupt" in recs["r3"].error or "not a readable video" in recs["r3"].error
    for rec in (recs["r1"], recs["r2"]):
        frames = pd.read_parquet(home / "studies" / "ad" / rec.result_path)
        assert rec.face_frames == len(frames) > 0 and frames["track_id"].nunique() == 1  # the main face only
        assert "source" not in frames.columns  # derived data only
    first = pd.read_parquet(home / "studies" / "ad" / recs["r1"].result_path)
    assert (first["stimulus_time_s"] - (first["time_s"] - 0.5)).abs().max() < 1e-3

    t = time.perf_counter()
    r = cli("study", "run", "ad")
    assert r.returncode == 0 and "nothing to do" in r.stdout
    assert time.perf_counter() - t < 6  # no model loaded
    assert _by_respondent("ad")["r1"].attempts == 1

    out = tmp_path / "report.html"
    cli("study", "report", "ad", "--out", out, check=True)
    page = out.read_text()
    assert "plotly" in page.lower() and "data:image/jpeg;base64," in page and "r3" in page
    cli("study", "export", "ad", "--out", tmp_path / "exp", check=True)
    tl = pd.read_csv(tmp_path / "exp" / "timeline.csv")
    assert list(tl["second"]) == [0, 1, 2] and tl["n_respondents"].max() == 2
    assert (tmp_path / "exp" / "timeline.parquet").exists()
    comp = pd.read_parquet(tmp_path / "exp" / "tag_comparison.parquet")
    assert set(comp["value"]) == {"a", "b"}


def _popen_run(name: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "affectlens", "study", "run", name, "--no-progress"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_killed_run_loses_nothing_and_resumes(home):
    cli("study", "create", "ad", "--stimulus", clip(STIMULUS), check=True)
    cli("study", "add", "ad", clip(SHORT[0]), "--respondent", "r1", check=True)
    cli("study", "add", "ad", clip(SHORT[2]), "--respondent", "r2", check=True)
    proc = _popen_run("ad")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and _by_respondent("ad")["r1"].status != "done":
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)  # the harshest interruption: no cleanup at all
    proc.wait(timeout=30)
    before = _by_respondent("ad")
    assert before["r1"].status == "done", "the run did not finish r1 in time"
    assert before["r2"].status in ("running", "pending")  # a dead process's claim
    assert (home / "studies" / "ad" / before["r1"].result_path).is_file()

    r = cli("study", "run", "ad")
    assert r.returncode == 0, r.stderr
    assert "1 done" in r.stdout  # only what was not done
    after = _by_respondent("ad")
    assert after["r2"].status == "done"
    assert after["r1"].attempts == 1 and after["r1"].finished_at == before["r1"].finished_at


def test_two_runs_at_once_never_process_a_recording_twice(home):
    cli("study", "create", "ad", "--stimulus", clip(STIMULUS), check=True)
    for i, name in enumerate(SHORT):
        cli("study", "add", "ad", clip(name), "--respondent", f"r{i}", check=True)
    procs = [_popen_run("ad") for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-500:] for o in outs]
    recs = _by_respondent("ad")
    assert all(r.status == "done" and r.attempts == 1 for r in recs.values())
    done = sum(int(o[0].split(" done")[0]) for o in outs if " done" in o[0])
    assert done == len(SHORT)


def test_postgres_end_to_end(home, postgres_url, tmp_path):
    """The same study on PostgreSQL (via --db), processed in-process through the Python API."""
    from affectlens.studies import add_recording, create_study, run_study, tables

    create_study("pg", clip(STIMULUS), db=postgres_url)
    add_recording("pg", clip(SHORT[1]), "r1", offset_s=0.0, tags={"group": "a"}, db=postgres_url)
    r = cli("study", "add", "pg", clip(SHORT[1]), "--respondent", "r2", "--db", postgres_url)
    assert r.returncode == 1 and "same content" in r.stderr
    summary = run_study("pg", db=postgres_url)
    assert (summary.done, summary.failed) == (1, 0)
    assert run_study("pg", db=postgres_url).done == 0  # idempotent
    study, t = tables("pg", db=postgres_url)
    assert study.stimulus_duration_s == pytest.approx(3.0, abs=0.1)
    assert t.timeline["n_respondents"].max() == 1 and len(t.per_second) > 0
    assert Path(study.data_dir, "results").is_dir()


def test_ctrl_c_gives_the_claim_back(home):
    cli("study", "create", "ad", "--stimulus", clip(STIMULUS), check=True)
    cli("study", "add", "ad", clip(SHORT[2]), "--respondent", "r1", check=True)
    proc = _popen_run("ad")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and _by_respondent("ad")["r1"].status != "running":
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err[-500:]
    rec = _by_respondent("ad")["r1"]
    assert (rec.status, rec.claimed_by, rec.attempts) == ("pending", None, 1)
    assert not list((home / "studies" / "ad").glob("results/*.parquet"))  # no half result


def test_a_study_reads_every_recording_with_the_model_it_was_created_with(home):
    stim, rec = clip(STIMULUS), clip(SHORT[0])
    r = cli("study", "create", "x", "--stimulus", stim, "--model", "no-such-model")
    assert r.returncode == 1 and "unknown model 'no-such-model'" in r.stderr
    assert "no study named" in cli("study", "status", "x").stderr  # nothing was written
    cli("study", "create", "plain", "--stimulus", stim, check=True)
    made = cli("study", "create", "older", "--stimulus", stim, "--model", "affect-cnn-x2-v1-int8", check=True)
    assert "expression model: affect-cnn-x2-v1-int8" in made.stderr
    probs = {}
    for name in ("plain", "older"):
        cli("study", "add", name, rec, "--respondent", "r1", check=True)
        cli("study", "run", name, "--no-progress", check=True)
        study, (only,) = recordings(name)
        probs[name] = pd.read_parquet(Path(study.data_dir) / only.result_path).filter(like="p_").to_numpy()
    assert json.loads(cli("study", "status", "plain", "--json").stdout)["model"] == "affect-ens-v4-int8"
    assert json.loads(cli("study", "status", "older", "--json").stdout)["model"] == "affect-cnn-x2-v1-int8"
    # the same faces, two models: the rows differ, so each study's recordings went through its own model
    assert probs["plain"].shape == probs["older"].shape and abs(probs["plain"] - probs["older"]).max() > 0.05


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]


def test_a_worker_killed_mid_run_loses_no_recording(home):
    """A worker process killed (the OOM killer) failed every recording in flight, healthy ones too, then the
    run ended with a BrokenProcessPool traceback and the rest were never processed."""
    cli("study", "create", "ad", "--stimulus", clip(STIMULUS), check=True)
    for i, name in enumerate(SHORT):
        cli("study", "add", "ad", clip(name), "--respondent", f"r{i}", check=True)
    proc = subprocess.Popen(
        [sys.executable, "-m", "affectlens", "study", "run", "ad", "--workers", "2", "--no-progress"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and sum(r.status == "running" for r in _by_respondent("ad").values()) < 2:
        time.sleep(0.05)
    workers = [p for p in _children(proc.pid) if "spawn" in Path(f"/proc/{p}/cmdline").read_text(errors="ignore")]
    assert workers, "no worker process found"
    os.kill(workers[0], signal.SIGKILL)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0 and "Traceback" not in err, err[-800:]
    assert {r.status for r in _by_respondent("ad").values()} == {"done"}
