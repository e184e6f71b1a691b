"""BlazeFace (ONNX Runtime) on real photos: recall on dlib's boxed faces, negatives, odd inputs, tiling."""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from affectlens.detect import DETECTORS, FaceDetector, as_rgb8, get_detector, no_faces
from affectlens.detect.base import box_iou
from affectlens.detect.blazeface import KEYPOINTS, MODELS, ssd_anchors, weighted_nms
from affectlens.errors import AffectlensError
from affectlens.sources import load_image
from affectlens.types import Faces


@pytest.fixture(scope="module")
def det() -> FaceDetector:
    return get_detector("blazeface", threads=2)


@pytest.fixture(scope="module")
def photos(media: Path) -> Path:
    return media / "photos"


Box = tuple[float, float, float, float] | np.ndarray


def boxed_faces(photos: Path) -> dict[str, list[tuple[int, int, int, int]]]:
    """dlib's hand-made boxes (x1, y1, x2, y2) from training.xml and testing.xml."""
    gt: dict[str, list] = {}
    for xml in ("training.xml", "testing.xml"):
        text = (photos / xml).read_text()
        for img, body in re.findall(r"<image file='([^']+)'[^>]*>(.*?)</image>", text, re.S):
            boxes = re.findall(r"<box top='(-?\d+)' left='(-?\d+)' width='(\d+)' height='(\d+)'", body)
            gt[img] = [(int(x), int(y), int(x) + int(w), int(y) + int(h)) for y, x, w, h in boxes]
    return gt


def iou(a: Box, b: Box) -> float:
    return float(box_iou(a, np.asarray(b))[0])


def found(truth: list[Box], boxes: np.ndarray) -> int:
    return sum(any(iou(t, d) > 0.3 for d in boxes) for t in truth)


def test_recall_on_dlib_boxed_photos(det: FaceDetector, photos: Path) -> None:
    gt = boxed_faces(photos)
    assert sum(map(len, gt.values())) == 43
    hit = extra = 0
    for name, truth in gt.items():
        d = det.detect(load_image(photos / name))
        hit += found(truth, d.boxes)
        extra += sum(not any(iou(t, b) > 0.3 for t in truth) for b in d.boxes)
    assert hit / 43 >= 0.95, f"found {hit}/43"
    assert extra <= 2


def test_tiling_finds_small_faces_in_a_big_image(det: FaceDetector, photos: Path) -> None:
    """The 9 photos in a 1500x1500 grid: faces become ~2.5% of the side, too small for one view."""
    gt = boxed_faces(photos)
    canvas = np.full((1500, 1500, 3), 128, np.uint8)
    truth = []
    for k, (name, boxes) in enumerate(gt.items()):
        img = load_image(photos / name)[:500, :500]
        y0, x0 = (k // 3) * 500, (k % 3) * 500
        canvas[y0 : y0 + img.shape[0], x0 : x0 + img.shape[1]] = img
        truth += [(b[0] + x0, b[1] + y0, b[2] + x0, b[3] + y0) for b in boxes]
    assert found(truth, det.detect(canvas, tile=False).boxes) < 10
    assert found(truth, det.detect(canvas, tile="auto").boxes) >= 40


def test_obama_and_biden(det: FaceDetector, photos: Path) -> None:
    img = load_image(photos / "obama_and_biden.jpg")
    d = det.detect(img, tile=False)
    assert len(d) == 2 and (d.scores > 0.8).all()
    # tiling also finds the third, real face: a girl at the bottom right, partly in the frame
    t = det.detect(img, tile=True)
    assert len(t) == 3
    assert sum(max(iou(a, b) for b in t.boxes) > 0.7 for a in d.boxes) == 2
    girl = t.boxes[np.argmax(t.boxes[:, 1])]
    assert girl[0] > 0.75 * img.shape[1] and girl[1] > 0.7 * img.shape[0]


@pytest.mark.parametrize("path", ["photos/dogs.jpg", "bad-inputs/white_no_face.png"])
def test_no_human_face(det: FaceDetector, media: Path, path: str) -> None:
    d = det.detect(load_image(media / path))
    assert len(d) == 0
    assert d.boxes.shape == (0, 4) and d.scores.shape == (0,) and d.landmarks.shape == (0, 6, 2)


def test_empty_and_tiny_images(det: FaceDetector) -> None:
    for shape in [(0, 0, 3), (0, 10), (1, 1, 3), (5, 300, 3)]:
        d = det.detect(np.zeros(shape, np.uint8))
        assert len(d) == 0 and d.boxes.dtype == np.float32 and d.landmarks.shape == (0, 6, 2)


def test_gray_rgba_uint16_and_float_inputs(det: FaceDetector, photos: Path) -> None:
    rgb = load_image(photos / "obama-240p.jpg")
    ref = det.detect(rgb)
    assert len(ref) == 1
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    variants = {
        "gray": gray,
        "gray1": gray[..., None],
        "rgba": np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)]),
        "uint16": rgb.astype(np.uint16) * 257,
        "float01": rgb.astype(np.float32) / 255,
    }
    for name, img in variants.items():
        d = det.detect(img)
        assert len(d) == 1, name
        assert iou(d.boxes[0], ref.boxes[0]) > 0.8, name
    assert as_rgb8(variants["uint16"]).tobytes() == rgb.tobytes()


def test_keypoints_in_their_boxes(det: FaceDetector, photos: Path) -> None:
    for name in ("obama_and_biden.jpg", "two_people.jpg", "obama-1080p.jpg"):
        d = det.detect(load_image(photos / name), tile=False)
        assert len(d) >= 1
        for box, kp in zip(d.boxes, d.landmarks, strict=True):
            m = 0.25 * (box[2] - box[0])
            assert ((kp[:4] >= box[:2]) & (kp[:4] <= box[2:])).all(), name  # eyes, nose, mouth inside
            assert ((kp >= box[:2] - m) & (kp <= box[2:] + m)).all(), name  # ears near the sides
            # subject's right eye and ear on the image's left for these frontal, unmirrored faces
            assert kp[0, 0] < kp[1, 0] and kp[4, 0] < kp[5, 0], name
            assert kp[0, 1] < kp[2, 1] < kp[3, 1], name  # eye above nose above mouth
    assert KEYPOINTS[0] == "right_eye" and len(KEYPOINTS) == 6


def test_huge_image_maps_boxes_back(det: FaceDetector, photos: Path) -> None:
    img = load_image(photos / "2008_002506.jpg")  # 500x375, three faces of 90-109 px
    small = det.detect(img)
    big = det.detect(cv2.resize(img, (4000, 3000), interpolation=cv2.INTER_LINEAR))
    assert len(small) == len(big) == 3
    order_s, order_b = np.argsort(small.boxes[:, 0]), np.argsort(big.boxes[:, 0])
    np.testing.assert_allclose(big.boxes[order_b] / 8, small.boxes[order_s], atol=0.06 * 100)
    assert found(boxed_faces(photos)["2008_002506.jpg"], big.boxes / 8) == 3


def test_min_face_drops_small_boxes(photos: Path) -> None:
    img = load_image(photos / "2008_002506.jpg")
    assert len(get_detector("blazeface", min_face=200, threads=2).detect(img)) == 0


def test_short_range_model_on_a_close_face(photos: Path) -> None:
    d = get_detector("blazeface-short", threads=2).detect(load_image(photos / "obama-240p.jpg"))
    assert len(d) == 1 and d.scores[0] > 0.7


def test_registry_and_anchors() -> None:
    assert set(DETECTORS) == {"blazeface", "blazeface-short"}
    with pytest.raises(AffectlensError):
        get_detector("nope")
    assert len(ssd_anchors(MODELS["full"])) == 2304
    assert len(ssd_anchors(MODELS["short"])) == 896
    empty = no_faces()
    assert isinstance(empty, Faces) and len(empty) == 0 and empty.landmarks.shape == (0, 6, 2)


def test_weighted_nms_blends_overlaps() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], np.float32)
    kps = np.zeros((3, 6, 2), np.float32)
    b, _, s = weighted_nms(boxes, kps, np.array([0.9, 0.9, 0.6], np.float32), 0.3)
    np.testing.assert_allclose(b[0], [0.5, 0.5, 10.5, 10.5])
    assert s.tolist() == pytest.approx([0.9, 0.6])


def test_a_batch_of_frames_finds_what_each_frame_finds_alone(det: FaceDetector, media: Path) -> None:
    import av

    with av.open(str(media / "videos" / "tv_family_dinner.mp4")) as box:
        frames = [f.to_ndarray(format="rgb24") for _, f in zip(range(90), box.decode(video=0), strict=False)][::15]
    frames.insert(2, np.zeros((0, 0, 3), np.uint8))  # an empty frame inside the batch keeps its place
    alone = [det.detect(f, tile=False) for f in frames]
    together = det.detect_batch(frames, tile=False)
    assert len(together) == len(frames) and len(together[2]) == 0
    assert sum(len(a) for a in alone) >= 8  # the family: the comparison has faces in it
    for a, b in zip(alone, together, strict=True):
        assert len(a) == len(b)
        np.testing.assert_allclose(a.boxes, b.boxes, atol=1e-2)
        np.testing.assert_allclose(a.scores, b.scores, atol=1e-4)
        np.testing.assert_allclose(a.landmarks, b.landmarks, atol=1e-2)
