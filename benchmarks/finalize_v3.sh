#!/usr/bin/env bash
# Reproduce affect-ens-v3-int8 (issue "Expression model v2"; ledger rows faceres112-c and
# "affect-ens-v3" in benchmarks/model-runs.md): two face-backbone members, one graph, int8.
#   bash benchmarks/finalize_v3.sh
# Needs runs/faceres96-a/best.pt and runs/faceres112-c/best.pt (their commands are in the ledger and
# the card) and .cache/faceres (python tools/faceres_weights.py). About 10 minutes on 2 cores.
set -euo pipefail
D=../shared/data
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
# 3-7. one graph on the 112 px crops of the backbone member (the 48 px member resamples them by area inside
#    the graph), calibrated; int8; offsets for the rare classes (the 0-1 grid had ended at its edge, hence
#    --max-offset 2 there); the float graph beside it; its figures
bash benchmarks/ship_ensemble.sh affect-ens-v3 "$T/faceres112-c.onnx=0.6" "$T/t1ft.onnx=0.4"
