#!/usr/bin/env bash
# Reproduce the shipped model, its card, figures and comparison table from finished training runs.
#   bash benchmarks/finalize_model.sh NAME RUN1 [RUN2 …]
#   bash benchmarks/finalize_model.sh affect-ens2-v1 runs/t1-cnn-s0 runs/t2-cnn-s1
# Several runs export as one ensemble graph (mean probabilities). The training commands are in the
# model card (training.command / training.members[].command).
set -euo pipefail
NAME=${1:?model name}; shift
D=../shared/data; W=src/affectlens/classify/weights
ckpts=(); for r in "$@"; do ckpts+=("$r/best.pt"); done
affectlens export "${ckpts[@]}" --out "$W/$NAME.onnx" --name "$NAME" ${TTA:+--tta "$TTA"} ${CROP_SCALE:+--crop-scale "$CROP_SCALE"} \
  --calibrate "ferplus:$D/ferplus@valid" --eval "ferplus:$D/ferplus@test" --eval "ferplus:$D/ferplus@valid" \
  --eval "rafdb:$D/rafdb-basic@valid"
mkdir -p docs/model-card
affectlens eval --model "$W/$NAME.onnx" --dataset "ferplus:$D/ferplus" --split test --out docs/model-card --json \
  > docs/model-card/ferplus_test.json
# speed on this machine (2 threads, batched 256 and batch 1) into the card
python - "$W/$NAME.onnx" "$D" <<'PY'
import sys
from affectlens.classify import get_model
from affectlens.classify.card import card_path
from affectlens.datasets import load_dataset
from affectlens.evaluate.bench import bench_ours
path, data = sys.argv[1], sys.argv[2]
row = bench_ours(path, load_dataset(f"ferplus:{data}/ferplus", "test"), threads=2)
card = get_model(path).card
card.speed = {"faces_per_s_batched_2_threads": round(row.faces_per_s), "batch1_ms_median": round(row.batch1_ms, 2),
              "size_mb": round(row.size_mb, 2), "runtime": row.runtime, "command": "bash benchmarks/finalize_model.sh"}
card.save(card_path(path))
print(card.speed)
PY
