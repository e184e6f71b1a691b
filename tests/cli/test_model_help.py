"""The model verbs' help keeps its bracketed text (Rich reads ``[...]`` as markup unless escaped)."""

import os
import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    ("verb", "wanted"),
    [
        ("export", ["--eval", "--calibrate"]),
        ("compose", ["--eval", "--calibrate"]),
        ("quantize", ["--calibrate-on", "--temperature-on", "--eval"]),
        ("benchmark-models", ["--dataset"]),
    ],
)
def test_split_suffix_is_shown(verb, wanted):
    env = os.environ | {"COLUMNS": "250", "NO_COLOR": "1", "TERM": "dumb"}
    r = subprocess.run(
        [sys.executable, "-m", "affectlens", verb, "--help"], capture_output=True, text=True, env=env, check=True
    )
    for option in wanted:
        rows = [line for line in r.stdout.splitlines() if option in line.split()]
        assert rows and "KIND:PATH[@SPLIT]" in rows[0], (option, rows)
