"""Face-detection recall and speed on dlib's hand-boxed photos (43 faces in 9 PASCAL VOC images).

    python benchmarks/detect_recall.py [--data ../shared/data] [--threads 2] [--repeats 3]

Recall counts a boxed face as found when a detection overlaps it with IoU > 0.3 (dlib's boxes are
square and looser than BlazeFace's); "extra" are detections matching no boxed face (false
positives, or faces dlib did not box). The "mosaic" column is the same 9 photos pasted into one
1500x1500 image (faces then ~2.5% of the side: the small-faces-in-a-big-image case that tiling is
for). "dogs / blank" counts detections on photos/dogs.jpg and bad-inputs/white_no_face.png (both
should be 0). ms/photo is the mean wall time of ``detect`` on the 9 photos, all views included.
Last, where the full-range box sits on the face, from dlib's 68 landmarks (0 = box top, 1 = bottom).
"""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path

import numpy as np

from affectlens.detect import get_detector
from affectlens.detect.base import FaceDetector, box_iou
from affectlens.sources import load_image

Box = tuple[float, float, float, float]


def ground_truth(photos: Path, landmarks: bool = False) -> dict[str, list]:
    """dlib's boxes per image as (x1, y1, x2, y2); with ``landmarks``, (box, (68, 2) points) pairs."""
    gt: dict[str, list] = {}
    suffix = "_with_face_landmarks.xml" if landmarks else ".xml"
    for xml in ("training", "testing"):
        text = (photos / (xml + suffix)).read_text()
        for img, body in re.findall(r"<image file='([^']+)'[^>]*>(.*?)</image>", text, re.S):
            items = []
            for attrs, parts in re.findall(r"<box ([^>]*?)/?>((?:\s*<part[^>]*/>)*)", body):
                a = {k: int(v) for k, v in re.findall(r"(\w+)='(-?\d+)'", attrs)}
                box = (a["left"], a["top"], a["left"] + a["width"], a["top"] + a["height"])
                pts = np.array(re.findall(r"x='(-?\d+)' y='(-?\d+)'", parts), np.float32).reshape(-1, 2)
                items.append((box, pts) if landmarks else box)
            gt[img] = items
    return gt


def iou(a: Box, b: Box) -> float:
    return float(box_iou(a, np.asarray(b))[0])


def match(truth: list[Box], found: np.ndarray, thr: float = 0.3) -> tuple[int, int]:
    """(boxed faces found, detections matching no boxed face)."""
    hit = sum(any(iou(t, d) > thr for d in found) for t in truth)
    extra = sum(not any(iou(t, d) > thr for t in truth) for d in found)
    return hit, extra


def mosaic(photos: Path, gt: dict[str, list[Box]], cell: int = 500) -> tuple[np.ndarray, list[Box]]:
    """The photos in a 3x3 grid of ``cell``-pixel squares, with their shifted boxes."""
    canvas = np.full((3 * cell, 3 * cell, 3), 128, np.uint8)
    boxes: list[Box] = []
    for k, (name, truth) in enumerate(gt.items()):
        img = load_image(photos / name)[:cell, :cell]
        y0, x0 = (k // 3) * cell, (k % 3) * cell
        canvas[y0 : y0 + img.shape[0], x0 : x0 + img.shape[1]] = img
        boxes += [(b[0] + x0, b[1] + y0, b[2] + x0, b[3] + y0) for b in truth]
    return canvas, boxes


def evaluate(det: FaceDetector, images: dict[str, np.ndarray], gt: dict[str, list[Box]], repeats: int) -> dict:
    found = extra = 0
    times = []
    for name, truth in gt.items():
        det.detect(images[name])  # warm-up
        t = time.perf_counter()
        for _ in range(repeats):
            d = det.detect(images[name])
        times.append((time.perf_counter() - t) / repeats)
        h, e = match(truth, d.boxes)
        found, extra = found + h, extra + e
    total = sum(len(v) for v in gt.values())
    return {"found": found, "total": total, "extra": extra, "ms": 1000 * float(np.mean(times))}


def box_geometry(det: FaceDetector, photos: Path) -> str:
    """Median position of brow line, eyes, chin (dlib landmarks) inside the matched detector boxes."""
    rows = []
    for name, faces in ground_truth(photos, landmarks=True).items():
        d = det.detect(load_image(photos / name))
        for box, pts in faces:
            ious = [iou(box, b) for b in d.boxes]
            if not ious or max(ious) <= 0.3 or len(pts) != 68:
                continue
            x1, y1, x2, y2 = d.boxes[int(np.argmax(ious))]
            ry = (pts[:, 1] - y1) / (y2 - y1)
            rx = (pts[:, 0] - x1) / (x2 - x1)
            rows.append((ry[17:27].mean(), ry[36:48].mean(), ry[8], rx[0], rx[16], (x2 - x1) / (box[2] - box[0])))
    m = np.median(np.array(rows), axis=0)
    return (
        f"box geometry over {len(rows)} faces (median; y: 0 = top, 1 = bottom): brows {m[0]:.2f}, eyes {m[1]:.2f}, "
        f"chin {m[2]:.2f}; x of the jaw ends {m[3]:.2f} .. {m[4]:.2f}; width / dlib box width {m[5]:.2f}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1] / ".." / "shared" / "data")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    photos = args.data / "media" / "photos"
    gt = ground_truth(photos)
    images = {name: load_image(photos / name) for name in gt}
    big, big_truth = mosaic(photos, gt)
    negatives = [load_image(photos / "dogs.jpg"), load_image(args.data / "media/bad-inputs/white_no_face.png")]
    configs = [
        ("blazeface", 0.5, "auto"),  # the default
        ("blazeface", 0.5, False),
        ("blazeface", 0.5, True),
        ("blazeface", 0.4, False),
        ("blazeface", 0.3, False),
        ("blazeface", 0.4, True),
        ("blazeface-short", 0.5, False),
        ("blazeface-short", 0.5, True),
    ]
    print(f"threads={args.threads}, repeats={args.repeats}")
    print("| detector | threshold | tile | found | recall | extra | ms/photo | mosaic found | mosaic ms | dogs/blank |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, thr, tile in configs:
        det = get_detector(name, score_threshold=thr, tile=tile, threads=args.threads)
        r = evaluate(det, images, gt, args.repeats)
        t = time.perf_counter()
        m_hit, m_extra = match(big_truth, det.detect(big).boxes)
        m_ms = 1000 * (time.perf_counter() - t)
        neg = " / ".join(str(len(det.detect(x))) for x in negatives)
        print(
            f"| {name} | {thr} | {tile} | {r['found']}/{r['total']} | {r['found'] / r['total']:.3f} | {r['extra']} | "
            f"{r['ms']:.1f} | {m_hit}/{len(big_truth)} (+{m_extra}) | {m_ms:.0f} | {neg} |"
        )
    print(box_geometry(get_detector("blazeface", tile=False, threads=args.threads), photos))


if __name__ == "__main__":
    main()
