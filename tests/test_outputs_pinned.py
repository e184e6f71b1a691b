"""The analysis outputs pinned on staged media, so refactors cannot change them unnoticed.

``affectlens analyze`` on the hamilton clip and a two-face photo must write the same faces, tracks and
seconds tables as the golden copies in ``tests/golden/`` (text columns equal, numbers within 2e-3:
ONNX Runtime picks different kernels on different CPUs). A deliberate change of behaviour (a new model,
new engagement rules) regenerates them: ``AFFECTLENS_REGEN_GOLDEN=1 python -m pytest tests/test_outputs_pinned.py``.
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
            bad = ~np.isclose(g.to_numpy(float), w.to_numpy(float), atol=2e-3, equal_nan=True)
            assert not bad.any(), f"{table}.{col}: {bad.sum()} rows differ, first at row {int(np.argmax(bad))}"
        else:
            assert g.fillna("").astype(str).tolist() == w.fillna("").astype(str).tolist(), f"{table}.{col} differs"
