"""Several remote respondents watching at once: does one server on 2 cores keep up?

    python benchmarks/remote_respondents.py [--respondents 4] [--data ../shared/data] [--json out.json]

Starts `affectlens serve` (loopback, no key) on a study of ``short_hamilton_clip.mp4``, invites N
respondents and takes N headless Chromium pages through the respondent page *at the same time*,
each with a fake camera playing ``expressions_man.mp4``. Per respondent it reports the frames
analysed per second of stimulus time, the round trip of a frame (sent → acknowledged; the page
keeps one frame in flight, so a frame never waits behind another: no backlog can grow) and the
final state. Goal: every
respondent ``done`` and analysed at ≥ 5 frames/s of stimulus time.

The browsers run on the same 2 cores as the server here (real respondents' browsers run on their
own machines), so the figures are a floor.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from affectlens.runtime import machine_line


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def camera_file(clip: Path, out: Path) -> Path:
    import av
    import cv2

    frames = []
    with av.open(str(clip)) as c:
        frames = [cv2.resize(f.to_ndarray(format="rgb24"), (640, 480)) for f in c.decode(video=0)]
    with out.open("wb") as f:
        f.write(b"YUV4MPEG2 W640 H480 F24:1 Ip A1:1 C420jpeg\n")
        for rgb in frames:
            f.write(b"FRAME\n" + cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420).tobytes())
    return out


async def respondent(browser, url: str) -> dict:
    ctx = await browser.new_context()
    page = await ctx.new_page()
    await page.goto(url)
    await page.click('[data-testid="consent"]', timeout=30_000)
    await page.click('[data-testid="start"]', timeout=90_000)
    t0 = time.monotonic()
    await page.wait_for_selector('[data-testid="done"]', timeout=180_000)
    stats = await page.evaluate("window.affectlensRespondent.stats()")
    await ctx.close()
    return {"stats": stats, "wall_s": round(time.monotonic() - t0, 2)}


async def drive(urls: list[str], camera: Path) -> list[dict]:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=shutil.which("chromium") or "/usr/bin/chromium",
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-video-capture={camera}",
                "--autoplay-policy=no-user-gesture-required",
            ],
        )
        out = await asyncio.gather(*(respondent(browser, u) for u in urls))
        await browser.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--respondents", type=int, default=4)
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--json", default=None)
    ap.add_argument("--serve-args", default="", help="extra `affectlens serve` options, e.g. '--threads 1'")
    args = ap.parse_args()
    videos = Path(args.data) / "media" / "videos"
    tmp = Path(tempfile.mkdtemp(prefix="remote-bench-"))
    port = free_port()
    env = os.environ | {"AFFECTLENS_HOME": str(tmp / "home"), "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "affectlens", "serve", "--no-auth", "--port", str(port), "--data-dir", str(tmp)]
    cmd += args.serve_args.split()
    server = subprocess.Popen(cmd, env=env, stdout=(tmp / "server.log").open("w"), stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                if httpx.get(f"{base}/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        c = httpx.Client(base_url=base, timeout=60)
        stim = videos / "short_hamilton_clip.mp4"
        with stim.open("rb") as f:
            c.post("/v1/studies", data={"name": "bench"}, files={"stimulus": (stim.name, f, "video/mp4")})
        made = c.post("/v1/studies/bench/invites", json={"count": args.respondents}).json()
        camera = camera_file(videos / "expressions_man.mp4", tmp / "camera.y4m")
        t, cpu0 = time.monotonic(), cpu_seconds(server.pid)
        results = asyncio.run(drive([m["url"] for m in made], camera))
        wall, server_cpu = time.monotonic() - t, cpu_seconds(server.pid) - cpu0
        people = {r["respondent"]: r for r in c.get("/v1/studies/bench").json()["respondents"]}
    finally:
        server.terminate()
        server.wait(30)
    rows = []
    for m, r in zip(made, results, strict=True):
        p = people[m["respondent"]]
        watched = p["seconds_watched"] or 0.0
        rows.append(
            {
                "respondent": m["respondent"],
                "state": p["state"],
                "seconds_watched": watched,
                "frames_analysed": p["frames"],
                "frames_per_stimulus_s": round((p["frames"] or 0) / watched, 2) if watched else None,
                "frames_sent": r["stats"]["sent"],
                "frames_acknowledged": r["stats"]["acked"],
                "round_trip_mean_ms": round(r["stats"]["rttSumMs"] / max(1, r["stats"]["acked"]), 1),
                "round_trip_max_ms": round(r["stats"]["rttMaxMs"], 1),
            }
        )
    frames = sum(r["frames_analysed"] or 0 for r in rows)
    report = {
        "machine": machine_line(),
        "serve_args": args.serve_args,
        "respondents": args.respondents,
        "wall_s": round(wall, 1),
        "server_cpu_s": round(server_cpu, 1),
        "server_cpu_ms_per_frame": round(1000 * server_cpu / max(1, frames), 1),
        "server_capacity_frames_per_s_on_2_cores": round(2 * frames / max(server_cpu, 1e-9), 1),
        "rows": rows,
    }
    print(json.dumps(report, indent=2))
    ok = all(r["state"] == "done" and (r["frames_per_stimulus_s"] or 0) >= 5 for r in rows)
    print(
        f"{'PASS' if ok else 'FAIL'}: {args.respondents} respondents at once, "
        f"min {min(r['frames_per_stimulus_s'] or 0 for r in rows):.2f} frames/s of stimulus time (goal 5)"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
