#!/usr/bin/env bash
# Reproduce affect-ens-v2-int8 (superseded by affect-ens-v3-int8, benchmarks/finalize_v3.sh, and no longer shipped) from its finished training run and the
# previous shipped pair (issue "Expression model v2"; ledger rows faceres96-a and "affect-ens-v2" in
# benchmarks/model-runs.md):
#   bash benchmarks/finalize_v2.sh
# Needs runs/faceres96-a/best.pt (its command is in the ledger and in the card) and .cache/faceres
# (python tools/faceres_weights.py). About 5 minutes on 2 cores.
set -euo pipefail
D=../shared/data; W=src/affectlens/classify/weights; NAME=affect-ens-v2-int8
T=${TMPDIR:-/tmp}/affectlens-v2; mkdir -p "$T"
# 1. the face-backbone member, calibrated on FER+ valid
affectlens export runs/faceres96-a/best.pt --out "$T/faceres96-a.onnx" --name faceres96-a \
  --calibrate "ferplus:$D/ferplus@valid"
# 2. the members of the previous shipped pair (their checkpoints were trained on another machine)
python tools/split_ensemble.py affect-cnn-x2-v1 --member 0 --out "$T/t1ft.onnx"
python tools/split_ensemble.py affect-cnn-x2-v1 --member 1 --out "$T/t2.onnx"
# 3. the weights, chosen by the mean of FER+ valid and RAF-DB valid accuracy (prints test beside them)
python benchmarks/ensemble_search.py "$T/t1ft.onnx" "$T/t2.onnx" "$T/faceres96-a.onnx" --json "$T/search.json"
# 4. one graph on the 96 px crops of the face-backbone member (the 48 px members pool them 2x2), calibrated
affectlens compose "$T/faceres96-a.onnx=0.6" "$T/t1ft.onnx=0.2" "$T/t2.onnx=0.2" --out "$T/affect-ens-v2.onnx" \
  --name affect-ens-v2 --calibrate "ferplus:$D/ferplus@valid"
# 5. int8 (static, QDQ), the float figures beside the int8 ones, speed on this machine
affectlens quantize "$T/affect-ens-v2.onnx" --out "$W/$NAME.onnx" --calibrate-on "ferplus:$D/ferplus@train" \
  --temperature-on "ferplus:$D/ferplus@valid" --eval "ferplus:$D/ferplus@test" --eval "ferplus:$D/ferplus@valid" \
  --eval "rafdb:$D/rafdb-basic@valid"
# 6. offsets for the rare classes (disgust, fear, contempt), fitted on valid, measured into the card
python tools/fit_class_bias.py "$W/$NAME.onnx"
# 7. its figures as a user sees them
affectlens eval --model "$NAME" --dataset "ferplus:$D/ferplus" --split test --json > "$T/ferplus_test.json"
