#!/usr/bin/env bash
# Reproduce affect-ens-v4-int8 (issue "Expression model v2"; ledger: "Classifier re-training for the rare
# classes" in benchmarks/model-runs.md): affect-ens-v3's two members, the backbone member's last layer
# refitted class-balanced on its frozen features (cRT, beta 0.5), one graph, int8, rare-class offsets.
#   bash benchmarks/finalize_v4.sh
# Needs the members of benchmarks/finalize_v3.sh in $TMPDIR/affectlens-v3 (faceres112-c.onnx, t1ft.onnx: run
# that script first, or its step 1). About 6 minutes on 2 cores.
set -euo pipefail
T=${TMPDIR:-/tmp}/affectlens-v3
# 1. the backbone member with its head refitted (class weights ∝ n_c^-0.5, L2 1e-3 toward the trained head)
python benchmarks/rebalance_head.py "$T/faceres112-c.onnx" --partner "$T/t1ft.onnx" --betas 0.5 --l2 1e-3 \
  --write "$T/faceres112-c-crt.onnx"
# 2-6. one graph weighted as affect-ens-v3 (0.6 / 0.4), int8, offsets, the float graph beside it, figures
bash benchmarks/ship_ensemble.sh affect-ens-v4 "$T/faceres112-c-crt.onnx=0.6" "$T/t1ft.onnx=0.4"
