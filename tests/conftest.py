"""Shared fixtures: the real data staged in ../shared/data (or $AFFECTLENS_DATA)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("AFFECTLENS_DATA", ROOT.parent / "shared" / "data")).resolve()


# A suite started in the background of a non-interactive shell (`pytest &`) inherits Ctrl-C ignored, and so do
# the commands it runs: the stop tests need SIGINT to mean what it means in a terminal.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"staged data missing: {path} (set AFFECTLENS_DATA)")
    return path


@pytest.fixture(scope="session")
def data() -> Path:
    return need(DATA)


@pytest.fixture(scope="session")
def ferplus(data) -> Path:
    return need(data / "ferplus")


@pytest.fixture(scope="session")
def rafdb(data) -> Path:
    return need(data / "rafdb-basic")


@pytest.fixture(scope="session")
def media(data) -> Path:
    return need(data / "media")


@pytest.fixture(autouse=True, scope="session")
def _cache(tmp_path_factory):
    # keep dataset caches of the test run apart from the user's
    os.environ.setdefault("AFFECTLENS_CACHE", str(tmp_path_factory.mktemp("cache")))


def cli(*args: str, check: bool = False, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run the real ``affectlens`` command line in a subprocess."""
    proc = subprocess.run(
        [sys.executable, "-m", "affectlens", *map(str, args)], capture_output=True, text=True, timeout=timeout
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"affectlens {' '.join(map(str, args))} failed:\n{proc.stderr[-2000:]}")
    return proc
