"""`affectlens analyze` end to end: columns, formats, annotation, interruption, bad input."""

import json
import signal
import subprocess
import sys
import time

import av
import numpy as np
import pandas as pd
import pytest

from affectlens.labels import EMOTIONS
from tests.conftest import cli

COLUMNS = [
    "source",
    "frame",
    "time_s",
    "track_id",
    "x1",
    "y1",
    "x2",
    "y2",
    "score",
    "label",
    "valence",
    *[f"p_{c}" for c in EMOTIONS],
]
ENGAGEMENT = [
    "yaw",
    "pitch",
    "roll",
    "eye_openness",
    "eyes_closed",
    "mouth_open",
    "yawning",
    "looking_away",
    "expression_engagement",
    "engagement",
    "state",
    "state_reason",
]


def test_clip_to_every_format_with_annotation(media, tmp_path):
    clip = media / "videos" / "short_hamilton_clip.mp4"
    cli("analyze", clip, "--out", tmp_path, "--format", "csv,jsonl,parquet", "--annotate", check=True)
    csv = pd.read_csv(tmp_path / "faces.csv")
    assert list(csv.columns[: len(COLUMNS)]) == COLUMNS
    assert all(f"raw_p_{c}" in csv.columns for c in EMOTIONS)
    jl = pd.read_json(tmp_path / "faces.jsonl", lines=True)
    pq = pd.read_parquet(tmp_path / "faces.parquet")
    assert len(csv) == len(jl) == len(pq) >= 200
    assert set(csv["valence"]) <= {"positive", "negative", "neutral"}
    assert csv["time_s"].is_monotonic_increasing
    tracks = pd.read_csv(tmp_path / "tracks.csv")
    assert tracks["n_frames"].sum() == len(csv)
    with av.open(str(tmp_path / "annotated" / "short_hamilton_clip.mp4")) as c:
        n = sum(1 for _ in c.decode(video=0))
    assert n == 275


def test_engagement_columns_and_per_second_aggregation(media, tmp_path):
    clip = media / "videos" / "intel_two_people_head_pose.mp4"
    cli("analyze", clip, "--out", tmp_path, check=True)
    faces = pd.read_csv(tmp_path / "faces.csv", keep_default_na=False)
    assert all(c in faces.columns for c in ENGAGEMENT)
    assert set(faces["state"]) <= {"engaged", "disengaged"}
    assert set(faces["state_reason"]) <= {"", "eyes_closed", "yawning", "looking_away", "face_lost"}
    assert ((faces["state"] == "engaged") == (faces["state_reason"] == "")).all()
    assert faces["engagement"].between(0, 100).all() and faces["eye_openness"].between(0, 1).all()
    # engagement is recomputable from its exported ingredients
    recomputed = 100 * faces["attention"] * (0.5 + 0.5 * faces["expression_engagement"])
    assert (recomputed - faces["engagement"]).abs().max() < 0.1
    # per-second rows are the means of the face rows of that track and second
    seconds = pd.read_csv(tmp_path / "seconds.csv")
    faces["second"] = faces["time_s"].astype(float).floordiv(1).astype(int)
    expect = faces.groupby(["track_id", "second"])["engagement"].agg(["mean", "size"]).reset_index()
    got = seconds.merge(expect, on=["track_id", "second"])
    assert len(got) == len(seconds) == len(expect)
    assert (got["mean_engagement"] - got["mean"]).abs().max() < 1e-3 and (got["n_frames"] == got["size"]).all()
    tracks = pd.read_csv(tmp_path / "tracks.csv")
    for c in ("attentive_share", "mean_engagement", "blinks", "yawns", "smiles", "longest_look_away_s"):
        assert c in tracks.columns
    assert tracks["attentive_share"].between(0, 1).all()


def test_folder_of_images(media, tmp_path):
    cli("analyze", media / "expressions", "--out", tmp_path, "--annotate", check=True)
    df = pd.read_csv(tmp_path / "faces.csv")
    assert df["source"].nunique() == 7
    assert df["time_s"].isna().all() and (df["frame"] == 0).all()
    assert len(list((tmp_path / "annotated").glob("*.jpg"))) == 7


@pytest.mark.slow
def test_interrupted_run_keeps_readable_output(media, tmp_path):
    clip = media / "videos" / "tv_family_dinner.mp4"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "affectlens",
            "analyze",
            str(clip),
            "--out",
            str(tmp_path),
            "--format",
            "csv,jsonl,parquet",
            "--no-progress",
        ],
        stderr=subprocess.PIPE,
    )
    deadline = time.time() + 120
    while time.time() < deadline:  # wait until some rows are on disk
        if (tmp_path / "faces.csv").exists() and (tmp_path / "faces.csv").stat().st_size > 20000:
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=60)
    assert proc.returncode == 130
    a = pd.read_csv(tmp_path / "faces.csv")
    b = pd.read_json(tmp_path / "faces.jsonl", lines=True)
    c = pd.read_parquet(tmp_path / "faces.parquet")
    assert len(a) == len(b) == len(c) > 0
    assert a["frame"].max() < 359  # really partial


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p / "missing.mp4", "no such file"),
        (lambda p: (p / "t.jpg").write_text("text") and p / "t.jpg", "not an image"),
        (lambda p: (p / "z.mp4").write_bytes(b"") or p / "z.mp4", "empty file"),
        (lambda p: (p / "n.xyz").write_text("x") and p / "n.xyz", "unsupported file type"),
        (lambda p: "rtsp://127.0.0.1:9/none", "cannot reach or read stream"),
    ],
)
def test_bad_input_is_one_line(tmp_path, make, message):
    target = make(tmp_path)
    proc = cli("analyze", target, "--out", tmp_path / "out")
    assert proc.returncode == 1
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def _remux(src, dst) -> None:
    import av

    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        stream = out.add_stream_from_template(inp.streams.video[0])
        for packet in inp.demux(inp.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)


def test_truncated_video_keeps_the_frames_before_the_cut(media, tmp_path):
    _remux(media / "videos" / "short_hamilton_clip.mp4", tmp_path / "whole.mkv")  # Matroska: readable up to a cut
    data = (tmp_path / "whole.mkv").read_bytes()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(data[: len(data) * 2 // 3])
    proc = cli("analyze", cut, "--out", tmp_path / "out")
    rows = pd.read_csv(tmp_path / "out" / "faces.csv")
    assert 100 < rows["frame"].max() < 274 and "Traceback" not in proc.stderr
    if proc.returncode != 0:  # FFmpeg may also stop quietly at the cut
        assert proc.returncode == 1 and proc.stderr.strip().splitlines()[-1].startswith("error:")


def test_a_video_unreadable_from_the_start_is_one_line_and_leaves_no_files(media, tmp_path):
    data = (media / "videos" / "short_hamilton_clip.mp4").read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) * 2 // 3])  # its index (moov) is at the end: nothing can be read
    proc = cli("analyze", cut, "--out", tmp_path / "out")
    assert proc.returncode == 1 and len(proc.stderr.strip().splitlines()) == 1
    assert "not a readable video" in proc.stderr
    assert not (tmp_path / "out").exists()


def test_huge_image(media, tmp_path):
    from PIL import Image

    img = Image.open(media / "photos" / "obama_and_biden.jpg")
    img.resize((img.width * 6, img.height * 6)).save(tmp_path / "huge.jpg")
    cli("analyze", tmp_path / "huge.jpg", "--out", tmp_path / "o", check=True)
    assert len(pd.read_csv(tmp_path / "o" / "faces.csv")) == 3


def test_a_missing_camera_is_one_line(tmp_path):
    proc = cli("analyze", "7", "--out", tmp_path / "out")  # no camera 7 on a test machine
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == ["error: cannot open camera 7 (no such device, or it is busy)"]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_sigterm_and_sighup_stop_like_ctrl_c(media, tmp_path, sig, code):
    clip = media / "videos" / "tv_family_dinner.mp4"
    cmd = [sys.executable, "-m", "affectlens", "analyze", str(clip), "--out", str(tmp_path), "--no-progress"]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not (
        (tmp_path / "faces.csv").exists() and (tmp_path / "faces.csv").stat().st_size > 20000
    ):
        time.sleep(0.2)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err[-500:]
    faces = pd.read_csv(tmp_path / "faces.csv")
    assert 0 < faces["frame"].max() < 359  # really partial, and readable
    assert len(pd.read_csv(tmp_path / "tracks.csv")) >= 1
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["interrupted"] is True and run["frames"] > 0 and "Traceback" not in err


def test_a_video_without_faces_gives_tables_with_their_columns(tmp_path):
    with av.open(str(tmp_path / "noise.mp4"), "w") as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        rng = np.random.default_rng(0)
        for _ in range(30):
            frame = av.VideoFrame.from_ndarray(rng.integers(0, 255, (240, 320, 3), dtype=np.uint8), format="rgb24")
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    cli("analyze", tmp_path / "noise.mp4", "--out", tmp_path / "o", "--format", "csv,jsonl,parquet", check=True)
    for name in ("faces", "tracks", "seconds"):
        for df in (pd.read_csv(tmp_path / "o" / f"{name}.csv"), pd.read_parquet(tmp_path / "o" / f"{name}.parquet")):
            assert len(df) == 0 and "track_id" in df.columns
    assert {"p_happiness", "engagement", "state"} <= set(pd.read_csv(tmp_path / "o" / "faces.csv").columns)


def test_an_unknown_model_fails_before_any_file_is_written(media, tmp_path):
    proc = cli("analyze", media / "photos" / "two_people.jpg", "--model", "nope", "--out", tmp_path / "out")
    assert proc.returncode == 1 and proc.stderr.strip().splitlines()[-1].startswith("error: unknown model 'nope'")
    assert not (tmp_path / "out").exists()
