"""`affectlens demo`: the sample that ships in the package, analysed from any folder."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import ROOT, cli


def test_demo_writes_readable_results(tmp_path):
    proc = cli("demo", "--out", tmp_path / "out", "--annotate", "--no-progress", check=True)
    faces = pd.read_csv(tmp_path / "out" / "faces.csv")
    assert faces["source"].map(lambda s: Path(s).name).nunique() == 2  # the clip and the photo
    assert len(faces) > 200 and {"track_id", "p_happiness", "engagement"} <= set(faces.columns)
    assert (tmp_path / "out" / "annotated" / "short_hamilton_clip.mp4").stat().st_size > 10_000
    assert "demo results in" in proc.stderr


@pytest.mark.slow
def test_fresh_install_then_demo_from_an_empty_folder(tmp_path):
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    py = env_dir / "bin" / "python"
    # this interpreter's pip installs into the new environment (no ensurepip), without byte-compiling the ~1 GB
    # of dependencies (10 s of CPU; Python compiles what the demo imports on first use)
    install = [sys.executable, "-m", "pip", "--python", py, "install", "-q", "--no-compile", str(ROOT)]
    subprocess.run(install, check=True, timeout=1200)
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")} | {"HOME": str(tmp_path)}
    proc = subprocess.run(
        [env_dir / "bin" / "affectlens", "demo", "--no-progress"],
        cwd=empty,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert len(pd.read_csv(empty / "affectlens-demo" / "faces.csv")) > 200
    assert sys.prefix != str(env_dir)
