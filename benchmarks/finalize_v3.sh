#!/usr/bin/env bash
# Reproduce affect-ens-v3-int8 (issue "Expression model v2"; ledger rows faceres112-c and
# "affect-ens-v3" in benchmarks/model-runs.md): two face-backbone members, one graph, int8.
#   bash benchmarks/finalize_v3.sh
# Needs runs/faceres96-a/best.pt and runs/faceres112-c/best.pt (their commands are in the ledger and
# the card) and .cache/faceres (python tools/faceres_weights.py). About 10 minutes on 2 cores.
set -euo pipefail
D=../shared/data; W=src/affectlens/classify/weights; NAME=affect-ens-v3-int8
T=${TMPDIR:-/tmp}/affectlens-v3; mkdir -p "$T"
# 1. the members, each calibrated on FER+ valid
for run in faceres96-a faceres112-c; do
  [ -f "$T/$run.onnx" ] || affectlens export "runs/$run/best.pt" --out "$T/$run.onnx" --name "$run" \
    --calibrate "ferplus:$D/ferplus@valid"
done
python tools/split_ensemble.py affect-cnn-x2-v1 --member 0 --out "$T/t1ft.onnx"
# 2. the weights of every ensemble of at most two (the speed budget), chosen by the mean of FER+ valid
#    and RAF-DB valid accuracy (test printed beside them, never used to choose)
python benchmarks/ensemble_search.py "$T/faceres96-a.onnx" "$T/faceres112-c.onnx" "$T/t1ft.onnx" \
  --max-members 2 --json "$T/search.json"
# 3. one graph on the 112 px crops of the backbone member (the 48 px member resamples them by area
#    inside the graph), calibrated
affectlens compose "$T/faceres112-c.onnx=0.6" "$T/t1ft.onnx=0.4" --out "$T/affect-ens-v3.onnx" \
  --name affect-ens-v3 --calibrate "ferplus:$D/ferplus@valid"
# 4. int8 (static, QDQ), the float figures beside the int8 ones, speed on this machine
affectlens quantize "$T/affect-ens-v3.onnx" --out "$W/$NAME.onnx" --calibrate-on "ferplus:$D/ferplus@train" \
  --temperature-on "ferplus:$D/ferplus@valid" --eval "ferplus:$D/ferplus@test" --eval "ferplus:$D/ferplus@valid" \
  --eval "rafdb:$D/rafdb-basic@valid"
# 5. offsets for the rare classes (disgust, fear, contempt), fitted on valid, measured into the card
python tools/fit_class_bias.py "$W/$NAME.onnx" --max-offset 2  # the 0-1 grid ended at its edge (contempt 1.0)
# 6. the float graph ships beside it, with the same offsets (so the two differ only by quantisation)
cp "$T/affect-ens-v3.onnx" "$T/affect-ens-v3.json" "$W/"
python tools/fit_class_bias.py affect-ens-v3 --bias-from "$NAME"
# 7. its figures as a user sees them
affectlens eval --model "$NAME" --dataset "ferplus:$D/ferplus" --split test --json > "$T/ferplus_test.json"
