"""The process-wide ONNX Runtime and allocator settings (:mod:`affectlens.runtime`)."""

import os
import subprocess
import sys

import pytest

from affectlens.runtime import machine, release_free_memory

_ARENA = "from affectlens.runtime import one_malloc_arena; print(one_malloc_arena())"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_one_malloc_arena_is_set_unless_the_environment_says_otherwise():
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    ours = subprocess.run([sys.executable, "-c", _ARENA], env=env, capture_output=True, text=True, check=True)
    theirs = subprocess.run(
        [sys.executable, "-c", _ARENA], env=env | {"MALLOC_ARENA_MAX": "4"}, capture_output=True, text=True, check=True
    )
    assert ours.stdout.strip() == "True" and theirs.stdout.strip() == "False"


def test_release_free_memory_runs_anywhere():
    release_free_memory()  # glibc: malloc_trim; elsewhere nothing, never an error


def test_machine_names_the_cpu_and_instruction_sets():
    m = machine()
    assert m["cpu"] and m["cores"] >= 1 and m["onnxruntime"]
    assert set(m["isa"]) <= {"AVX2", "AVX-512", "AVX512-BF16", "AVX512-VNNI", "AMX"}
