"""Measurements on the 468 face-mesh points: head pose, mouth opening, eye patches.

All functions take points in image pixels as :class:`~affectlens.signals.mesh.FaceMesh` returns
them (x right, y down, z away from the camera, same scale as x).

**Head pose** is the rotation that best maps a canonical frontal face (``weights/canonical_face.npy``,
the mean mesh of frontal photos, built by ``tools/signal_assets.py canonical``) onto the observed
points, found in closed form (Kabsch / orthogonal Procrustes on scale-normalised shapes; the mesh is
a weak-perspective model, so no camera intrinsics are needed). Its Euler angles are reported with
the AFLW2000-3D labels' signs:

* ``yaw`` > 0 when the person turns to their own right (their nose points to the image's left);
* ``pitch`` > 0 when the person looks up;
* ``roll`` > 0 when the head tilts towards the person's own left shoulder (clockwise in the image).

**Mouth opening** is the inner-lip gap over the mouth width (points 13-14 over 78-308): about 0 with
the lips together, 0.3-0.5 when talking or laughing, 0.6 and more in a yawn.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

WEIGHTS = Path(__file__).parent / "weights"

# face-mesh indices
MOUTH_INNER_TOP, MOUTH_INNER_BOTTOM, MOUTH_LEFT_CORNER, MOUTH_RIGHT_CORNER = 13, 14, 78, 308
# (image-left corner, image-right corner, (upper, lower) lid pairs) of the subject's right and left eye
EYES = (
    (33, 133, ((160, 144), (159, 145), (158, 153))),
    (362, 263, ((385, 380), (386, 374), (387, 373))),
)
EYE_PATCH = 32  # px: default side of the eye patches (the eye-state card's "patch" sets the model's own)
EYE_PATCH_SCALE = 2.0  # default patch side / eye-corner distance


@lru_cache(maxsize=1)
def canonical_face() -> np.ndarray:
    """(468, 3) frontal mean face, centred, unit RMS radius."""
    return np.load(WEIGHTS / "canonical_face.npy").astype(np.float64)


def normalize_shape(points: np.ndarray) -> np.ndarray:
    """Centre a (468, 3) shape and scale it to unit RMS distance from its centroid."""
    q = np.asarray(points, np.float64) - np.mean(points, axis=0)
    return q / max(float(np.sqrt((q**2).sum(1).mean())), 1e-9)


def rotation_to(reference: np.ndarray, points: np.ndarray) -> np.ndarray:
    """The 3x3 rotation R (det +1) minimising |R @ reference_i - points_i| over normalised shapes."""
    h = normalize_shape(reference).T @ normalize_shape(points)
    u, _, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(vt.T @ u.T)) or 1.0
    return vt.T @ np.diag([1.0, 1.0, d]) @ u.T


def euler_degrees(r: np.ndarray) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees, AFLW2000-3D signs, from a rotation in image axes (x right, y down)."""
    yaw = np.degrees(np.arcsin(np.clip(-r[2, 0], -1.0, 1.0)))
    pitch = -np.degrees(np.arctan2(r[2, 1], r[2, 2]))  # image y points down: looking up is negative here
    roll = np.degrees(np.arctan2(r[1, 0], r[0, 0]))
    return float(yaw), float(pitch), float(roll)


def head_pose(points: np.ndarray) -> tuple[float, float, float]:
    """(yaw, pitch, roll) degrees of one face's (468, 3) mesh points."""
    return euler_degrees(rotation_to(canonical_face(), points))


def mouth_open_ratio(points: np.ndarray) -> float:
    """Inner-lip gap / mouth width (0 closed; ~0.6+ in a yawn)."""
    p = np.asarray(points)[:, :2]
    width = np.linalg.norm(p[MOUTH_LEFT_CORNER] - p[MOUTH_RIGHT_CORNER])
    return float(np.linalg.norm(p[MOUTH_INNER_TOP] - p[MOUTH_INNER_BOTTOM]) / max(width, 1e-6))


def mouth_width_ratio(points: np.ndarray) -> float:
    """Mouth width over the outer-eye-corner distance (points 78-308 over 33-263): ~0.48 at rest and in
    a yawn (the mouth opens downwards), 0.6-0.75 in a broad smile or laugh (it stretches sideways)."""
    p = np.asarray(points)[:, :2]
    iod = np.linalg.norm(p[33] - p[263])
    return float(np.linalg.norm(p[MOUTH_LEFT_CORNER] - p[MOUTH_RIGHT_CORNER]) / max(iod, 1e-6))


def eye_aspect_ratio(points: np.ndarray) -> float:
    """Mean lid gap / eye width over both eyes (a landmark-only openness cue; weak on closed eyes)."""
    p = np.asarray(points)[:, :2]
    out = []
    for a, b, pairs in EYES:
        gap = np.mean([np.linalg.norm(p[u] - p[v]) for u, v in pairs])
        out.append(gap / max(np.linalg.norm(p[a] - p[b]), 1e-6))
    return float(np.mean(out))


def eye_patches(
    image_rgb: np.ndarray, points: np.ndarray, size: int = EYE_PATCH, scale: float = EYE_PATCH_SCALE
) -> np.ndarray:
    """Both eyes as (2, size, size) uint8 gray patches, levelled; the subject's left eye mirrored.

    Each patch is a square of ``scale`` x the eye-corner distance centred between the corners, so
    both eyes look like the subject's right eye to the eye-state model.
    """
    p = np.asarray(points, np.float64)[:, :2]
    gray = image_rgb if image_rgb.ndim == 2 else cv2.cvtColor(image_rgb, cv2.COLOR_RGB2GRAY)
    out = np.empty((2, size, size), np.uint8)
    for k, (a, b, _) in enumerate(EYES):
        (xa, ya), (xb, yb) = p[a], p[b]
        angle = np.degrees(np.arctan2(yb - ya, xb - xa))
        side = max(float(np.hypot(xb - xa, yb - ya)) * scale, 2.0)
        cx, cy = (xa + xb) / 2, (ya + yb) / 2
        m = cv2.getRotationMatrix2D((cx, cy), angle, size / side)
        m[0, 2] += size / 2 - cx
        m[1, 2] += size / 2 - cy
        patch = cv2.warpAffine(gray, m, (size, size), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)
        out[k] = patch[:, ::-1] if k == 1 else patch
    return out
