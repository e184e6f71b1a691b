"""The Ray task code, run in this process (no Ray runtime): row packing and worker initialisers."""

from __future__ import annotations

from affectlens.scale import tasks

CALLS: list[tuple] = []


def _init(*args) -> None:
    CALLS.append(args)


def test_rows_pack_and_unpack_losslessly():
    rows = [{"a": 1, "b": "x"}, {"a": 2, "b": None}]
    packed = tasks._pack(rows)
    assert packed["columns"] == ["a", "b"] and packed["values"] == [(1, "x"), (2, None)]
    assert tasks._unpack_rows(packed) == rows
    ragged = [{"a": 1}, {"a": 2, "b": 3}]
    assert tasks._unpack_rows(tasks._pack(ragged)) == ragged
    assert tasks._unpack_rows(tasks._pack([])) == []


def test_the_initializer_runs_once_per_worker_process():
    CALLS.clear()
    assert tasks.call((_init, (1,)), lambda x: x * 2, 21) == 42
    assert tasks.call((_init, (1,)), lambda x: x + 1, 1) == 2
    assert CALLS == [(1,)]
    assert tasks.call((None, ()), len, [1, 2]) == 2


def test_analyze_paths_reports_a_bad_file_and_keeps_going(media, tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_text("not an image")
    good = media / "photos" / "two_people.jpg"
    outs = [tasks.unpack(o) for o in tasks.analyze_paths([str(bad), str(good)], {}, None, False)]
    assert outs[0].error and "not an image" in outs[0].error and outs[0].face_rows == []
    assert outs[1].error is None and len(outs[1].face_rows) == 2 and len(outs[1].track_rows) == 2
