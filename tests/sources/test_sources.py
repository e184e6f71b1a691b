"""Real images and clips through the sources, including every bad input the CLI must explain."""

import numpy as np
import pytest
from PIL import Image

from affectlens.errors import AffectlensError
from affectlens.sources import VideoSource, load_image, open_sources


def test_exif_rotation_is_applied(media, tmp_path):
    img = Image.open(media / "expressions" / "happy.jpg")
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° clockwise to display
    path = tmp_path / "rotated.jpg"
    img.save(path, exif=exif)
    arr = load_image(path)
    assert arr.shape[:2] == (img.width, img.height)


def test_rgba_gray_and_16bit(media, tmp_path):
    rgba = load_image(media / "bad-inputs" / "32bit.png")
    assert rgba.ndim == 3 and rgba.shape[2] == 3 and rgba.dtype == np.uint8
    base = np.asarray(Image.open(media / "expressions" / "neutral.jpg").convert("L"))
    Image.fromarray(base).save(tmp_path / "gray.png")
    Image.fromarray(base.astype(np.uint16) * 257).save(tmp_path / "deep.png")
    gray = load_image(tmp_path / "gray.png")
    deep = load_image(tmp_path / "deep.png")
    assert gray.shape == deep.shape == (*base.shape, 3)
    assert np.abs(gray.astype(int) - deep.astype(int)).max() <= 1


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        (b"", "empty.jpg", "empty file"),
        (b"hello, I am text", "text.jpg", "not an image"),
        (b"", "empty.mp4", "empty file"),
        (b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 200, "junk.mp4", "not a readable video"),
    ],
)
def test_bad_files(tmp_path, content, name, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(AffectlensError, match=message):
        for src in open_sources(path):
            list(src)


def test_unsupported_and_missing(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(AffectlensError, match="unsupported file type .txt"):
        list(open_sources(tmp_path / "notes.txt"))
    with pytest.raises(AffectlensError, match="no such file"):
        list(open_sources(tmp_path / "missing.mp4"))


def test_video_timestamps_come_from_the_container(media):
    src = VideoSource(media / "videos" / "short_hamilton_clip.mp4")
    assert src.fps == pytest.approx(29.97, abs=0.01)
    frames = list(src)
    assert len(frames) == 275
    t = np.array([f.time_s for f in frames])
    assert t[0] == pytest.approx(0.0, abs=1e-3)
    assert np.all(np.diff(t) > 0)
    assert t[-1] == pytest.approx(274 / 29.97, abs=0.05)
    assert frames[0].image.shape == (360, 640, 3)


def test_stride_keeps_true_frame_indices(media):
    frames = list(VideoSource(media / "videos" / "short_hamilton_clip.mp4", stride=10))
    assert [f.index for f in frames[:3]] == [0, 10, 20]
    assert len(frames) == 28


def test_truncated_video_yields_frames_then_fails(media, tmp_path):
    data = (media / "videos" / "short_hamilton_clip.mp4").read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    got = []
    with pytest.raises(AffectlensError):
        for src in open_sources(cut):
            for f in src:
                got.append(f.index)
            if len(got) < 275:  # some demuxers end quietly: the frame count tells the truth
                raise AffectlensError("short")
    assert len(got) < 275


def test_unreachable_stream_fails_fast():
    with pytest.raises(AffectlensError, match="cannot reach or read stream"):
        list(open_sources("rtsp://127.0.0.1:9/none"))


def _mp4_with_display_matrix(path, frames, degrees: int) -> None:
    """An H.264 MP4 whose track header says to show it turned by ``degrees`` (as a phone writes portrait video)."""
    import struct

    import av

    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=10)
        s.height, s.width, s.pix_fmt = frames[0].shape[0], frames[0].shape[1], "yuv420p"
        for f in frames:
            c.mux(s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
        c.mux(s.encode())
    data = bytearray(path.read_bytes())
    i = data.find(b"tkhd")
    at = i + 8 + (32 if data[i + 4] == 1 else 20) + 16  # the 3x3 matrix after times, duration, layer, volume
    one, minus = 0x10000, 0xFFFF0000
    a, b, c_, d = {90: (0, one, minus, 0), 270: (0, minus, one, 0)}[degrees]
    data[at : at + 36] = struct.pack(">9I", a, b, 0, c_, d, 0, 0, 0, 0x40000000)
    path.write_bytes(data)


@pytest.mark.parametrize("degrees", [90, 270])
def test_portrait_phone_video_is_turned_as_players_show_it(media, tmp_path, degrees):
    """The display matrix is applied the way FFmpeg's players (and OpenCV) apply it, not 180° off."""
    import cv2

    face = np.asarray(Image.open(media / "expressions" / "happy.jpg").convert("RGB").resize((160, 96)))
    path = tmp_path / f"portrait{degrees}.mp4"
    _mp4_with_display_matrix(path, [np.ascontiguousarray(np.rot90(face, 1 if degrees == 90 else -1))] * 3, degrees)
    shown = cv2.cvtColor(cv2.VideoCapture(str(path)).read()[1], cv2.COLOR_BGR2RGB)  # OpenCV turns it as FFmpeg does
    ours = next(iter(VideoSource(path))).image
    assert ours.shape == shown.shape == face.shape
    assert np.abs(ours.astype(int) - shown.astype(int)).mean() < 5
    assert np.abs(ours.astype(int) - face.astype(int)).mean() < 8  # upright: the face as photographed


def test_a_bad_single_image_leaves_earlier_results_alone(media, tmp_path):
    from tests.conftest import cli

    out = tmp_path / "out"
    cli("analyze", media / "expressions" / "happy.jpg", "--out", out, check=True)
    before = (out / "faces.csv").read_text()
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not a picture at all")
    r = cli("analyze", bad, "--out", out)
    assert r.returncode == 1 and "not an image" in r.stderr
    assert (out / "faces.csv").read_text() == before  # failed before any file was written


def test_an_image_over_the_pixel_limit_is_refused_from_its_header(tmp_path):
    path = tmp_path / "huge.png"
    Image.new("1", (21_000, 20_000)).save(path)  # 420 MP in a few kB: Pillow alone only warns below 800 MP
    with pytest.raises(AffectlensError, match="larger than 400 MP"):
        load_image(path)


def test_a_one_frame_gif_is_read_as_a_photo(media, tmp_path):
    from affectlens.sources import ImageSource

    still = tmp_path / "photo.gif"
    Image.open(media / "expressions" / "happy.jpg").save(still)
    (src,) = list(open_sources(still))
    assert isinstance(src, ImageSource) and next(iter(src)).image.shape[2] == 3
