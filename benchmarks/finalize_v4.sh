#!/usr/bin/env bash
# Reproduce affect-ens-v4-int8 (issue "Expression model v2"; ledger: "Classifier re-training for the rare
# classes" in benchmarks/model-runs.md): affect-ens-v3's two members, the backbone member's last layer
# refitted class-balanced on its frozen features (cRT, beta 0.5), one graph, int8, rare-class offsets.
#   bash benchmarks/finalize_v4.sh
# Needs the members of benchmarks/finalize_v3.sh in $TMPDIR/affectlens-v3 (faceres112-c.onnx, t1ft.onnx: run
# that script first, or its step 1). About 6 minutes on 2 cores.
set -euo pipefail
D=../shared/data; W=src/affectlens/classify/weights; NAME=affect-ens-v4-int8
T=${TMPDIR:-/tmp}/affectlens-v3
# 1. the backbone member with its head refitted (class weights ∝ n_c^-0.5, L2 1e-3 toward the trained head)
python benchmarks/rebalance_head.py "$T/faceres112-c.onnx" --partner "$T/t1ft.onnx" --betas 0.5 --l2 1e-3 \
  --write "$T/faceres112-c-crt.onnx"
# 2. one graph on 112 px crops, weighted as affect-ens-v3 (0.6 / 0.4), calibrated
affectlens compose "$T/faceres112-c-crt.onnx=0.6" "$T/t1ft.onnx=0.4" --out "$T/affect-ens-v4.onnx" \
  --name affect-ens-v4 --calibrate "ferplus:$D/ferplus@valid"
# 3. int8 (static, QDQ), measured
affectlens quantize "$T/affect-ens-v4.onnx" --out "$W/$NAME.onnx" --calibrate-on "ferplus:$D/ferplus@train" \
  --temperature-on "ferplus:$D/ferplus@valid" --eval "ferplus:$D/ferplus@test" --eval "ferplus:$D/ferplus@valid" \
  --eval "rafdb:$D/rafdb-basic@valid"
# 4. offsets for the rare classes (disgust, fear, contempt), fitted on valid, measured into the card
python tools/fit_class_bias.py "$W/$NAME.onnx" --max-offset 2
# 5. the float graph ships beside it, with the same offsets (so the two differ only by quantisation)
cp "$T/affect-ens-v4.onnx" "$T/affect-ens-v4.json" "$W/"
python tools/fit_class_bias.py affect-ens-v4 --bias-from "$NAME"
# 6. its figures as a user sees them
affectlens eval --model "$NAME" --dataset "ferplus:$D/ferplus" --split test --json > "$T/ferplus_test_v4.json"
