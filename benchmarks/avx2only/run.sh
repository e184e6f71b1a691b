#!/usr/bin/env bash
# Run a command as if this x86-64 CPU had AVX2 and nothing newer (AVX-512, AMX, AVX-VNNI hidden from
# CPUID; see avx2only.c). The kernels ONNX Runtime, NumPy, OpenCV and glibc pick are then the ones an
# AVX2-only CPU runs, natively on this core: a stand-in for an AVX2-only machine, not a copy of one
# (the core's clock, caches and memory stay this machine's).
#   bash benchmarks/avx2only/run.sh affectlens analyze CLIP --format csv --out /tmp/h
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
grep -qw cpuid_fault /proc/cpuinfo || { echo "avx2only: this CPU has no CPUID faulting (cpuid_fault flag)" >&2; exit 2; }
# built once per source version into this user's cache; written aside and renamed, so runs side by side never
# load a half-written library
cache=${XDG_CACHE_HOME:-$HOME/.cache}/affectlens
lib=$cache/avx2only-$(sha256sum "$here/avx2only.c" | cut -c1-12).so
if [ ! -f "$lib" ]; then
  mkdir -p "$cache"
  tmp=$(mktemp "$cache/avx2only.XXXXXX")
  gcc -O2 -Wall -shared -fPIC -o "$tmp" "$here/avx2only.c" -ldl -lpthread
  mv -f "$tmp" "$lib"
fi
# glibc chooses its string and memory functions before any preloaded library runs: mask those here
export GLIBC_TUNABLES=glibc.cpu.hwcaps=-AVX512F,-AVX512CD,-AVX512BW,-AVX512DQ,-AVX512VL,-AVX512ER,-AVX512PF${GLIBC_TUNABLES:+:$GLIBC_TUNABLES}
LD_PRELOAD="$lib${LD_PRELOAD:+:$LD_PRELOAD}" exec "$@"
