"""Measure the engagement signals on the labelled sets in ../shared/data/engagement (README figures).

    python benchmarks/engagement_signals.py [--data ../shared/data] [--json out.json] [--model NAME_OR_ONNX]

Protocol (the same as the acceptance check): every image goes through the default Analyzer as
`affectlens analyze` runs it; per file the most confident face is kept; a file with no face counts
as a negative prediction.
  * yawning precision / recall on the in-car frames (drowsiness-yawn, yawn vs no_yawn);
  * eyes_closed recall on CEW closed-eye faces, reported on all of them and on the third the
    eye-state model never trained on (tools/signal_assets.py holds it out by file-name hash);
  * eyes_closed false alarms on open-eyed faces: the staged expression photos, obama*, two_people
    (the check's set) and, separately, on every face of every staged photo;
  * head pose mean absolute error on the AFLW2000-3D samples (yaw, pitch, roll);
  * valence of the smiling faces (happy.jpg and the expression photos' happy face);
  * expressive faces read right: on every face of the staged photos and every frame of the staged clips,
    the share of faces whose top label is happiness or surprise that are disengaged by ``eyes_closed``
    or ``yawning``, the share of broadly smiling faces (P(happiness) > 0.7) that are ``eyes_closed``,
    and the two staged cases (the laughing face of obama_and_biden.jpg, the gasp of expressions_man.mp4).
Threshold sweeps are printed so the defaults in EngagementConfig can be checked.
"""

from __future__ import annotations

import argparse
import csv
import glob
import hashlib
import json
import time
from pathlib import Path

import numpy as np
from PIL import Image

from affectlens.pipeline import Analyzer, AnalyzerConfig


def best_face(analyzer: Analyzer, path: str) -> dict | None:
    img = np.asarray(Image.open(path).convert("RGB"))
    rows = analyzer.analyze_image(img, name=path).rows()
    return max(rows, key=lambda r: r["score"]) if rows else None


def all_faces(analyzer: Analyzer, path: str) -> list[dict]:
    return analyzer.analyze_image(np.asarray(Image.open(path).convert("RGB")), name=path).rows()


def sweep(pred: np.ndarray, truth: np.ndarray) -> dict:
    tp = (pred & truth).sum()
    return {"precision": round(tp / max(pred.sum(), 1), 3), "recall": round(tp / max(truth.sum(), 1), 3)}


def expressive(an: Analyzer, media: Path) -> dict:
    """Smiling and surprised faces must not read as disengaged by closed eyes or a yawn."""
    rows = [r for f in sorted(glob.glob(str(media / "photos" / "*.jpg"))) for r in all_faces(an, f)]
    rows += [r for f in sorted(glob.glob(str(media / "expressions" / "*.jpg"))) for r in all_faces(an, f)]
    for clip in sorted(glob.glob(str(media / "videos" / "*.mp4"))):
        rows += [r for result in an.analyze(clip) for r in result.rows()]
    pos = [r for r in rows if r["label"] in ("happiness", "surprise")]
    smiling = [r for r in rows if r["p_happiness"] > 0.7]
    laugh = max(all_faces(an, str(media / "photos" / "obama_and_biden.jpg")), key=lambda r: r["p_happiness"])
    gasp = [r for r in rows if r["source"].endswith("expressions_man.mp4") and r["time_s"] >= 4.5]
    return {
        "n_faces": len(rows),
        "n_happy_or_surprised": len(pos),
        "happy_or_surprised_disengaged_by_eyes_or_yawn": round(
            float(np.mean([r["state_reason"] in ("eyes_closed", "yawning") for r in pos])), 3
        ),
        "n_broadly_smiling": len(smiling),
        "broadly_smiling_eyes_closed": round(float(np.mean([bool(r["eyes_closed"]) for r in smiling])), 3),
        "obama_and_biden_laughing_face": laugh["state"],
        "expressions_man_gasp_engaged_share": round(float(np.mean([r["state"] == "engaged" for r in gasp])), 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--json", default=None)
    ap.add_argument("--model", default=None, help="expression model (shipped name or .onnx); default: the default")
    args = ap.parse_args()
    d = Path(args.data)
    e = d / "engagement"
    an = Analyzer(AnalyzerConfig(model=args.model) if args.model else None)
    cfg = an.config.engagement
    t0 = time.perf_counter()
    out: dict = {}

    # yawning
    yawn = {}
    for c in ("yawn", "no_yawn"):
        for f in sorted(glob.glob(str(e / "drowsiness-yawn" / c / "*.jpg"))):
            yawn[f] = (c == "yawn", best_face(an, f))
    truth = np.array([t for t, _ in yawn.values()])
    mouth = np.array([r["mouth_open"] if r else 0.0 for _, r in yawn.values()])
    pred = np.array([bool(r and r["yawning"]) for _, r in yawn.values()])
    tp, fp, fn = (pred & truth).sum(), (pred & ~truth).sum(), (~pred & truth).sum()
    out["yawning"] = {
        "n": len(truth),
        "faces_found": int(sum(r is not None for _, r in yawn.values())),
        "precision": round(tp / max(tp + fp, 1), 3),
        "recall": round(tp / max(tp + fn, 1), 3),
        "sweep_mouth_open": {str(th): sweep(mouth > th, truth) for th in (0.15, 0.2, 0.22, 0.25, 0.3, 0.35)},
    }

    # eyes closed (CEW), recall on all and on the eye model's held-out third
    closed = sorted(glob.glob(str(e / "cew-closedface" / "closed" / "*")))
    rc = {f: best_face(an, f) for f in closed}
    held = [f for f in closed if int(hashlib.md5(Path(f).name.encode()).hexdigest(), 16) % 3 == 0]
    eye_closed = {f: (r["eye_openness"] if r else 1.0) for f, r in rc.items()}

    def recall(files, th=None):
        if th is None:
            return round(np.mean([bool(rc[f] and rc[f]["eyes_closed"]) for f in files]), 3)
        return round(np.mean([eye_closed[f] < th for f in files]), 3)

    # open eyes: the check's set, then every face of every staged photo
    check_open = sorted(glob.glob(str(d / "media" / "expressions" / "*.jpg")))
    check_open += sorted(glob.glob(str(d / "media" / "photos" / "obama*.jpg")))
    check_open.append(str(d / "media" / "photos" / "two_people.jpg"))
    open_rows = [r for f in check_open for r in all_faces(an, f)]
    photo_rows = [r for f in sorted(glob.glob(str(d / "media" / "photos" / "*.jpg"))) for r in all_faces(an, f)]
    out["eyes_closed"] = {
        "cew_recall_all": recall(closed),
        "cew_recall_held_out": recall(held),
        "cew_n_all": len(closed),
        "cew_n_held_out": len(held),
        "cew_faces_found": int(sum(r is not None for r in rc.values())),
        "false_alarms_check_set": round(np.mean([bool(r["eyes_closed"]) for r in open_rows]), 3),
        "n_check_set_faces": len(open_rows),
        "false_alarms_all_photos": round(np.mean([bool(r["eyes_closed"]) for r in photo_rows]), 3),
        "n_photo_faces": len(photo_rows),
        "sweep_eye_openness_below": {
            str(th): {
                "recall_held_out": recall(held, th),
                "false_alarms_all_photos": round(np.mean([r["eye_openness"] < th for r in photo_rows]), 3),
            }
            for th in (0.3, 0.4, 0.5, 0.6, 0.7)
        },
    }

    # head pose
    lab = e / "aflw2000-prnet-samples"
    errs = []
    with open(lab / "labels.csv") as fh:
        labels = list(csv.DictReader(fh))
    for x in labels:
        r = best_face(an, str(lab / "images" / x["file"]))
        if r is None:
            continue
        errs.append([abs(r[k] - float(x[f"{k}_deg"])) for k in ("yaw", "pitch", "roll")])
    errs = np.array(errs)
    out["head_pose"] = {
        "n": len(errs),
        "yaw_mae": round(float(errs[:, 0].mean()), 2),
        "pitch_mae": round(float(errs[:, 1].mean()), 2),
        "roll_mae": round(float(errs[:, 2].mean()), 2),
    }

    out["expressive"] = expressive(an, d / "media")
    happy = best_face(an, str(d / "media" / "expressions" / "happy.jpg"))
    out["smile"] = {"happy.jpg": {k: happy[k] for k in ("label", "valence", "expression_engagement", "engagement")}}
    out["config"] = cfg.to_dict()
    out["seconds"] = round(time.perf_counter() - t0, 1)
    text = json.dumps(out, indent=2, default=str)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")


if __name__ == "__main__":
    main()
