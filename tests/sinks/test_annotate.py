"""Blurred faces on annotated media: no face is left for the detector, tracked faces stay blurred."""

from __future__ import annotations

import numpy as np
import pytest

from affectlens import Analyzer
from affectlens.sinks import Annotator
from affectlens.sources import open_sources
from affectlens.types import Faces, FrameResult
from tests.conftest import need


@pytest.fixture(scope="module")
def analyzer():
    return Analyzer(keep_images=True, signals=False)


@pytest.mark.parametrize("photo", ["obama_and_biden.jpg", "two_people.jpg", "bbt1.jpg"])
def test_a_blurred_frame_has_no_recoverable_face(analyzer, media, photo):
    result = next(analyzer.analyze(need(media / "photos" / photo)))
    assert len(result.faces) >= 1
    detector = analyzer.detector  # the detector (and threshold) that found the faces to blur
    plain = Annotator().draw(result)
    blurred = Annotator(blur_faces=True).draw(result)
    assert len(detector.detect(plain, tile="auto")) >= len(result.faces) - 1
    assert len(detector.detect(blurred, tile="auto")) == 0
    # the overlay is drawn over the blur, so it stays readable: the box outline is unchanged
    for x1, y1, x2, _ in result.faces.boxes[:, :4].round().astype(int):
        diff = blurred[y1, (x1 + x2) // 2].astype(int) - plain[y1, (x1 + x2) // 2]
        assert np.abs(diff).max() <= 3  # anti-aliased edge over another background


def test_a_tracked_face_stays_blurred_when_detection_misses_it(media):
    frame = next(iter(next(open_sources(need(media / "photos" / "obama-240p.jpg"))))).image
    box = np.array([[100.0, 40.0, 180.0, 140.0]])
    seen = Faces(box, np.array([0.9]), track_ids=np.array([3]))
    ann = Annotator(blur_faces=True, blur_hold_s=1.0)

    def at(t: float, faces: Faces) -> FrameResult:
        h, w = frame.shape[:2]
        return FrameResult("clip.mp4", int(t * 30), t, w, h, faces, image=frame)

    ann.draw(at(0.0, seen))
    missed = ann.draw(at(0.5, Faces.empty()))  # detection missed the face: still blurred
    later = ann.draw(at(2.0, Faces.empty()))  # gone for longer than the hold: drawn as it is
    roi = (slice(50, 130), slice(110, 170))
    assert missed[roi].std() < 0.6 * frame[roi].std()
    assert np.array_equal(later[roi], frame[roi])


def test_the_annotated_video_keeps_the_sources_times_at_a_reduced_rate(media, tmp_path):
    """--fps 5 writes a fifth of the frames: they must still span the clip, not play six times too fast."""
    import av

    from tests.conftest import cli

    cli("analyze", media / "videos" / "expressions_man.mp4", "--fps", "5", "--annotate", "--out", tmp_path, check=True)
    with av.open(str(tmp_path / "annotated" / "expressions_man.mp4")) as c:
        times = [float(f.time) for f in c.decode(video=0)]
    # (the first analysed frame is the second, where the face gets its id: the video starts there)
    assert 25 <= len(times) <= 30 and times[2] - times[1] == pytest.approx(0.2, abs=0.02) and times[-1] > 5.0


def test_annotated_files_of_inputs_with_one_name_do_not_overwrite_each_other():
    from affectlens.sinks.annotate import unique_stem

    taken: set[str] = set()
    names = [unique_stem(n, taken) for n in ("x/face.jpg", "x/face.png", "a/clip.mp4", "b/clip.mp4", "c/clip.mp4")]
    assert names == ["face", "face-png", "clip", "clip-mp4", "clip-mp4-2"]


def test_an_image_too_wide_for_jpeg_is_annotated_as_png(tmp_path):
    from affectlens.sinks.annotate import write_image

    written = write_image(tmp_path / "pano.jpg", np.zeros((40, 66_000, 3), np.uint8))  # JPEG stops at 65,500 px
    assert written == tmp_path / "pano.png" and written.stat().st_size > 0


def test_a_variable_rate_video_is_written_whole_and_plays_while_it_downloads(tmp_path):
    """A phone clip that drops a frame every 2 s: frames closer than the encoder's 1/average-rate tick shared
    a timestamp and the muxer refused the video after 47 frames (the run ended with a traceback)."""
    import av

    from affectlens.sinks.annotate import VideoWriter

    times = [i / 30 for i in range(600) if i % 60 != 59]
    path = tmp_path / "phone.mp4"
    with VideoWriter(path, fps=len(times) / (times[-1] + 1 / 30)) as w:
        for t in times:
            w.write(np.zeros((360, 640, 3), np.uint8), t)
    with av.open(str(path)) as c:
        cc = c.streams.video[0].codec_context  # tagged as converted: BT.601, limited range (untagged HD reads 709)
        assert (cc.colorspace, cc.color_range) == (6, 1)
        got = [float(f.time) for f in c.decode(video=0)]
    assert len(got) == 590 and got[-1] == pytest.approx(times[-1], abs=0.002)
    data = path.read_bytes()
    assert data.index(b"moov") < data.index(b"mdat")  # the index first: a browser plays it as it arrives


def test_blurred_video_leaves_no_face_the_analysis_found_or_could_find(media, tmp_path):
    """--blur-faces blurred only the faces written as rows: a face's first frame (no track id yet), weak
    detections and the small audience faces a frame searched without tiles never finds (hamilton's frame 240:
    two of four faces left sharp). Every detection the video's detector makes on the blurred output, with
    tiles, must lie on a blurred or annotated spot, not on a face the source shows sharp there."""
    import av

    from affectlens.pipeline import Analyzer
    from tests.conftest import cli

    clip = media / "videos" / "short_hamilton_clip.mp4"
    cli("analyze", clip, "--annotate", "--blur-faces", "--out", tmp_path, check=True)
    det = Analyzer().frame_detector
    with av.open(str(clip)) as a, av.open(str(tmp_path / "annotated" / clip.name)) as b:
        frames = zip(a.decode(video=0), b.decode(video=0), strict=True)
        pairs = [(x.to_ndarray(format="rgb24"), y.to_ndarray(format="rgb24")) for x, y in frames]
    sharp = 0
    for i in (0, 25, 150, 240):  # the first frame, a weak face after a cut, the singer, the audience
        src, out = pairs[i]
        for box in det.detect(src, tile=True).boxes.astype(int):  # every face the source shows
            x1, y1, x2, y2 = np.clip(box, 0, [src.shape[1], src.shape[0]] * 2)
            same = np.abs(src[y1:y2, x1:x2].astype(int) - out[y1:y2, x1:x2]).mean() < 6  # left as it was
            sharp += int(same)
    assert sharp == 0


def test_a_face_of_unknown_engagement_is_drawn_with_an_empty_gauge():
    """face_lost: engagement NaN. It used to crash the gauge (int of NaN); it reads "?" and fills nothing."""
    img = np.full((240, 320, 3), 128, np.uint8)
    signals = {"engagement": np.array([np.nan], np.float32), "state_reason": np.array(["face_lost"], object)}
    faces = Faces(np.array([[100.0, 60, 180, 140]]), np.ones(1), np.array([3]), signals=signals)
    out = Annotator().draw(FrameResult("x.jpg", 0, None, 320, 240, faces, ()), img.copy())
    gauge = out[142, 102:178]  # the bar under the box: its dark background only, no fill (80 fills 60 px)
    assert gauge.max() <= 45 and out.shape == img.shape
