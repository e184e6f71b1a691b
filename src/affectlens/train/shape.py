"""Face shape as an auxiliary training target: the face mesh's expression, read by a second head.

``write_shape_file`` runs the pipeline's face mesh (:class:`~affectlens.signals.mesh.FaceMesh`) on every
training face and on its mirror image, takes the head's rotation, position and size out of the 468
3-D points (Procrustes onto the canonical frontal face, as :func:`~affectlens.signals.geometry.head_pose`
does), and keeps the first ``components`` principal components of what is left (mouth, brows, eyes:
expression, with some identity), each scaled to unit variance. The mirror image is meshed on its own
rather than derived from the points, so a one-sided expression (contempt) keeps its side.

The file is small (float16, ``2 × components`` values a face) and is committed like the distillation
targets; ``affectlens train --shape FILE`` adds a linear head on the classifier's pooled features that
regresses these coefficients (mean squared error, weight ``--shape-weight``) beside the expression
loss. The head exists only in training: exported models are unchanged. Faces the mesh does not find
(presence under ``MIN_PRESENCE``) carry no shape loss.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from affectlens.datasets import load_dataset
from affectlens.errors import AffectlensError
from affectlens.train.teachers import fingerprint

__all__ = ["MIN_PRESENCE", "ShapeTargets", "fit_targets", "load_shape_file", "mesh_points", "write_shape_file"]

MIN_PRESENCE = 0.5  # MediaPipe's own threshold for a face being there


def _check_components(components: int) -> None:
    if not 1 <= components <= 128:
        raise AffectlensError(f"--components {components}: between 1 and 128")


def mesh_points(
    images: np.ndarray, batch: int = 256, progress: Callable[[int], None] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(N, 468, 3) mesh points and (N,) presence of face crops ``(N, H, W[, 3])`` uint8 (one face each).

    Each image is taken as the face's box, so the mesh sees it with MediaPipe's usual margin.
    """
    from affectlens.detect import as_rgb8
    from affectlens.signals.mesh import MESH_SIZE, FaceMesh, crop_u8, face_roi

    mesh = FaceMesh(threads=None)
    h, w = images.shape[1:3]
    roi = face_roi(np.array([0.0, 0.0, w, h]), None)
    pts, presence = [], []
    for i in range(0, len(images), batch):
        crops = np.stack([crop_u8(as_rgb8(im), roi, MESH_SIZE) for im in images[i : i + batch]])
        p, s = mesh.run(crops, [roi] * len(crops), batch=64)
        pts.append(p)
        presence.append(s)
        if progress:
            progress(len(crops))
    return np.concatenate(pts), np.concatenate(presence)


def pose_free(points: np.ndarray) -> np.ndarray:
    """(N, 468, 3) points → (N, 1404) shapes centred, unit RMS radius, rotated onto the canonical face."""
    from affectlens.signals.geometry import canonical_face, normalize_shape, rotation_to

    ref = canonical_face()
    out = np.empty((len(points), points.shape[1] * 3), np.float32)
    for i, p in enumerate(points):
        q = normalize_shape(p)
        out[i] = (q @ rotation_to(ref, p)).ravel()  # R maps the reference onto the face: undo it
    return out


@dataclass
class ShapeTargets:
    """Per-face shape coefficients (and the mirror images'), with which faces the mesh found."""

    coeffs: np.ndarray  # (N, components) float16, unit variance
    mirror: np.ndarray  # the same for each face's mirror image
    ok: np.ndarray  # (N,) bool: the mesh found the face
    ok_mirror: np.ndarray
    meta: dict

    def __len__(self) -> int:
        return len(self.coeffs)

    def columns(self, mirrored: bool = False) -> np.ndarray:
        """(N, components + 1) float32: the coefficients and a 1/0 column saying whether they hold."""
        c, ok = (self.mirror, self.ok_mirror) if mirrored else (self.coeffs, self.ok)
        return np.concatenate([c.astype(np.float32), ok[:, None].astype(np.float32)], 1)


def fit_targets(
    points: tuple[np.ndarray, np.ndarray], presence: tuple[np.ndarray, np.ndarray], components: int = 24
) -> ShapeTargets:
    """Shape coefficients of faces and their mirrors (``points`` and ``presence`` for each) by one PCA,
    fitted on both where the mesh found a face."""
    _check_components(components)
    shapes, shapes_m = pose_free(points[0]), pose_free(points[1])
    ok, ok_m = presence[0] >= MIN_PRESENCE, presence[1] >= MIN_PRESENCE
    fit = np.concatenate([shapes[ok], shapes_m[ok_m]]).astype(np.float64)
    if len(fit) <= components:
        raise AffectlensError(f"the mesh found {len(fit)} faces: too few for {components} components")
    mean = fit.mean(0)
    _, s, vt = np.linalg.svd(fit - mean, full_matrices=False)
    basis, scale = vt[:components], s[:components] / np.sqrt(len(fit) - 1)  # scale: each coefficient's std

    def project(x: np.ndarray) -> np.ndarray:
        return ((x - mean) @ basis.T / scale).astype(np.float16)

    meta = {
        "components": components,
        "explained_variance": float((s[:components] ** 2).sum() / (s**2).sum()),
        "mesh_found": float(ok.mean()),
        "mesh_found_mirror": float(ok_m.mean()),
    }
    return ShapeTargets(project(shapes), project(shapes_m), ok, ok_m, meta)


def write_shape_file(
    specs: list[str], out: str | Path, components: int = 24, split: str = "train", progress: bool = True
) -> dict:
    """Make the shape targets of the training sets ``specs`` (in ``train``'s order) and save them to ``out``."""
    from tqdm import tqdm

    _check_components(components)  # before minutes of meshing
    sets = [load_dataset(s, split) for s in specs]
    meshed: list[list[tuple[np.ndarray, np.ndarray]]] = [[], []]  # [plain, mirrored] per set
    with tqdm(total=2 * sum(len(ds) for ds in sets), desc="face mesh", unit="face", disable=not progress) as bar:
        for ds in sets:  # each set at its own image size; one PCA over all below
            meshed[0].append(mesh_points(ds.images, progress=bar.update))
            meshed[1].append(mesh_points(np.ascontiguousarray(ds.images[:, :, ::-1]), progress=bar.update))
    points = (np.concatenate([m[0] for m in meshed[0]]), np.concatenate([m[0] for m in meshed[1]]))
    presence = (np.concatenate([m[1] for m in meshed[0]]), np.concatenate([m[1] for m in meshed[1]]))
    st = fit_targets(points, presence, components)
    per_set = [
        {"dataset": ds.name, "n": len(ds), "mesh_found": float((m[1] >= MIN_PRESENCE).mean())}
        for ds, m in zip(sets, meshed[0], strict=True)
    ]
    meta = st.meta | {"datasets": list(specs), "split": split, "n": len(st), "per_dataset": per_set}
    meta["images_sha256"] = fingerprint(*(ds.images for ds in sets))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        out, coeffs=st.coeffs, mirror=st.mirror, ok=st.ok, ok_mirror=st.ok_mirror, meta=np.array(json.dumps(meta))
    )
    return meta


def load_shape_file(path: str | Path, images: list[np.ndarray]) -> ShapeTargets:
    """The targets in ``path``, checked against the training sets' raw images they were made for."""
    path = Path(path)
    if not path.is_file():
        raise AffectlensError(f"shape file {path} not found (make it with `affectlens shape-targets`)")
    data = np.load(path)
    meta = json.loads(str(data["meta"]))
    if meta.get("images_sha256") != fingerprint(*images):  # the raw images: any crop size trains on it
        raise AffectlensError(
            f"shape file {path} was made for other training faces (datasets {meta.get('datasets')}): "
            "pass the same --dataset options, in the same order"
        )
    return ShapeTargets(data["coeffs"], data["mirror"], data["ok"], data["ok_mirror"], meta)
