"""Loopback load test of `affectlens serve`: image requests at a fixed concurrency, and the live path.

    python benchmarks/serve_load.py                       # starts a server on a free port (--no-auth)
    python benchmarks/serve_load.py --requests 200 --concurrency 8 --live-frames 150
    python benchmarks/serve_load.py --url http://127.0.0.1:8000 --key al_...   # an already running server

Image: POST /v1/analyze/image with a staged one-face photo, ``--requests`` in all with
``--concurrency`` in flight; reports throughput and p50/p95 latency. Live: one WebSocket,
640x480 JPEG frames of a one-face clip sent in lockstep (next frame when the answer arrives,
as the dashboard does), reports frames/s and p50/p95 per-frame latency. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("AFFECTLENS_DATA", ROOT.parent / "shared" / "data"))


def start_server(threads: int | None) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = tempfile.mkdtemp(prefix="affectlens-load-")
    cmd = [sys.executable, "-m", "affectlens", "serve", "--no-auth", "--port", str(port), "--data-dir", data]
    if threads:
        cmd += ["--threads", str(threads)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(f"{url}/v1/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("server did not start")


def summary(latencies: list[float], wall: float, n: int) -> dict:
    ms = np.array(latencies) * 1000
    return {
        "n": n,
        "per_s": round(n / wall, 2),
        "p50_ms": round(float(np.percentile(ms, 50)), 1),
        "p95_ms": round(float(np.percentile(ms, 95)), 1),
    }


async def image_load(url: str, headers: dict, image: bytes, n: int, concurrency: int) -> dict:
    latencies: list[float] = []
    errors = 0
    todo = iter(range(n))

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal errors
        for _ in todo:
            t = time.perf_counter()
            r = await client.post("/v1/analyze/image", files={"file": ("face.jpg", image, "image/jpeg")})
            latencies.append(time.perf_counter() - t)
            errors += r.status_code != 200

    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=120) as client:
        await client.post("/v1/analyze/image", files={"file": ("warm.jpg", image)})  # warm-up
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        wall = time.perf_counter() - t0
    return summary(latencies, wall, n) | {"concurrency": concurrency, "errors": errors}


def live_frames(n: int) -> list[bytes]:
    import av
    import cv2

    frames: list[bytes] = []
    while len(frames) < n:
        with av.open(str(DATA / "media" / "videos" / "expressions_man.mp4")) as c:
            for f in c.decode(video=0):
                rgb = cv2.resize(f.to_ndarray(format="rgb24"), (640, 480), interpolation=cv2.INTER_AREA)
                _, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 75])
                frames.append(buf.tobytes())
                if len(frames) == n:
                    break
    return frames


async def live_load(url: str, key: str | None, frames: list[bytes]) -> dict:
    import websockets

    ws_url = url.replace("http", "ws", 1) + "/v1/live"
    headers = {"X-API-Key": key} if key else {}
    latencies, server_ms, faces = [], [], []
    async with websockets.connect(ws_url, max_size=None, additional_headers=headers) as ws:
        await ws.send(json.dumps({"type": "hello"}))
        json.loads(await ws.recv())
        for data in frames[:10]:  # warm-up (and the tracker confirms the face)
            await ws.send(data)
            await ws.recv()
        t0 = time.perf_counter()
        for data in frames[10:]:
            t = time.perf_counter()
            await ws.send(data)
            msg = json.loads(await ws.recv())
            latencies.append(time.perf_counter() - t)
            server_ms.append(msg.get("latency_ms", 0))
            faces.append(len(msg.get("faces", [])))
        wall = time.perf_counter() - t0
    out = summary(latencies, wall, len(latencies))
    return out | {
        "frame": "640x480 JPEG, 1 face",
        "server_p50_ms": float(np.median(server_ms)),
        "mean_faces": float(np.mean(faces)),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", help="a running server (default: start one on a free loopback port)")
    ap.add_argument("--key", help="API key for --url")
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--live-frames", type=int, default=150, help="0: skip the live test")
    ap.add_argument("--threads", type=int, help="ONNX Runtime threads of a started server")
    ap.add_argument("--image", default=str(DATA / "media" / "expressions" / "happy.jpg"))
    args = ap.parse_args()
    proc = None
    url = args.url
    if url is None:
        proc, url = start_server(args.threads)
    headers = {"X-API-Key": args.key} if args.key else {}
    try:
        result = {"cpus": os.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 2)}
        if args.live_frames:
            result["live"] = asyncio.run(live_load(url, args.key, live_frames(args.live_frames + 10)))
        if args.requests:
            image = Path(args.image).read_bytes()
            result["image"] = asyncio.run(image_load(url, headers, image, args.requests, args.concurrency))
        print(json.dumps(result))
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(20)


if __name__ == "__main__":
    main()
