"""Shared, numpy-only helpers for the peer runners (imported from the runner's own directory).

Every peer runs in its own virtual environment, never in affectlens's, and talks to the caller
through two ``.npz`` files (see README.md in this folder for the protocol). This module holds
the parts of that protocol that do not depend on the peer's runtime, so it must import nothing
beyond numpy and the standard library.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import time
from collections.abc import Callable, Sequence

import numpy as np

#: The affectlens class names a peer's labels are mapped onto.
OUR_NAMES = (
    "neutral",
    "happiness",
    "surprise",
    "sadness",
    "anger",
    "disgust",
    "fear",
    "contempt",
)


def parse_args(description: str, extra: Callable[[argparse.ArgumentParser], None] | None = None):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("inp", help="input .npz with `images` uint8 (N,H,W) or (N,H,W,3) RGB")
    p.add_argument("out", help="output .npz to write")
    p.add_argument("--threads", type=int, default=2, help="CPU threads for the peer's runtime")
    p.add_argument("--batch", type=int, default=64, help="faces per inference call")
    p.add_argument("--latency-runs", type=int, default=50, help="batch-1 calls timed for batch1_ms (median)")
    if extra is not None:
        extra(p)
    return p.parse_args()


def limit_threads(n: int) -> None:
    """Cap the BLAS/OpenMP pools before the peer's runtime is imported."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
        os.environ[var] = str(n)


NETWORK_ATTEMPTS: list[str] = []


def forbid_network() -> None:
    """Make every DNS look-up or socket connection fail (and record it).

    Peers must run offline: their weights come from their installed package. A library that
    tries to reach the network (update checks, analytics, weight downloads) gets an ``OSError``
    as on a machine without network, and the attempt is listed in ``NETWORK_ATTEMPTS`` (written
    to the output as ``network_attempts``). Unix sockets stay usable.
    """

    def refuse(what: str):
        NETWORK_ATTEMPTS.append(what)
        print(f"[peer] blocked network access: {what}", file=sys.stderr)
        return OSError(f"network disabled for peer runs ({what})")

    def getaddrinfo(host, *a, **k):
        raise refuse(f"getaddrinfo {host}")

    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def connect(self, address):
        if self.family == socket.AF_UNIX:
            return real_connect(self, address)
        raise refuse(f"connect {address}")

    def connect_ex(self, address):
        if self.family == socket.AF_UNIX:
            return real_connect_ex(self, address)
        raise refuse(f"connect {address}")

    socket.getaddrinfo = getaddrinfo
    socket.socket.connect = connect
    socket.socket.connect_ex = connect_ex


def load_images(path: str) -> np.ndarray:
    with np.load(path, allow_pickle=False) as z:
        if "images" not in z:
            raise SystemExit(f"{path}: no `images` array")
        images = z["images"]
    if images.dtype != np.uint8:
        raise SystemExit(f"{path}: `images` must be uint8, got {images.dtype}")
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim not in (3, 4) or (images.ndim == 4 and images.shape[-1] != 3):
        raise SystemExit(f"{path}: `images` must be (N,H,W) or (N,H,W,3), got {images.shape}")
    if len(images) == 0:
        raise SystemExit(f"{path}: no images")
    return images


def median_ms(fn: Callable[[int], object], runs: int, n_images: int) -> float:
    """Median wall time in ms of ``fn(i)`` over ``runs`` calls, cycling over the images."""
    times = []
    for r in range(max(1, runs)):
        t = time.perf_counter()
        fn(r % n_images)
        times.append((time.perf_counter() - t) * 1000.0)
    return float(statistics.median(times))


def write_output(
    path: str,
    *,
    probs: np.ndarray,
    labels: Sequence[str],
    seconds: float,
    load_seconds: float,
    batch1_ms: float,
    model_bytes: int,
    runtime: str,
    name: str,
    **extra: object,
) -> None:
    probs = np.asarray(probs, dtype=np.float32)
    if probs.ndim != 2 or probs.shape[1] != len(labels):
        raise ValueError(f"probs {probs.shape} do not match {len(labels)} labels")
    unknown = [lab for lab in labels if lab not in OUR_NAMES]
    if unknown:
        raise ValueError(f"labels not in our taxonomy: {unknown}")
    np.savez(
        path,
        probs=probs,
        labels=np.array(list(labels), dtype=str),
        seconds=np.float64(seconds),
        load_seconds=np.float64(load_seconds),
        batch1_ms=np.float64(batch1_ms),
        model_bytes=np.int64(model_bytes),
        runtime=np.array(runtime, dtype=str),
        name=np.array(name, dtype=str),
        network_attempts=np.int64(len(NETWORK_ATTEMPTS)),
        **{k: np.asarray(v) for k, v in extra.items()},
    )


def summary(path: str) -> str:
    with np.load(path, allow_pickle=False) as z:
        n = len(z["probs"])
        s = float(z["seconds"])
        return (
            f"{z['name']}: {n} faces in {s:.2f}s ({n / s:.1f} faces/s), "
            f"batch1 {float(z['batch1_ms']):.1f} ms, load {float(z['load_seconds']):.1f}s"
        )
