"""The analysis outputs pinned on staged media, so refactors cannot change them unnoticed.

``affectlens analyze`` on the hamilton clip and a two-face photo must write the same faces, tracks and
seconds tables as the golden copies in ``tests/golden/``: where a face is, when and which track exactly
(within 2e-3); what is read of it within the noise of ONNX Runtime's kernels, which differ by CPU. Run on AVX2
kernels (``benchmarks/avx2only/run.sh``) against golden copies written with AMX, the hamilton run differs by up
to 0.011 in a probability, 0.021 in eye openness, 0.2 engagement points and 0.1 degree, and one borderline face
of 383 takes its runner-up label: probabilities and other fractions may move by 0.03, angles and 0-100
scores by 0.5, the times of peaks, dips and look-aways by 0.1 s, counts of frames by one, and at most 1 % of
labels may differ.
A deliberate change of behaviour (a new model, new engagement rules) regenerates them:
``AFFECTLENS_REGEN_GOLDEN=1 python -m pytest tests/test_outputs_pinned.py``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import cli

GOLDEN = Path(__file__).parent / "golden"
TABLES = ("faces", "tracks", "seconds")
# where and when: exact (within 2e-3) on every CPU
PLACE = {"frame", "time_s", "track_id", "x1", "y1", "x2", "y2", "first_frame", "last_frame", "first_time_s",
         "last_time_s", "duration_s", "n_frames", "second"}  # fmt: skip
COUNTS = ("frames_", "smiles", "blinks", "yawns")
READINGS = {"label", "valence", "dominant_label", "dominant_valence", "state", "state_reason"}


def _tolerance(col: str, golden: pd.Series) -> float:
    """The absolute tolerance of a numeric column: see the module's notes."""
    if col in PLACE:
        return 2e-3
    if col.startswith(COUNTS):
        return 1.0
    if col.endswith("_s"):  # when a peak, a dip or a look away was: a frame or two
        return 0.1
    if golden.abs().max() > 1.0:  # degrees, 0-100 scores, rates
        return 0.5
    return 0.03


@pytest.fixture(scope="module")
def outputs(media, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("pinned")
    cli(
        "analyze",
        media / "videos" / "short_hamilton_clip.mp4",
        media / "photos" / "obama_and_biden.jpg",
        "--out",
        out,
        "--no-progress",
        check=True,
    )
    return out


def _read(path: Path) -> pd.DataFrame:
    df = pd.read_csv(path)
    if "source" in df:
        df["source"] = df["source"].map(lambda s: Path(str(s)).name)
    return df


@pytest.mark.parametrize("table", TABLES)
def test_outputs_match_the_golden_copies(outputs, table):
    got = _read(outputs / f"{table}.csv")
    golden = GOLDEN / f"{table}.csv.gz"
    if os.environ.get("AFFECTLENS_REGEN_GOLDEN"):
        got.to_csv(golden, index=False)
    want = pd.read_csv(golden)
    assert list(got.columns) == list(want.columns)
    assert len(got) == len(want) > 0
    for col in want.columns:
        g, w = got[col], want[col]
        if pd.api.types.is_numeric_dtype(w) and pd.api.types.is_numeric_dtype(g):
            bad = ~np.isclose(g.to_numpy(float), w.to_numpy(float), atol=_tolerance(col, w), rtol=0.0, equal_nan=True)
            assert not bad.any(), f"{table}.{col}: {bad.sum()} rows differ, first at row {int(np.argmax(bad))}"
        else:
            differ = np.array(g.fillna("").astype(str).tolist()) != np.array(w.fillna("").astype(str).tolist())
            allowed = len(w) // 100 if col in READINGS else 0  # a borderline face's runner-up label
            first = int(np.argmax(differ))
            assert differ.sum() <= allowed, f"{table}.{col}: {differ.sum()} rows differ, first at row {first}"
