#!/usr/bin/env bash
# Reproduce the run fr112-kd-v6 and its candidate graph (issue "Expression model v2"; ledger: "One backbone
# distilled from the search's best model" in benchmarks/model-runs.md; measured and NOT kept): the faceres
# backbone at 112 px trained on FER+ and RAF-DB with soft targets from the search's best float model (the
# three-member joint head affect-joint-v6), so that one backbone would do the work of the default's pair.
# Then the shipping path of every model: calibrated export, int8, rare-class offsets fitted on valid, the
# float graph beside it.
#   bash benchmarks/finalize_v7.sh
# Needs $TMPDIR/affectlens-v3/affect-joint-v6.onnx only to rebuild the teachers' file, which is committed: the
# joint head as benchmarks/joint_head.py writes it, before fit_class_bias (finalize_joint_v6.sh step 2 with
# --write "$T/affect-joint-v6.onnx"); the shipped graph's contempt offset would change the soft targets slightly.
# (benchmarks/teachers/ferplus-rafdb-joint-v6.npz). About 45 minutes on 2 cores of a Xeon with AMX (bf16).
set -euo pipefail
D=../shared/data; T=${TMPDIR:-/tmp}/affectlens-v3; mkdir -p "$T"
SOFT=benchmarks/teachers/ferplus-rafdb-joint-v6.npz
# 1. the teacher's probabilities on the training faces (each face and its mirror), once
[ -f "$SOFT" ] || affectlens teach --out "$SOFT" --teacher "$T/affect-joint-v6.onnx" \
  --dataset "ferplus:$D/ferplus" --dataset "rafdb:$D/rafdb-basic" --student faceres --input-size 112
# 2. the student: faceres112-c's recipe, 70 % teacher / 30 % votes
affectlens train --out runs/fr112-kd-v6 --model faceres --input-size 112 --dataset "ferplus:$D/ferplus" \
  --dataset "rafdb:$D/rafdb-basic" --distill "$SOFT" --distill-weight 0.7 --epochs 8 --optimizer adamw --lr 1e-3 \
  --weight-decay 0.05 --schedule cosine --logit-adjust 0 --precision bf16 --seed 11 --no-progress
# 3. calibrated on FER+ valid, figures in its card
affectlens export runs/fr112-kd-v6/last.pt --out "$T/affect-kd-v7.onnx" --name affect-kd-v7 \
  --calibrate "ferplus:$D/ferplus@valid" --eval "ferplus:$D/ferplus@test" --eval "rafdb:$D/rafdb-basic@valid"
# 4-6. int8, offsets, the float graph beside it, figures as a user sees them (ship_graph.sh writes into the
# package's weights folder: move the candidate out unless it is to ship)
bash "$(dirname "$0")/ship_graph.sh" affect-kd-v7
# the candidate was not kept: out of the package again
mkdir -p "$T/candidates" && mv src/affectlens/classify/weights/affect-kd-v7* "$T/candidates/"
