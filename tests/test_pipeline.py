"""The real detector and the shipped model on staged photos and clips (no mocks)."""

import itertools

import cv2
import numpy as np
import pandas as pd
import pytest

from affectlens import Analyzer, to_dataframe
from affectlens.errors import AffectlensError
from affectlens.labels import EMOTIONS
from affectlens.sources import Source, VideoSource, load_image


@pytest.fixture(scope="module")
def analyzer():
    return Analyzer()


def test_happy_face_reads_happiness(analyzer, media):
    r = analyzer.analyze_image(load_image(media / "expressions" / "happy.jpg"), "happy.jpg")
    assert len(r.faces) == 1
    assert r.top_labels() == ["happiness"]
    assert r.faces.probs.shape == (1, len(EMOTIONS))
    np.testing.assert_allclose(r.faces.probs.sum(1), 1, atol=1e-5)


def test_faces_numbered_left_to_right(analyzer, media):
    # Biden, Obama, and a girl looking down at the bottom right (found by tiling the 2000 px photo)
    r = next(analyzer.analyze(media / "photos" / "obama_and_biden.jpg"))
    assert len(r.faces) == 3
    assert r.faces.track_ids.tolist() == [0, 1, 2]
    assert np.all(np.diff(r.faces.boxes[:, 0]) > 0)
    assert r.time_s is None and r.frame == 0


@pytest.mark.parametrize("name", ["bad-inputs/white_no_face.png", "photos/dogs.jpg"])
def test_no_face_is_an_empty_result(analyzer, media, name):
    r = next(analyzer.analyze(media / name))
    assert len(r.faces) == 0 and r.rows() == []


def test_a_table_without_faces_keeps_its_columns(analyzer, media):
    """to_dataframe of a photo of dogs was a DataFrame of no columns (df["engagement"] a KeyError), and time_s of
    stills an object column where Parquet gives floats."""
    empty = to_dataframe(analyzer.analyze(media / "photos" / "dogs.jpg"))
    assert empty.empty and {"engagement", "p_happiness", "track_id", "state"} <= set(empty.columns)
    assert empty["engagement"].dtype == float and empty["track_id"].dtype == np.int64
    full = to_dataframe(analyzer.analyze(media / "expressions" / "happy.jpg"))
    assert list(full.columns) == list(empty.columns) and full["time_s"].dtype == float


def test_options_of_a_wrong_type_are_one_clear_error():
    from affectlens.pipeline import AnalyzerConfig

    for bad in ({"min_face": "16"}, {"smoothing_alpha": "0.5"}, {"engagement": {"yaw_awy": 30}}, {"engagement": 3}):
        with pytest.raises(AffectlensError):
            AnalyzerConfig(**bad)
    assert AnalyzerConfig(engagement={"yaw_away": 30}).engagement.yaw_away == 30  # a dict of fields is taken


def test_huge_image_boxes_map_back(analyzer, media):
    img = load_image(media / "photos" / "obama_and_biden.jpg")
    big = np.kron(img, np.ones((4, 4, 1), np.uint8))  # 4x upscaled
    a = analyzer.analyze_image(img)
    b = analyzer.analyze_image(big)
    assert len(a.faces) == len(b.faces) == 3
    np.testing.assert_allclose(
        b.faces.boxes / 4, a.faces.boxes, atol=0.06 * (a.faces.boxes[0, 2] - a.faces.boxes[0, 0])
    )


def test_the_singer_keeps_one_id(analyzer, media):
    # four shots (cuts at frames 20, 82 and 211: the singer far, the pianist, the singer close, the audience);
    # the singer's close shot keeps one id from its second frame to its end, and no id crosses a cut
    results = list(analyzer.analyze(media / "videos" / "short_hamilton_clip.mp4"))
    assert len(results) == 275
    df = to_dataframe(results)
    assert df["frame"].nunique() >= 200
    singer = df[df["track_id"] == df["track_id"].value_counts().index[0]]["frame"]
    assert singer.min() == 83 and singer.max() == 210 and len(singer) == 128
    for _, frames in df.groupby("track_id")["frame"]:
        assert not [c for c in (20, 82, 211) if frames.min() < c <= frames.max()]


def test_ids_never_jump_between_the_two_faces(analyzer, media):
    results = list(analyzer.analyze(media / "videos" / "two_faces_composite.mp4"))
    df = to_dataframe(results)
    ids = df.groupby("track_id")["x1"].agg(["min", "max", "count"])
    main = ids[ids["count"] > 50]
    assert len(main) >= 2  # both faces tracked
    # the two halves of the composite never share an id: each id's boxes stay on one side
    mid = results[0].width / 2
    for _, g in df[df["track_id"].isin(main.index)].groupby("track_id"):
        centers = (g["x1"] + g["x2"]) / 2
        assert (centers < mid).all() or (centers > mid).all()


def test_reduced_analysis_rate_keeps_true_timestamps_and_ids(media):
    from affectlens.pipeline import Analyzer, AnalyzerConfig

    clip = media / "videos" / "short_hamilton_clip.mp4"
    full = to_dataframe(Analyzer().analyze(clip))
    low_results = list(Analyzer(AnalyzerConfig(analysis_fps=10)).analyze(clip))
    low = to_dataframe(low_results)
    # about 10 analysed frames per second of video, each with its true frame index and container time
    assert 85 <= len(low_results) <= 95 and len({r.frame for r in low_results}) == len(low_results)
    times = full.drop_duplicates("frame").set_index("frame")["time_s"]
    assert all(abs(times[f] - t) < 1e-6 for f, t in zip(low["frame"], low["time_s"], strict=True) if f in times.index)
    assert np.all(np.diff([r.time_s for r in low_results]) >= 0.099 - 1 / 29.97)
    # detection and tracking ran on every frame: the singer keeps the same id as at full rate
    singer_full = full["track_id"].value_counts().index[0]
    singer_low = low["track_id"].value_counts().index[0]
    assert singer_low == singer_full and low["track_id"].value_counts().iloc[0] >= 40  # 128 frames of 30 fps at 10


def test_keyframe_detection_runs_the_detector_on_every_nth_frame_and_follows_faces(media):
    from affectlens.pipeline import Analyzer, AnalyzerConfig

    clip = media / "videos" / "expressions_man.mp4"
    full = to_dataframe(Analyzer().analyze(clip))
    an = Analyzer(AnalyzerConfig(detect_every=3))
    calls = []
    detect_frames = an.detect_frames
    an.detect_frames = lambda images, tile=None: calls.extend(images) or detect_frames(images, tile)
    results = list(an.analyze(clip))
    key = to_dataframe(results)
    # every frame answered; the detector on 1 in 3 (no cut in the clip) and on frame 1, where the face
    # first seen on frame 0 is detected again to get its id, as with every-frame detection
    assert len(results) == 135 and len(calls) == 46
    assert [r.frame for r in results] == list(range(135))
    assert set(key["track_id"]) == set(full["track_id"]) and len(set(key["track_id"])) == 1
    assert key["frame"].tolist() == full["frame"].tolist()
    # between keyframes the box moves with the face (the mesh follows it), close to where the detector puts it
    m = full.merge(key, on="frame", suffixes=("_full", "_key"))
    box = key.set_index("frame")[["x1", "y1", "x2", "y2"]]
    assert (box.diff().abs().sum(axis=1).iloc[1:] > 0).mean() > 0.9  # boxes are not held still
    full_side = m["x2_full"] - m["x1_full"]
    offset = (m[["x1_key", "y1_key"]].values - m[["x1_full", "y1_full"]].values).max(1) / full_side
    assert np.abs(offset).max() < 0.1
    assert (m["label_full"] == m["label_key"]).mean() >= 0.95
    assert key["face_presence"].notna().all() and (key["face_presence"] > 0.5).mean() > 0.95


def test_a_face_moving_between_keyframes_keeps_its_id(media, tmp_path):
    """The tracker saw only keyframes: a face swaying side to side (up to 21 px a frame) met, on each
    keyframe, a prediction made five frames before and started a new id (11 ids in 150 frames)."""
    import av
    import cv2

    from affectlens.pipeline import AnalyzerConfig

    im = load_image(media / "expressions" / "happy.jpg")
    h, w = im.shape[:2]
    s = min(h, w)
    face = cv2.resize(
        im[(h - s) // 2 : (h + s) // 2, (w - s) // 2 : (w + s) // 2], (160, 160), interpolation=cv2.INTER_AREA
    )
    clip = tmp_path / "sway.mp4"
    with av.open(str(clip), "w") as out:
        st = out.add_stream("libx264", rate=30)
        st.width, st.height, st.pix_fmt = 640, 360, "yuv420p"
        for i in range(150):
            frame = np.full((360, 640, 3), 90, np.uint8)
            x = int(240 + 100 * np.sin(2 * np.pi * i / 30))
            frame[100:260, x : x + 160] = face
            out.mux(st.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        out.mux(st.encode())
    for every in (1, 5):
        rows = to_dataframe(Analyzer(AnalyzerConfig(detect_every=every)).analyze(clip))
        assert len(rows) >= 145 and rows["track_id"].nunique() == 1, every


def test_detecting_ahead_in_a_worker_gives_the_rows_of_one_thread(media):
    clip = media / "videos" / "two_faces_composite.mp4"
    ahead = to_dataframe(Analyzer().analyze(clip))
    inline = to_dataframe(Analyzer(detect_ahead=False).analyze(clip))
    assert len(ahead) > 100 and ahead["track_id"].nunique() >= 2
    pd.testing.assert_frame_equal(ahead, inline)


def _intra_op_threads(detector) -> int:
    return detector.session.get_session_options().intra_op_num_threads


def test_video_frames_are_detected_with_one_thread_stills_with_every_core():
    an = Analyzer()
    # the worker thread that detects video frames runs beside the mesh and classifier: one thread there
    assert _intra_op_threads(an.frame_detector) == 1
    assert _intra_op_threads(an.detector) >= 1 and an.detector is not an.frame_detector
    assert an.detect_group == 1  # one thread runs best one frame at a time
    two = Analyzer(threads=2)  # an explicit budget is kept, in one session
    assert two.frame_detector is two.detector and _intra_op_threads(two.detector) == 2 and two.detect_group == 4
    for inline in (Analyzer(detect_ahead=False), Analyzer(batch_frames=1)):  # nothing runs beside the detector
        assert inline.frame_detector is inline.detector


def test_an_unknown_detector_is_refused_when_the_analyzer_is_made():
    with pytest.raises(AffectlensError, match="unknown detector"):
        Analyzer(detector="yolo")


class _FailingClip(Source):
    """A real clip whose reading fails at frame 20 (a disk gone, a stream cut)."""

    is_video, fps, name = True, 30.0, "failing"

    def __init__(self, clip):
        self.inner = VideoSource(clip)

    def __iter__(self):
        for frame in self.inner:
            if frame.index == 20:
                raise AffectlensError("read failed at frame 20")
            yield frame

    def close(self):
        self.inner.close()


def test_an_error_in_the_worker_reaches_the_caller_and_the_worker_is_free_again(media):
    clip = media / "videos" / "expressions_man.mp4"
    an = Analyzer()
    with pytest.raises(AffectlensError, match="frame 20"):
        list(an.analyze(_FailingClip(clip)))
    gen = an.analyze(clip)  # a caller that stops early (a sink full, a stop signal) ...
    next(gen)
    gen.close()
    assert an.worker().submit(lambda: "idle").result(timeout=10) == "idle"  # ... leaves the worker idle
    assert len(list(an.analyze(clip))) == 135


def test_frames_analysed_before_the_source_breaks_still_come_out(media):
    """Frames 0-19 decoded before a corrupt stretch are results, not lost with the batch they waited in."""
    results = []
    with pytest.raises(AffectlensError, match="frame 20"):
        for r in Analyzer().analyze(_FailingClip(media / "videos" / "expressions_man.mp4")):
            results.append(r)
    assert [r.frame for r in results] == list(range(20))


_PAUSED_SCRIPT = """
import sys
from affectlens.pipeline import Analyzer

a, clip = Analyzer(), sys.argv[1]
paused = a.analyze(clip)
next(paused)  # left paused, never closed, still referenced
print(sum(1 for _ in a.analyze(clip)), sum(1 for _ in zip(a.analyze(clip), a.analyze(clip))))
"""


def test_a_paused_video_neither_blocks_the_next_one_nor_the_exit(media):
    """One read-ahead thread served every video of an Analyzer: a video generator left paused (a notebook's
    `next(g)`) made every later video on it wait for ever, and the process could not exit."""
    import subprocess
    import sys

    clip = media / "videos" / "expressions_man.mp4"
    cmd = [sys.executable, "-c", _PAUSED_SCRIPT, str(clip)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-500:]
    assert proc.stdout.split() == ["135", "135"], proc.stdout


_RSS_SCRIPT = """
import sys
from pathlib import Path
from affectlens.pipeline import Analyzer

def rss_mb():
    line = next(x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith("VmRSS"))
    return int(line.split()[1]) / 1024

analyzer = Analyzer()
for k in range(4):
    for _ in analyzer.analyze(sys.argv[1]):
        pass
    print(rss_mb())
"""


@pytest.mark.slow
def test_memory_stays_flat_over_repeated_passes(media):
    """In a fresh process (as a user runs it), RSS after 4 passes of a clip is within 20 MB of after the first."""
    import subprocess
    import sys

    clip = media / "videos" / "short_hamilton_clip.mp4"
    proc = subprocess.run([sys.executable, "-c", _RSS_SCRIPT, str(clip)], capture_output=True, text=True, timeout=600)
    rss = [float(x) for x in proc.stdout.split()]
    assert len(rss) == 4, proc.stderr[-2000:]
    assert rss[-1] - rss[0] < 20, rss


def test_an_array_of_any_common_format_reads_as_its_rgb_image(analyzer, media):
    """Gray, RGBA, 16-bit and 0-1 float arrays of one photo read as the photo does (not a crash, not neutral)."""
    rgb = load_image(media / "expressions" / "sad.jpg")
    want = analyzer.analyze_image(rgb)
    gray = rgb.mean(axis=2).astype(np.uint8)
    for image in (np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)]), rgb.astype(np.uint16) * 257, rgb / 255.0):
        got = analyzer.analyze_image(image)
        assert got.top_labels() == want.top_labels() and np.allclose(
            got.faces.best_probs, want.faces.best_probs, atol=0.02
        )
    assert len(analyzer.analyze_image(gray).faces) == 1
    with pytest.raises(AffectlensError, match="expected an image"):
        analyzer.analyze_image(np.zeros((4, 4, 7), np.uint8))


def test_an_opencv_bgr_array_reads_as_its_photo_with_color_bgr(analyzer, media):
    """cv2.imread gives BGR: read as RGB its faces are blue-tinted, which the face mesh and detector see; with
    ``color="bgr"`` it reads exactly as the RGB photo (BGRA too). A 0-1 float image resampled with a cubic filter
    overshoots 1 a little and read as 0-255 (a black image, no face); a normalised tensor is refused."""
    rgb = load_image(media / "expressions" / "happy.jpg")
    want = analyzer.analyze_image(rgb)
    bgr = np.ascontiguousarray(rgb[..., ::-1])
    got = analyzer.analyze_image(bgr, color="bgr")
    assert np.array_equal(got.faces.best_probs, want.faces.best_probs)
    assert np.array_equal(got.faces.signals["eye_openness"], want.faces.signals["eye_openness"])
    bgra = np.dstack([bgr, np.full(rgb.shape[:2], 255, np.uint8)])
    assert np.array_equal(next(analyzer.analyze(bgra, color="bgr")).faces.best_probs, want.faces.best_probs)
    full = rgb.astype(np.float32) / rgb.max()  # 0-1 using the whole range
    big = cv2.resize(full, None, fx=1.5, fy=1.5, interpolation=cv2.INTER_CUBIC)
    assert big.max() > 1.0  # cubic overshoot
    assert analyzer.analyze_image(big).top_labels() == want.top_labels()
    with pytest.raises(AffectlensError, match="normalised tensor"):
        analyzer.analyze_image(rgb / 127.5 - 1.0)
    # a 0-255 float image resampled with a cubic filter undershoots 0 (two_people.jpg: -24.8): clipped, read
    two = load_image(media / "photos" / "two_people.jpg").astype(np.float32)
    under = cv2.resize(two, None, fx=1.5, fy=1.5, interpolation=cv2.INTER_CUBIC)
    assert under.min() < -0.5 and len(analyzer.analyze_image(under).faces) == 2
    with pytest.raises(AffectlensError, match="'rgb' or 'bgr'"):
        analyzer.analyze_image(rgb, color="hsv")


def test_crops_mode_reads_a_face_image_as_eval_does(ferplus):
    """``--crops`` gave the classifier the whole image shrunk to 87 % inside a smeared frame (the detector
    box's ``crop_scale``), not the centred square training and ``affectlens eval`` read."""
    from PIL import Image

    from affectlens.types import Faces

    a = Analyzer(crops=True)
    pre = a.classifier.preprocess
    for name in ("fer0032223.png", "fer0032224.png"):
        img = np.asarray(Image.open(ferplus / "FER2013Test" / name).convert("RGB"))
        whole = Faces(np.array([[0, 0, 48, 48]], np.float32), np.ones(1, np.float32))  # no eyes: no roll
        got = a.crops(img, whole)[0].astype(int)
        want = pre.crop_image(img).astype(int)
        assert np.abs(got - want).mean() < 8, name  # the old crop: 24 (sub-pixel resampling differences: 4-5)


def test_small_faces_of_a_low_resolution_classroom_are_found_with_tiles(media):
    """intel_classroom_four_people (480x270, faces of 13-25 px): one of four faces without tiles, and tiling
    asked for added no view on frames under 576 px (its finest tiles were three times the model's input)."""
    from affectlens.pipeline import AnalyzerConfig

    clip = media / "videos" / "intel_classroom_four_people.mp4"
    plain = to_dataframe(Analyzer(AnalyzerConfig()).analyze(clip))
    tiled = to_dataframe(Analyzer(AnalyzerConfig(tile_video=True, min_face=12)).analyze(clip))
    assert plain["track_id"].nunique() == 1
    counts = tiled["track_id"].value_counts()
    assert (counts >= 30).sum() == 4  # the four pupils, each tracked through most of the 45 frames


def test_a_scene_cut_starts_new_tracks(media):
    """tv_family_dinner's shots change seven times; one track id ran across four cuts (five people, one row in
    tracks.csv, a closed-eye state handed from one to the next)."""
    import av

    from affectlens.follow import SCENE_CUT, Keyframes

    clip = media / "videos" / "tv_family_dinner.mp4"
    keys = Keyframes(1)
    with av.open(str(clip)) as c:
        cuts = [i for i, f in enumerate(c.decode(video=0)) if keys.due(f.to_ndarray(format="rgb24")) == SCENE_CUT]
    assert len(cuts) >= 6
    rows = to_dataframe(Analyzer().analyze(clip))
    for tid, frames in rows.groupby("track_id")["frame"]:
        assert not [c for c in cuts if frames.min() < c <= frames.max()], tid


def test_smoothing_is_the_same_in_seconds_at_any_source_rate():
    """Smoothing weights were one frame's at the source's own rate: a 12 fps clip was smoothed 2.5x longer in
    seconds than a 30 fps one (the same footage at 12 and 24 fps read up to 12 engagement points a second
    apart). Now every video stream weighs a frame as at 30 fps: the same signal sampled at 12 fps and with
    every sample shown twice at 24 fps gives the same smoothed values at the same times."""
    from affectlens.pipeline import SMOOTHING_FPS
    from affectlens.signals.engagement import EngagementScorer
    from tests.signals.test_engagement import frame

    analyzer = Analyzer()
    for fps in (12.0, 24.0, 60.0):
        stream = analyzer.stream(video=True, fps=fps)
        assert stream.smoother.frame_rate == stream.scorer.frame_rate == SMOOTHING_FPS
    yaw = [0.0] * 12 + [30.0] * 6 + [0.0] * 12  # the head turned 30° (not yet away) for half a second
    attention = {}
    for fps, copies in ((12.0, 1), (24.0, 2)):
        sc = EngagementScorer(labels=tuple(EMOTIONS), frame_rate=SMOOTHING_FPS)
        times = [(k * copies + c) / fps for k in range(len(yaw)) for c in range(copies)]
        out = [sc.update(frame(yaw=yaw[int(t * 12 + 1e-6)]), t).signals for t in times]
        # a sample weighs over the time since the last: the 12 fps frame at t and its second copy at t + 1/24 have
        # both weighed 1/12 s of it
        last_copy = [o for i, o in enumerate(out) if i % copies == copies - 1]
        attention[fps] = [float(o["attention"][0]) for o in last_copy]
    assert len(set(attention[12.0])) > 5  # the smoothed turn moves attention through several values
    np.testing.assert_allclose(attention[12.0], attention[24.0], atol=1e-3)


def test_faces_found_but_not_read_stay_blurred_between_keyframes(media):
    """With --detect-every, the faces found but not read (too weak or small for a row, no id) were blurred on
    keyframes only: copies of the last frame's faces and the mesh-followed ones dropped them."""
    from affectlens.pipeline import AnalyzerConfig
    from affectlens.sources import Frame
    from affectlens.types import Faces

    analyzer = Analyzer(AnalyzerConfig(detect_every=3, signals=False))
    stream = analyzer.stream(video=True, fps=30.0, batch_frames=1)
    image = load_image(media / "photos" / "two_people.jpg")
    boxes = np.array([[100, 100, 200, 200], [400, 100, 480, 180]], np.float32)
    out = []
    for i, key in enumerate([True, True, False, False]):  # the face is confirmed on frame 1, then held
        found = Faces(boxes.copy(), np.array([0.9, 0.55], np.float32)) if key else None  # the second one weak
        out += stream.add(Frame(image, i, i / 30, "x"), detected=found, key=key) + stream.flush()
    assert [len(r.faces) for r in out] == [0, 1, 1, 1]
    for r in out[1:]:
        np.testing.assert_allclose(r.faces.unread, boxes[1:])


class _Converted(Source):
    """The first 30 frames of a clip as another array format: floats in 0-1, gray, RGBA."""

    is_video, fps = True, 24000 / 1001

    def __init__(self, path, kind):
        self.path, self.kind, self.name = path, kind, f"{kind}-frames"

    def __iter__(self):
        from affectlens.sources import Frame

        for f in itertools.islice(VideoSource(self.path), 30):
            img = {"float": f.image / 255.0, "gray": f.image.mean(2).astype(np.uint8),
                   "rgba": np.dstack([f.image, np.full(f.image.shape[:2], 255, np.uint8)])}[self.kind]  # fmt: skip
            yield Frame(img, f.index, f.time_s, self.name)


def test_frames_of_a_custom_source_are_converted_as_a_still_image_is(media):
    """Only still images were converted: a Source giving floats in 0-1 read p_happiness 0.05 instead of 0.76 and
    engagement 0, silently; gray or RGBA frames failed deep in the detector."""
    clip = media / "videos" / "expressions_man.mp4"
    a = Analyzer()
    base = to_dataframe(list(itertools.islice(a.analyze(VideoSource(clip)), 30)))
    for kind in ("float", "gray", "rgba"):
        got = to_dataframe(a.analyze(_Converted(clip, kind)))
        assert len(got) == len(base) > 20, kind
        assert abs(got["p_happiness"].mean() - base["p_happiness"].mean()) < 0.02, kind


def test_a_folder_goes_on_past_a_video_that_breaks_part_way(media, tmp_path):
    """From Python a folder stopped at its first broken video (the files after it never read), where the CLI skips
    it; the reasons now reach ``on_skip``."""
    import shutil
    from pathlib import Path

    import av

    whole = tmp_path / "whole.mp4"  # its index first: readable up to a cut
    with (
        av.open(str(media / "videos" / "expressions_man.mp4")) as inp,
        av.open(str(whole), "w", options={"movflags": "faststart"}) as out,
    ):
        stream = out.add_stream_from_template(inp.streams.video[0])
        for packet in inp.demux(inp.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)
    data = whole.read_bytes()
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "b_cut.mp4").write_bytes(data[: len(data) * 2 // 3])
    shutil.copy(media / "expressions" / "happy.jpg", folder / "a_happy.jpg")
    shutil.copy(media / "expressions" / "sad.jpg", folder / "c_sad.jpg")
    skipped: list[str] = []
    sources = [Path(r.source).name for r in Analyzer().analyze(folder, on_skip=skipped.append)]
    assert sources[0] == "a_happy.jpg" and sources[-1] == "c_sad.jpg" and sources.count("b_cut.mp4") > 50
    assert len(skipped) == 1 and "truncated" in skipped[0], skipped
    with pytest.raises(AffectlensError, match="truncated"):  # alone, it is an error
        list(Analyzer().analyze(folder / "b_cut.mp4"))


class _Untimed(Source):
    """A clip's frames with no time_s, as a hand-written Source may give them."""

    is_video, fps, name = True, 24000 / 1001, "untimed"

    def __init__(self, path):
        self.path = path

    def __iter__(self):
        from affectlens.sources import Frame

        for f in itertools.islice(VideoSource(self.path), 60):
            yield Frame(f.image, f.index, None, self.name)


def test_video_frames_without_times_are_timed_from_the_rate(media):
    """Untimed video frames were each read as a still image: no blink, hold or smoothing (minimum engagement 0.0
    against 53 with times)."""
    clip = media / "videos" / "expressions_man.mp4"
    with pytest.warns(UserWarning, match="without time_s"):
        got = to_dataframe(Analyzer().analyze(_Untimed(clip)))
    want = to_dataframe(list(itertools.islice(Analyzer().analyze(VideoSource(clip)), 60)))
    assert got["time_s"].notna().all() and np.allclose(got["time_s"], want["time_s"], atol=0.05)
    assert abs(got["engagement"].mean() - want["engagement"].mean()) < 1.0
