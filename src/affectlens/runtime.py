"""ONNX Runtime, set up once for every model the package runs (expression classifier, face detector,
face mesh, eye state): providers by device, a thread budget, quiet logs, full graph optimisation;
and the process's allocator, set for a video pipeline (:func:`one_malloc_arena`)."""

from __future__ import annotations

import ctypes
import os
import sys
from functools import cache
from pathlib import Path

import onnxruntime as ort

from affectlens.errors import AffectlensError


def providers_for(device: str = "auto") -> list[str]:
    """ONNX Runtime providers: CUDA first when present (and asked for), then the CPU."""
    available = ort.get_available_providers()
    if device in ("auto", "cuda") and "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    if device == "cuda":
        raise AffectlensError(
            "device 'cuda' asked for, but onnxruntime has no CUDA provider here (pip install onnxruntime-gpu)"
        )
    return ["CPUExecutionProvider"]


# How long an idle intra-op thread spins for the next piece of work before it sleeps (microseconds).
# Unbounded spinning (ONNX Runtime's default) took the cores from the decoder and the Python stages of a video
# pipeline (hamilton clip, in-process: 1.90x -> 2.67x real time with spinning off); no spinning at all makes every
# parallel section inside one run wake its threads from sleep, which cost the classifier a quarter of its time at
# batch 1. A 100 us window keeps the threads awake between one run's kernels and lets them sleep between runs:
# classifier alone 1.38-1.42 ms at batch 1 (1.88-1.91 ms without spinning), 1,086-1,145 faces/s at batch 256
# (1,003-1,029); the hamilton clip's whole process unchanged (3.29-3.48 s vs 3.34-3.45 s), +5 % CPU time
# (Intel Xeon with AMX, 2 cores, ONNX Runtime 1.32). ONNX Runtime bounds the window from 1.26 on; older versions can
# only spin without end, so there threads do not spin. AFFECTLENS_ORT_SPIN_US overrides: 0 never spins, -1 spins
# as ONNX Runtime does by default.
SPIN_WINDOW_US = 100
_BOUNDED_SPIN_FROM = (1, 26)


def bounded_spin_available() -> bool:
    """Whether this ONNX Runtime can bound its threads' spinning (``session.intra_op.spin_duration_us``)."""
    return tuple(int(p) for p in ort.__version__.split(".")[:2] if p.isdigit()) >= _BOUNDED_SPIN_FROM


def spin_window_us() -> int:
    """The intra-op spin window in microseconds: ``AFFECTLENS_ORT_SPIN_US`` or :data:`SPIN_WINDOW_US`
    (0 where this ONNX Runtime cannot bound it); -1 means unbounded."""
    raw = os.environ.get("AFFECTLENS_ORT_SPIN_US")
    if raw is None:
        return SPIN_WINDOW_US if bounded_spin_available() else 0
    try:
        us = int(raw)
    except ValueError:
        us = None
    if us is None or us < -1:
        raise AffectlensError(f"AFFECTLENS_ORT_SPIN_US={raw!r}: give microseconds (0: never spin, -1: unbounded)")
    return us


def set_spin_window(opts: ort.SessionOptions) -> None:
    """Set ``opts``'s intra-op spinning from :func:`spin_window_us`."""
    us = spin_window_us()
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0" if us == 0 else "1")
    if us > 0:
        opts.add_session_config_entry("session.intra_op.spin_duration_us", str(us))


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity: ``taskset``, a container's cpuset), not the host's."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def session(
    path: str | Path, threads: int | None = None, providers: list[str] | None = None, device: str = "cpu"
) -> ort.InferenceSession:
    """An inference session on ``path`` with ``threads`` intra-op threads (default: every core).

    ``providers`` wins over ``device``; a file ONNX Runtime cannot load is an :class:`AffectlensError`.
    """
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads or usable_cores()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    # batches change size with the faces in them; ONNX Runtime's memory patterns are planned per input shape
    # and kept, so with them on RSS grew by ~140 MB in the first passes of a clip and kept creeping
    # (523 -> 680 MB over 27 passes); off, it stays flat at no measured cost in speed (benchmarks/bench_pipeline.py)
    opts.enable_mem_pattern = False
    set_spin_window(opts)
    try:
        return ort.InferenceSession(str(path), opts, providers=providers or providers_for(device))
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise AffectlensError(f"cannot load model {path}: {exc}") from None


@cache
def _glibc() -> ctypes.CDLL | None:
    if sys.platform != "linux":
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.malloc_trim  # noqa: B018 - musl has no malloc_trim
    except (OSError, AttributeError):
        return None
    return libc


@cache
def one_malloc_arena() -> bool:
    """Serve every thread's allocations from glibc's main arena (``M_ARENA_MAX`` = 1), once per process.

    A video run decodes and detects frames in a worker thread and frees them in the main thread. With
    glibc's default of one arena per thread, those frames fragmented the worker's arena and RSS crept up
    (hamilton clip looped in one process: 442 → 483 MB over 8 passes). With one arena glibc keeps its
    adaptive mmap threshold, so large buffers that come back every frame (frames, the detector's and
    mesh's input batches) are reused from the heap instead of being mapped, faulted in and unmapped each
    time, and with :func:`release_free_memory` after each video RSS stays flat (4 passes in one process
    374.4 → 375.1 MB; a 600 s loop 380.8 → 392.9 MB). The fix this replaces, a fixed 512 KB mmap
    threshold, was as flat but paid 290,000 minor page faults per hamilton run against 100,000 now:
    in-process loop 2.89-3.60× → 3.83-4.10× real time, whole process 4.11-4.51 s → 3.72-4.44 s (2-core
    AMD EPYC Zen 4, AVX-512, no AMX). Glibc only; an explicit ``MALLOC_ARENA_MAX`` in the environment wins.
    """
    libc = _glibc()
    if libc is None or "MALLOC_ARENA_MAX" in os.environ:
        return False
    m_arena_max = -8
    return bool(libc.mallopt(m_arena_max, 1))


def release_free_memory() -> None:
    """Give the heap's free pages back to the OS (glibc ``malloc_trim``; elsewhere nothing).

    With one arena and glibc's adaptive thresholds the heap keeps the pages of freed frames for reuse,
    so RSS after a pass showed the heap's high-water mark (425-457 MB over passes of the hamilton clip)
    rather than what was live. The analyser trims after each video and every
    :data:`affectlens.pipeline.TRIM_EVERY_FRAMES` frames of a long one; a trim costs 2.4-3.7 ms (same Zen 4).
    """
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


def _cpuinfo(key: str) -> str | None:
    """The first CPU's ``key`` line of /proc/cpuinfo (None where there is none: macOS, Windows)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            name, _, value = line.partition(":")
            if name.strip() == key:
                return value.strip()
    except OSError:
        pass
    return None


def cpu_flags() -> set[str]:
    """The instruction sets the kernel lists for this CPU (/proc/cpuinfo ``flags``; empty where unknown)."""
    return set((_cpuinfo("flags") or "").split())


@cache
def int8_without_saturation() -> bool:
    """Whether ONNX Runtime's int8 convolutions are exact here for full 8-bit weights: VNNI or AMX on x86
    (without them it adds pairs of uint8 x int8 products into int16 with ``VPMADDUBSW``, which saturates;
    7-bit weights are exact everywhere), or a CPU that is not x86."""
    import platform

    if platform.machine().lower() not in ("x86_64", "amd64", "i686", "x86"):
        return True
    flags = cpu_flags()
    if not flags:  # no /proc/cpuinfo (macOS, Windows): unknown, say nothing
        return True
    return not avx512_hidden(flags) and bool(flags & {"avx512_vnni", "avx_vnni", "amx_int8"})


def machine() -> dict:
    """The machine a figure was measured on: CPU model, instruction sets that change ONNX Runtime's kernels,
    cores and the ONNX Runtime version (every benchmark prints it beside its figures)."""
    import platform

    model, flags = _cpuinfo("model name") or platform.processor() or "unknown CPU", cpu_flags()
    isa = [name for name, flag in (("AVX2", "avx2"), ("AVX-512", "avx512f"), ("AVX512-BF16", "avx512_bf16"),
                                   ("AVX512-VNNI", "avx512_vnni"), ("AVX-VNNI", "avx_vnni"), ("AMX", "amx_tile"))
           if flag in flags]  # fmt: skip
    hidden = avx512_hidden(flags)
    if hidden:  # what the kernels see: benchmarks/avx2only hides everything after AVX2 from CPUID
        isa = [name for name in isa if name == "AVX2"]
    return {
        "cpu": model,
        "isa": isa,
        "hidden_from_cpuid": hidden,
        "cores": os.cpu_count(),
        "onnxruntime": ort.__version__,
        "python": platform.python_version(),
    }


def avx512_hidden(flags: set[str]) -> list[str]:
    """The instruction sets the kernel lists (``flags``) that this process's CPUID does not report: AVX-512,
    AMX and AVX-VNNI hidden by ``benchmarks/avx2only`` (whose library sets ``AFFECTLENS_CPUID_MASK`` once its
    trap is on), or AVX-512 missing from what NumPy's dispatcher detected through CPUID."""
    named = (("AVX-512", "avx512f"), ("AMX", "amx_tile"), ("AVX-VNNI", "avx_vnni"))
    if os.environ.get("AFFECTLENS_CPUID_MASK") == "avx2":
        return [name for name, flag in named if flag in flags]
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as seen
    except ImportError:  # NumPy 1.x
        try:
            from numpy.core._multiarray_umath import __cpu_features__ as seen
        except ImportError:
            return []
    if "avx512f" not in flags or seen.get("AVX512F", True):
        return []
    return [name for name, flag in named if flag in flags]


def machine_line() -> str:
    m = machine()
    isa = ", ".join(m["isa"]) or "no AVX2"
    if m["hidden_from_cpuid"]:
        isa += f"; {', '.join(m['hidden_from_cpuid'])} hidden from CPUID"
    return f"{m['cpu']} ({isa}), {m['cores']} cores, ONNX Runtime {m['onnxruntime']}"
