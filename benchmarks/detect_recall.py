"""Face-detection recall and speed on dlib's hand-boxed photos (43 faces in 9 PASCAL VOC images).

    python benchmarks/detect_recall.py [--data ../shared/data] [--threshold 0.5] [--tile auto]

Recall counts a boxed face as found when a detection overlaps it with IoU > 0.3 (dlib's boxes
are square and looser than BlazeFace's). Also prints detections on photos with no human face.
"""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path

import numpy as np

from affectlens.detect import get_detector
from affectlens.sources import load_image


def ground_truth(photos: Path) -> dict[str, list[tuple[int, int, int, int]]]:
    gt: dict[str, list] = {}
    for xml in ("training.xml", "testing.xml"):
        s = (photos / xml).read_text()
        for img, body in re.findall(r"<image file='([^']+)'[^>]*>(.*?)</image>", s, re.S):
            boxes = re.findall(r"<box top='(-?\d+)' left='(-?\d+)' width='(\d+)' height='(\d+)'", body)
            gt[img] = [(int(left), int(top), int(left) + int(w), int(top) + int(h)) for top, left, w, h in boxes]
    return gt


def iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    i = ix * iy
    return i / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - i)


def evaluate(det, photos: Path, gt: dict, repeats: int = 5) -> dict:
    tp = tot = ndet = 0
    times = []
    for name, boxes in gt.items():
        img = load_image(photos / name)
        det.detect(img)
        t = time.perf_counter()
        for _ in range(repeats):
            d = det.detect(img)
        times.append((time.perf_counter() - t) / repeats)
        ndet += len(d)
        for b in boxes:
            tot += 1
            tp += any(iou(b, x) > 0.3 for x in d.boxes)
    return {"found": tp, "total": tot, "recall": tp / tot, "detections": ndet, "ms_per_photo": 1000 * np.mean(times)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    photos = args.data / "media" / "photos"
    gt = ground_truth(photos)
    print("| detector | threshold | tiling | found | recall | detections | ms/photo | faces on dogs / blank |")
    print("|---|---|---|---|---|---|---|---|")
    for name in ("blazeface", "blazeface-short"):
        for thr in (0.5, 0.4):
            for tile in ("auto", False):
                det = get_detector(name, score_threshold=thr, tile=tile, threads=args.threads)
                r = evaluate(det, photos, gt)
                fp = [
                    len(det.detect(load_image(p)))
                    for p in (photos / "dogs.jpg", args.data / "media/bad-inputs/white_no_face.png")
                ]
                print(
                    f"| {name} | {thr} | {tile} | {r['found']}/{r['total']} | {r['recall']:.3f} | {r['detections']} | "
                    f"{r['ms_per_photo']:.1f} | {fp[0]} / {fp[1]} |"
                )


if __name__ == "__main__":
    main()
