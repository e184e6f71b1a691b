"""Score a peer's output ``.npz`` against the ``targets`` of the input ``.npz`` (numpy only).

    python benchmarks/peers/score.py IN.npz OUT.npz

Accuracy counts a face right when the peer's top class (mapped to our names) equals the target.
Faces whose target class the peer cannot output (e.g. contempt for a 7-class peer) are reported
separately and counted wrong in ``accuracy``; ``accuracy_on_peer_classes`` leaves them out.
"""

from __future__ import annotations

import sys

import numpy as np


def main() -> None:
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    with np.load(sys.argv[1], allow_pickle=False) as z:
        targets = z["targets"]
    with np.load(sys.argv[2], allow_pickle=False) as z:
        out = {k: z[k] for k in z.files}
    labels = [str(s) for s in out["labels"]]
    pred = np.array(labels)[out["probs"].argmax(1)]
    ok = pred == targets
    covered = np.isin(targets, labels)
    n = len(targets)
    s = float(out["seconds"])
    print(f"peer     : {out['name']}  [{out['runtime']}]")
    print(f"faces    : {n}  (target class not in peer's labels: {int((~covered).sum())})")
    print(f"accuracy : {ok.mean():.4f}   on peer's classes: {ok[covered].mean():.4f}")
    if "no_detection" in out:
        print(f"no box   : {int(out['no_detection'])} faces")
    print(
        f"speed    : {n / s:.1f} faces/s (batch), batch1 {float(out['batch1_ms']):.1f} ms, "
        f"load {float(out['load_seconds']):.1f} s, weights {int(out['model_bytes']) / 1e6:.2f} MB"
    )
    for c in labels:
        m = targets == c
        if m.any():
            print(f"  {c:10s} n={int(m.sum()):4d} recall={ok[m].mean():.3f}")


if __name__ == "__main__":
    main()
