#!/usr/bin/env bash
# The shipping path of one calibrated float graph (composed by ship_ensemble.sh or written by
# benchmarks/joint_head.py --write): int8 (static, QDQ) with its loss measured, rare-class offsets
# fitted on valid, the float graph shipped beside it with the same offsets, and its figures as a user
# sees them.
#   bash benchmarks/ship_graph.sh NAME
# reads $T/NAME.{onnx,json}, writes src/affectlens/classify/weights/NAME{,-int8}.{onnx,json} and
# $T/ferplus_test_NAME.json, where T=${TMPDIR:-/tmp}/affectlens-v3. About 3 minutes on 2 cores.
set -euo pipefail
NAME=$1
D=../shared/data; W=src/affectlens/classify/weights; T=${TMPDIR:-/tmp}/affectlens-v3
# 1. int8, the float figures beside the int8 ones, speed on this machine
affectlens quantize "$T/$NAME.onnx" --out "$W/$NAME-int8.onnx" --calibrate-on "ferplus:$D/ferplus@train" \
  --temperature-on "ferplus:$D/ferplus@valid" --eval "ferplus:$D/ferplus@test" --eval "ferplus:$D/ferplus@valid" \
  --eval "rafdb:$D/rafdb-basic@valid"
# 2. offsets for the rare classes (disgust, fear, contempt), fitted on valid, measured into the card
python tools/fit_class_bias.py "$W/$NAME-int8.onnx" --max-offset 2
# 3. the float graph ships beside it, with the same offsets (so the two differ only by quantisation)
cp "$T/$NAME.onnx" "$T/$NAME.json" "$W/"
python tools/fit_class_bias.py "$NAME" --bias-from "$NAME-int8"
# 4. its figures as a user sees them
affectlens eval --model "$NAME-int8" --dataset "ferplus:$D/ferplus" --split test --json > "$T/ferplus_test_$NAME.json"
