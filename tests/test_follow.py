"""Keyframe scheduling and the face-mesh follower, on real photos through the real models."""

import math

import cv2
import numpy as np
import pytest

from affectlens.follow import SCENE_CUT, Keyframes, MeshFollower, similarity
from affectlens.pipeline import Analyzer
from affectlens.sources import load_image


@pytest.fixture(scope="module")
def analyzer() -> Analyzer:
    return Analyzer()


def test_keyframes_every_nth_frame_and_after_a_cut(media):
    still = load_image(media / "expressions" / "neutral.jpg")
    other = load_image(media / "expressions" / "happy.jpg")
    other = cv2.resize(other, still.shape[1::-1])
    k = Keyframes(3)
    due = [k.due(img) for img in [still] * 5 + [other] + [other] * 3]
    # the first frame, then every 3rd; the cut at frame 5 is a keyframe (marked as a cut) and restarts the count
    assert due == [True, False, False, True, False, SCENE_CUT, False, False, True]
    assert all(Keyframes(1).due(still) is True for _ in range(3))
    every = Keyframes(1)  # every frame is a keyframe, and a cut is still told
    assert [every.due(img) for img in (still, still, other, other)] == [True, True, SCENE_CUT, True]


def test_similarity_recovers_a_known_motion():
    rng = np.random.default_rng(0)
    src = rng.uniform(0, 100, (2, 30, 2))
    scale, angle, shift = np.array([1.2, 0.9]), np.radians([10.0, -4.0]), np.array([3 - 2j, -7 + 5j])
    a_true = scale * np.exp(1j * angle)
    z = a_true[:, None] * (src[..., 0] + 1j * src[..., 1]) + shift[:, None]
    a, t = similarity(src, np.stack([z.real, z.imag], -1))
    np.testing.assert_allclose(a, a_true, atol=1e-9)
    np.testing.assert_allclose(t, shift, atol=1e-9)


def _shift(image: np.ndarray, dx: float, dy: float) -> np.ndarray:
    m = np.float32([[1, 0, dx], [0, 1, dy]])
    return cv2.warpAffine(image, m, image.shape[1::-1], borderMode=cv2.BORDER_REPLICATE)


def test_a_face_is_followed_where_it_moves_and_dropped_when_it_is_gone(analyzer, media):
    image = load_image(media / "expressions" / "neutral.jpg")
    faces = analyzer.detect(image)
    assert len(faces) == 1
    follower = MeshFollower(analyzer.signals)
    follower.measure(image, faces)
    assert faces.points.shape == (1, 468, 3) and faces.signals["face_presence"][0] > 0.9

    side = float(faces.boxes[0, 2] - faces.boxes[0, 0])
    dx, dy = 0.08 * side, -0.05 * side  # a head moving in 1/30 s
    moved = follower.follow(_shift(image, dx, dy), faces)
    assert len(moved) == 1
    np.testing.assert_allclose(moved.boxes[0] - faces.boxes[0], [dx, dy, dx, dy], atol=0.02 * side)
    np.testing.assert_allclose(moved.landmarks[0] - faces.landmarks[0], np.tile([dx, dy], (6, 1)), atol=0.03 * side)
    assert moved.points is not None and moved.signals["face_presence"][0] > 0.9
    # the result's own mesh points are its frame's (the eyes moved with the image)
    assert math.isclose(float(moved.points[0, 33, 0] - faces.points[0, 33, 0]), dx, abs_tol=0.03 * side)

    blank = np.full_like(image, 127)
    assert len(follower.follow(blank, faces)) == 0  # the mesh no longer sees a face: left out

    unseen = faces[np.arange(1)]
    unseen.signals["face_presence"] = np.zeros(1, np.float32)  # a detection the mesh never saw
    held = follower.follow(blank, unseen)
    assert len(held) == 1 and np.array_equal(held.boxes, faces.boxes)  # held where the detector put it
