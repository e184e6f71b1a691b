"""Shared fixtures: the real data staged in ../shared/data (or $AFFECTLENS_DATA)."""

from __future__ import annotations

import functools
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from affectlens.runtime import cpu_flags

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("AFFECTLENS_DATA", ROOT.parent / "shared" / "data")).resolve()


# A suite started in the background of a non-interactive shell (`pytest &`) inherits Ctrl-C ignored, and so do
# the commands it runs: the stop tests need SIGINT to mean what it means in a terminal.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


AVX2ONLY = ROOT / "benchmarks" / "avx2only" / "run.sh"  # runs a command on the kernels of an AVX2-only CPU


@functools.cache
def can_hide_avx512() -> bool:
    """Whether AVX2ONLY works here: a CPU with AVX-512 and CPUID faulting, gcc to build its library, and a
    kernel that lets the process turn the trap on (its library then says so in the environment)."""
    if not ({"cpuid_fault", "avx512f"} <= cpu_flags() and shutil.which("gcc")):
        return False
    run = python_on_avx2("import os; print(os.environ.get('AFFECTLENS_CPUID_MASK'))")
    return run.returncode == 0 and run.stdout.strip() == "avx2"


def python_on_avx2(code: str, *args: object, check: bool = False) -> subprocess.CompletedProcess:
    """``python -c code args…`` (this interpreter) run through AVX2ONLY, output captured as text."""
    cmd = ["bash", str(AVX2ONLY), sys.executable, "-c", code, *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=check)


def needs_avx2only(test):
    """Skip ``test`` where AVX2ONLY cannot run (decided when its module is collected)."""
    why = "needs a CPU with AVX-512 and CPUID faulting, and gcc"
    return pytest.mark.skipif(not can_hide_avx512(), reason=why)(test)


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
