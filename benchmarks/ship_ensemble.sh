#!/usr/bin/env bash
# The shipping path shared by the finalize_v*.sh scripts: members composed into one calibrated graph, int8
# (static, QDQ) with its loss measured, rare-class offsets fitted on valid, the float graph shipped beside
# it with the same offsets, and its figures as a user sees them.
#   bash benchmarks/ship_ensemble.sh NAME HOST.onnx=WEIGHT MEMBER.onnx=WEIGHT [...]
# writes src/affectlens/classify/weights/NAME{,-int8}.{onnx,json} and $T/ferplus_test_NAME.json, where
# T=${TMPDIR:-/tmp}/affectlens-v3 (the members' folder of finalize_v3.sh). The first member is the host:
# its crops (size, colour) are the ensemble's. About 4 minutes on 2 cores.
set -euo pipefail
NAME=$1; shift
D=../shared/data; T=${TMPDIR:-/tmp}/affectlens-v3; mkdir -p "$T"
# 1. one graph on the host's crops, calibrated on FER+ valid; 2-5. int8, offsets, the float beside it, figures
affectlens compose "$@" --out "$T/$NAME.onnx" --name "$NAME" --calibrate "ferplus:$D/ferplus@valid"
bash "$(dirname "$0")/ship_graph.sh" "$NAME"
