"""The README's Python example runs as written, on the samples that ship in the package."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_api_block() -> str:
    section = README.read_text().split("## Python API", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_python_api_example_runs_and_prints_faces():
    out = io.StringIO()
    scope: dict = {}
    with contextlib.redirect_stdout(out):
        exec(compile(_python_api_block(), "README.md (Python API)", "exec"), scope)
    df, probs = scope["df"], scope["probs"]
    assert len(df) == 2 and set(df["label"]) <= set(scope["clf"].labels)  # two_people.jpg: two faces
    assert probs.shape == (2, len(scope["clf"].labels)) and abs(float(probs.sum(1).mean()) - 1) < 1e-3
    assert "happiness" in out.getvalue() and "engagement" in out.getvalue()
