"""The process-wide ONNX Runtime and allocator settings (:mod:`affectlens.runtime`)."""

import os
import subprocess
import sys

import onnxruntime as ort
import pytest

from affectlens.classify import get_model
from affectlens.errors import AffectlensError
from affectlens.runtime import SPIN_WINDOW_US, bounded_spin_available, machine, release_free_memory, session

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
    assert set(m["isa"]) <= {"AVX2", "AVX-512", "AVX512-BF16", "AVX512-VNNI", "AVX-VNNI", "AMX"}


def _spin(sess: ort.InferenceSession) -> tuple[str, str]:
    opts = sess.get_session_options()
    try:
        window = opts.get_session_config_entry("session.intra_op.spin_duration_us")
    except RuntimeError:  # not set
        window = ""
    return opts.get_session_config_entry("session.intra_op.allow_spinning"), window


@pytest.mark.skipif(not bounded_spin_available(), reason="bounded spinning: ONNX Runtime 1.26+")
def test_sessions_spin_briefly_between_kernels_and_the_environment_can_change_it(monkeypatch):
    path = get_model().path
    monkeypatch.delenv("AFFECTLENS_ORT_SPIN_US", raising=False)
    assert _spin(session(path, threads=2)) == ("1", str(SPIN_WINDOW_US))
    monkeypatch.setenv("AFFECTLENS_ORT_SPIN_US", "0")
    assert _spin(session(path, threads=2)) == ("0", "")
    monkeypatch.setenv("AFFECTLENS_ORT_SPIN_US", "-1")
    assert _spin(session(path, threads=2)) == ("1", "")
    monkeypatch.setenv("AFFECTLENS_ORT_SPIN_US", "fast")
    with pytest.raises(AffectlensError, match="AFFECTLENS_ORT_SPIN_US"):
        session(path, threads=2)


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no CPU affinity on this platform")
def test_sessions_use_the_cores_the_process_may_run_on():
    """Under taskset or a container's cpuset, not every core of the host."""
    from affectlens.runtime import usable_cores

    before = os.sched_getaffinity(0)
    try:
        os.sched_setaffinity(0, {min(before)})
        assert usable_cores() == 1
    finally:
        os.sched_setaffinity(0, before)
    assert usable_cores() == len(before)
