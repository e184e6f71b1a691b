"""ONNX Runtime, set up once for every model the package runs (expression classifier, face detector,
face mesh, eye state): providers by device, a thread budget, quiet logs, full graph optimisation;
and the process's allocator, set for a video pipeline (:func:`frames_outside_the_heap`)."""

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


def session(
    path: str | Path, threads: int | None = None, providers: list[str] | None = None, device: str = "cpu"
) -> ort.InferenceSession:
    """An inference session on ``path`` with ``threads`` intra-op threads (default: every core).

    ``providers`` wins over ``device``; a file ONNX Runtime cannot load is an :class:`AffectlensError`.
    """
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads or os.cpu_count() or 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    # batches change size with the faces in them; ONNX Runtime's memory patterns are planned per input shape
    # and kept, so with them on RSS grew by ~140 MB in the first passes of a clip and kept creeping
    # (523 -> 680 MB over 27 passes); off, it stays flat at no measured cost in speed (benchmarks/bench_pipeline.py)
    opts.enable_mem_pattern = False
    # idle intra-op threads sleep instead of spinning: between the many small runs of a video pipeline the
    # spinning threads took the cores from the decoder and the Python stages (hamilton clip, in-process:
    # 1.90x -> 2.67x real time; 78 -> 23 ms of CPU per live frame); large batches lose nothing measurable
    # (classifier at batch 256: 464 vs 467 faces/s). AFFECTLENS_ORT_SPIN=1 turns spinning back on.
    if os.environ.get("AFFECTLENS_ORT_SPIN", "0") != "1":
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(str(path), opts, providers=providers or providers_for(device))
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise AffectlensError(f"cannot load model {path}: {exc}") from None


MMAP_THRESHOLD = 512 * 1024  # bytes: allocations this large get their own pages (a 640x360 RGB frame is 675 KB)


@cache
def frames_outside_the_heap() -> bool:
    """Serve allocations of :data:`MMAP_THRESHOLD` bytes and more (decoded frames) with their own pages.

    glibc starts large allocations with mmap but, once one is freed, raises its threshold so that
    later ones come from the heap, where frames decoded in one thread and freed in another fragment
    it: RSS settled 70-120 MB higher and grew ~20 MB over the first passes of a clip. A fixed
    threshold keeps every frame in pages that go back to the OS when it is freed (hamilton clip, 8
    passes in one process: 364 → 367 MB against 427 → 477 MB; speed the same within noise). Once per
    process, glibc only; an explicit ``MALLOC_MMAP_THRESHOLD_`` in the environment wins.
    """
    if sys.platform != "linux" or "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc (musl): nothing to set
        return False
    m_mmap_threshold = -3
    return bool(libc.mallopt(m_mmap_threshold, MMAP_THRESHOLD))


def machine() -> dict:
    """The machine a figure was measured on: CPU model, instruction sets that change ONNX Runtime's kernels,
    cores and the ONNX Runtime version (every benchmark prints it beside its figures)."""
    import platform

    model, flags = platform.processor() or "unknown CPU", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and model == (platform.processor() or "unknown CPU"):
                model = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = set(value.split())
    except OSError:
        pass
    isa = [name for name, flag in (("AVX2", "avx2"), ("AVX-512", "avx512f"), ("AVX512-BF16", "avx512_bf16"),
                                   ("AVX512-VNNI", "avx512_vnni"), ("AMX", "amx_tile")) if flag in flags]  # fmt: skip
    return {
        "cpu": model,
        "isa": isa,
        "cores": os.cpu_count(),
        "onnxruntime": ort.__version__,
        "python": platform.python_version(),
    }


def machine_line() -> str:
    m = machine()
    return f"{m['cpu']} ({', '.join(m['isa']) or 'no AVX2'}), {m['cores']} cores, ONNX Runtime {m['onnxruntime']}"
