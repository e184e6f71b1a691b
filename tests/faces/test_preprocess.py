"""The crop the model card prescribes, on constructed frames with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from affectlens.faces.preprocess import Preprocess


def _frame_with_square(size=200, box=(60, 40, 140, 120)) -> np.ndarray:
    img = np.zeros((size, size, 3), np.uint8)
    x1, y1, x2, y2 = box
    img[y1:y2, x1:x2] = 255
    return img


def test_crop_box_centres_the_box_and_scales_it():
    pre = Preprocess(size=48, color="gray", crop_scale=1.0, align=False)
    crop = pre.crop_box(_frame_with_square(), np.array([60, 40, 140, 120]))
    assert crop.shape == (48, 48) and crop.dtype == np.uint8
    assert crop[2:-2, 2:-2].min() == 255  # the box fills the crop
    wide = Preprocess(size=48, color="gray", crop_scale=2.0, align=False).crop_box(
        _frame_with_square(), np.array([60, 40, 140, 120])
    )
    assert wide[0, 0] == 0 and wide[24, 24] == 255  # twice the side: background around the box
    assert (wide > 127).mean() == pytest.approx(0.25, abs=0.03)


def test_crop_box_pads_with_edge_pixels_outside_the_frame():
    img = _frame_with_square(box=(0, 0, 50, 50))
    crop = Preprocess(size=32, color="rgb", crop_scale=1.5, align=False).crop_box(img, np.array([0, 0, 50, 50]))
    assert crop.shape == (32, 32, 3)
    assert crop[0, 0].tolist() == [255, 255, 255]  # replicated border, not black


def test_crop_box_levels_the_eyes():
    img = np.zeros((200, 200, 3), np.uint8)
    img[95:105, 20:180] = 255  # a horizontal bar
    pre = Preprocess(size=64, color="gray", crop_scale=1.0, align=True)
    box = np.array([20, 20, 180, 180])
    level = pre.crop_box(img, box, eyes=np.array([[60, 100], [140, 100]]))
    tilted = pre.crop_box(img, box, eyes=np.array([[60, 80], [140, 120]]))  # eyes tilted by 26.6°
    rows_level = (level > 127).any(1).sum()
    rows_tilted = (tilted > 127).any(1).sum()
    assert rows_level <= 6 < rows_tilted  # rotating to level the eyes turns the bar


def test_normalize_is_the_cards_formula():
    pre = Preprocess(size=2, color="gray", mean=0.5, std=0.25)
    x = pre.normalize(np.array([[[0, 255], [128, 64]]], np.uint8))
    assert x.shape == (1, 1, 2, 2)
    np.testing.assert_allclose(x[0, 0], (np.array([[0, 255], [128, 64]]) / 255 - 0.5) / 0.25, atol=1e-6)


def test_a_profiles_close_eye_keypoints_do_not_turn_its_crop():
    """tv_family_dinner's profile faces: eyes 5-7 px apart on a 31-40 px box read as rolls of 55-88°."""
    from affectlens.faces.preprocess import eye_roll

    assert eye_roll(np.array([[100.0, 100.0], [101.0, 95.1]]), 40.0) == 0.0  # 5 px apart: a profile
    assert eye_roll(np.array([[100.0, 100.0], [101.5, 93.5]]), 40.0) == -45.0  # 6.7 px at -77°: clamped
    assert eye_roll(np.array([[100.0, 100.0], [110.0, 88.0]]), 40.0) == -45.0  # -50°: clamped
    tilted = eye_roll(np.array([[100.0, 100.0], [130.0, 111.0]]), 80.0)  # a frontal face tilted ~20°
    assert abs(tilted - 20.1) < 0.1
    assert eye_roll(np.array([[130.0, 111.0], [100.0, 100.0]]), 80.0) == tilted  # eyes in either order


def test_a_face_larger_than_the_crop_is_shrunk_by_area_not_aliased():
    """warpAffine reads INTER_AREA as bilinear: a 480 px face cut to 48 px sampled one pixel in ten, so fine
    detail (hair, stubble, JPEG noise) came out as coarse noise and flipped readings (angry.jpg at 48 px)."""
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (600, 600, 3), np.uint8)
    crop = Preprocess(size=48, color="gray", crop_scale=1.0, align=False).crop_box(noise, np.array([60, 60, 540, 540]))
    assert crop.std() < 12  # averaged over 10x10 pixels (bilinear sampling keeps the noise's std of ~74)


@pytest.mark.parametrize(
    "box, eyes",
    [
        ((150, 100, 450, 400), None),  # inside the frame
        ((-60, -40, 240, 260), None),  # over the top-left corner: edge pixels replicated
        ((200, 150, 520, 470), np.array([[280.0, 260.0], [440.0, 330.0]])),  # rolled by 24°, over the corner
    ],
)
def test_the_shrunk_crop_matches_the_direct_warp_on_smooth_images(box, eyes):
    """Where there is no detail to alias, shrinking first must not move, scale or turn the crop."""
    import cv2

    yy, xx = np.mgrid[0:480, 0:560].astype(np.float32)
    img = np.stack([xx * 255 / 559, yy * 255 / 479, 128 + 100 * np.sin(xx / 60) * np.cos(yy / 50)], -1).astype(np.uint8)
    pre = Preprocess(size=64, color="rgb", crop_scale=1.15, align=True)
    got = pre.crop_box(img, np.array(box, np.float32), eyes).astype(int)
    x1, y1, x2, y2 = box
    side = max(x2 - x1, y2 - y1) * pre.crop_scale
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    angle = 0.0 if eyes is None else float(np.degrees(np.arctan2(eyes[1, 1] - eyes[0, 1], eyes[1, 0] - eyes[0, 0])))
    m = cv2.getRotationMatrix2D((cx, cy), angle, 64 / side)
    m[:, 2] += (32 - cx, 32 - cy)
    want = cv2.warpAffine(img, m, (64, 64), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE).astype(int)
    assert np.abs(got - want).mean() < 1.0 and np.abs(got - want).max() <= 6
