"""A real ``affectlens serve`` on a free loopback port (subprocess), its data in a temporary folder."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT

try:
    import fastapi  # noqa: F401
    import python_multipart  # noqa: F401
    import uvicorn  # noqa: F401

    MISSING = ""
except ImportError as exc:
    MISSING = f"the [serve] extra is not installed ({exc}): pip install -e '.[serve]'"


def pytest_collection_modifyitems(config, items):
    if MISSING:
        here = Path(__file__).parent
        for item in items:
            if here in Path(item.path).parents:
                item.add_marker(pytest.mark.skip(reason=MISSING))


GRACE_S = 2.0  # the shared server's reconnect grace


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    url: str
    port: int
    data_dir: Path
    proc: subprocess.Popen
    log: Path
    key: str | None = None

    def client(self, **kw) -> httpx.Client:
        headers = {"X-API-Key": self.key} if self.key else {}
        return httpx.Client(base_url=self.url, timeout=60, headers=headers, **kw)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""


def start_server(data_dir: Path, *args: str, key: str | None = None, cwd: Path | None = None) -> Server:
    port = free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    log = data_dir / f"server-{port}.log"
    env = os.environ | {"PYTHONUNBUFFERED": "1", "AFFECTLENS_HOME": str(data_dir / "home")}
    cmd = [sys.executable, "-m", "affectlens", "serve", "--port", str(port), "--data-dir", str(data_dir), *args]
    proc = subprocess.Popen(cmd, stdout=log.open("w"), stderr=subprocess.STDOUT, env=env, cwd=cwd or data_dir)
    server = Server(f"http://127.0.0.1:{port}", port, data_dir, proc, log, key)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited with {proc.returncode}:\n{server.log_tail()}")
        try:
            if httpx.get(f"{server.url}/v1/health", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    server.stop(signal.SIGKILL)
    raise AssertionError(f"server did not come up in 90 s:\n{server.log_tail()}")


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "affectlens", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ | (env or {}),
    )


@pytest.fixture(scope="session")
def server(tmp_path_factory) -> Iterator[Server]:
    """No auth (loopback), a 3 MB upload limit so the oversized case is cheap, a 2 s reconnect grace for remote
    respondents so a dropped connection is settled soon."""
    s = start_server(
        tmp_path_factory.mktemp("serve"), "--no-auth", "--max-upload-mb", "3", "--reconnect-grace", str(GRACE_S)
    )
    yield s
    s.stop()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Screenshots and measurements kept after the run: $AFFECTLENS_TEST_ARTIFACTS or runs/test-artifacts/serve."""
    path = Path(os.environ.get("AFFECTLENS_TEST_ARTIFACTS", ROOT / "runs" / "test-artifacts" / "serve"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def wait_job(client: httpx.Client, job_id: str, timeout: float = 120, until=("done", "failed")) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job["state"] in until:
            return job
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} still {job['state']} after {timeout} s")


def copy_clip(media: Path, name: str, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy(media / "videos" / name, dest / name))


def clip_frames(path: Path, n: int, size: tuple[int, int] = (640, 480)):
    """The first ``n`` frames of a clip as RGB arrays of ``size`` (looping when the clip is shorter)."""
    import av
    import cv2

    frames = []
    while len(frames) < n:
        with av.open(str(path)) as c:
            for f in c.decode(video=0):
                frames.append(cv2.resize(f.to_ndarray(format="rgb24"), size, interpolation=cv2.INTER_AREA))
                if len(frames) == n:
                    break
    return frames


def jpeg(rgb, quality: int = 80) -> bytes:
    import cv2

    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return buf.tobytes()


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def write_y4m(path: Path, frames, fps: int = 24) -> Path:
    """RGB frames as a Y4M file: what Chromium's fake camera plays (in a loop)."""
    import cv2

    h, w = frames[0].shape[:2]
    with path.open("wb") as f:
        f.write(f"YUV4MPEG2 W{w} H{h} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for rgb in frames:
            f.write(b"FRAME\n" + cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420).tobytes())
    return path


@contextmanager
def chromium_with_camera(camera: Path, *extra_args: str):
    """Debian's Chromium driven by Playwright, its camera a fake device playing ``camera`` (.y4m)."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)")
    args = [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={camera}",
        *extra_args,
    ]
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
        try:
            yield browser
        finally:
            browser.close()
