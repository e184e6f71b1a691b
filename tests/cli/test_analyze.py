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


def test_a_bad_option_fails_before_an_earlier_runs_tables_are_touched(media, tmp_path):
    """--alpha 0 (or --fps inf, --device foo) was refused by a traceback only once the tables of the
    output folder had been opened: the previous run's faces.csv was left a header."""
    cli("analyze", media / "photos" / "two_people.jpg", "--out", tmp_path, check=True)
    before = (tmp_path / "faces.csv").read_bytes()
    # (--blur-faces without --annotate made no media but searched video frames for small faces: other tables)
    for option in (["--alpha", "0"], ["--alpha", "nan"], ["--fps", "inf"], ["--device", "foo"], ["--blur-faces"]):
        proc = cli("analyze", media / "videos" / "expressions_man.mp4", "--out", tmp_path, *option)
        assert proc.returncode == 1 and "Traceback" not in proc.stderr, option
        assert proc.stderr.strip().splitlines()[-1].startswith("error:"), option
        assert (tmp_path / "faces.csv").read_bytes() == before, option


def test_webcam_refuses_bad_options_before_it_opens_the_camera(tmp_path):
    """`webcam` opened the camera first: a bad --alpha or an --out that is a file came up only once the camera's
    light was on (here, with no camera, they were hidden behind "cannot open camera")."""
    (tmp_path / "file").write_text("x")
    for option, message in ((["--out", tmp_path / "file"], "is a file"), (["--alpha", "0"], "alpha")):
        proc = cli("webcam", "--device", "97", "--headless", "--out", tmp_path / "o", *option)
        last = proc.stderr.strip().splitlines()[-1]
        assert proc.returncode == 1 and message in last and "camera" not in last, (option, proc.stderr[-300:])


def test_an_engagement_config_with_a_typo_or_a_wrong_value_is_refused(media, tmp_path):
    for text, message in (("[weights]\nhapy = 0\n", "unknown expressions"), ('yaw_away = "x"\n', "finite number")):
        (tmp_path / "e.toml").write_text(text)
        proc = cli("analyze", media / "photos" / "two_people.jpg", "--out", tmp_path / "o", "--engagement-config",
                   tmp_path / "e.toml")  # fmt: skip
        assert proc.returncode == 1 and message in proc.stderr and "Traceback" not in proc.stderr
        assert not (tmp_path / "o").exists()


def test_an_output_path_that_is_a_file_is_one_line(media, tmp_path):
    (tmp_path / "taken.txt").write_text("mine")
    proc = cli("analyze", media / "photos" / "two_people.jpg", "--out", tmp_path / "taken.txt")
    assert proc.returncode == 1 and proc.stderr.strip().splitlines() == [
        f"error: --out {tmp_path / 'taken.txt'}: {tmp_path / 'taken.txt'} is a file, not a folder"
    ]
    assert (tmp_path / "taken.txt").read_text() == "mine"


def test_an_input_given_twice_is_analysed_once(media, tmp_path):
    clip = media / "videos" / "intel_two_people_head_pose.mp4"
    cli("analyze", clip, "--out", tmp_path / "once", check=True)
    proc = cli("analyze", clip, clip, "--out", tmp_path / "twice", check=True)
    assert "more than once" in proc.stderr
    for table in ("faces", "tracks"):
        once, twice = (pd.read_csv(tmp_path / d / f"{table}.csv") for d in ("once", "twice"))
        assert len(twice) == len(once) and twice["n_frames" if table == "tracks" else "frame"].equals(
            once["n_frames" if table == "tracks" else "frame"]
        )


def test_a_video_cut_short_of_its_header_is_reported(media, tmp_path):
    """A broken download of an MP4 whose index is at the start: FFmpeg stops quietly at the cut, and the run
    said nothing (133 of 275 frames, exit 0); the header's frame count tells."""
    whole = tmp_path / "whole.mp4"
    clip = media / "videos" / "short_hamilton_clip.mp4"
    with av.open(str(clip)) as inp, av.open(str(whole), "w", options={"movflags": "faststart"}) as out:
        stream = out.add_stream_from_template(inp.streams.video[0])
        for packet in inp.demux(inp.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    proc = cli("analyze", cut, "--out", tmp_path / "out")
    assert proc.returncode == 1 and "truncated" in proc.stderr and "Traceback" not in proc.stderr
    rows = pd.read_csv(tmp_path / "out" / "faces.csv")
    assert 50 < rows["frame"].max() < 270  # the frames before the cut are kept
    assert "truncated" in json.loads((tmp_path / "out" / "run.json").read_text())["failed"][0]


def test_a_one_frame_video_reads_as_a_photo(media, tmp_path):
    """A face gets its track id on its second frame: a video of one frame (a photo behind a URL, a stride past
    the end) gave no row at all."""
    proc = cli("analyze", media / "videos" / "intel_two_people_head_pose.mp4", "--stride", "100000", "--out", tmp_path)
    assert proc.returncode == 0, proc.stderr[-500:]
    rows = pd.read_csv(tmp_path / "faces.csv")
    assert len(rows) == 2 and rows["frame"].tolist() == [0, 0]


def test_a_reduced_rate_keeps_the_first_second(media, tmp_path):
    """--fps 1 spent the first second's slot on frame 0, where no face has its id yet: second 0 had no row,
    and --fps 0.1 on a 4.7 s clip no row at all."""
    clip = media / "videos" / "intel_two_people_head_pose.mp4"
    cli("analyze", clip, "--fps", "1", "--out", tmp_path / "a", check=True)
    assert 0 in set(pd.read_csv(tmp_path / "a" / "seconds.csv")["second"])
    cli("analyze", clip, "--fps", "0.1", "--out", tmp_path / "b", check=True)
    assert len(pd.read_csv(tmp_path / "b" / "faces.csv")) == 2


def test_a_folder_skips_hidden_files_and_names_its_subfolders(media, tmp_path):
    import shutil

    shutil.copy(media / "photos" / "two_people.jpg", tmp_path / "a.jpg")
    (tmp_path / "._a.jpg").write_bytes(b"\x00\x05\x16\x07 AppleDouble")  # macOS's resource fork beside a copy
    (tmp_path / "sub").mkdir()
    shutil.copy(media / "photos" / "two_people.jpg", tmp_path / "sub" / "b.jpg")
    proc = cli("analyze", tmp_path, "--out", tmp_path / "sub" / "out")
    assert proc.returncode == 0, proc.stderr[-500:]
    assert "subfolders not searched" in proc.stderr and "sub" in proc.stderr
    assert set(pd.read_csv(tmp_path / "sub" / "out" / "faces.csv")["source"]) == {str(tmp_path / "a.jpg")}


def test_a_run_without_faces_types_its_parquet_columns_and_clears_other_formats(media, tmp_path):
    cli("analyze", media / "photos" / "two_people.jpg", "--out", tmp_path, "--format", "csv,parquet", check=True)
    cli("analyze", media / "photos" / "dogs.jpg", "--out", tmp_path, "--format", "parquet", check=True)
    assert not (tmp_path / "faces.csv").exists()  # the earlier run's table is not left beside this one's
    faces = pd.read_parquet(tmp_path / "faces.parquet")
    assert len(faces) == 0 and str(faces["frame"].dtype) == "int64" and str(faces["score"].dtype) == "float64"
    assert str(faces["label"].dtype) in ("object", "string", "str") and str(faces["blink"].dtype) == "bool"
    assert json.loads((tmp_path / "run.json").read_text())["formats"] == ["parquet"]
