"""consume() and stopping: every sink gets every frame; a stop signal waits for the frame in hand."""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest

from affectlens.sinks import Sink, StopRequested, Tally, consume, deferred_stop, stop_signals
from affectlens.types import Faces, FrameResult


class _Recorder(Sink):
    def __init__(self):
        self.frames: list[int] = []
        self.closed = False

    def add(self, result):
        self.frames.append(result.frame)

    def close(self):
        self.closed = True


def _results(n: int):
    for k in range(n):
        yield FrameResult("x", k, k / 10, 10, 10, Faces(np.zeros((k % 2, 4)), np.ones(k % 2)))


def test_consume_feeds_every_sink_in_order_and_counts():
    a, b = _Recorder(), _Recorder()
    tally = consume(_results(5), [a, b])
    assert a.frames == b.frames == [0, 1, 2, 3, 4]
    assert (tally.frames, tally.faces) == (5, 2) and not a.closed  # the caller owns the sinks' lifetime
    more = consume(_results(2), [a], Tally(frames=5))
    assert more.frames == 7


def test_sigterm_mid_frame_stops_after_every_sink_has_it():
    class Killer(_Recorder):
        def add(self, result):
            super().add(result)
            if result.frame == 2:
                os.kill(os.getpid(), signal.SIGTERM)  # arrives between the two sinks

    a, b, tally = Killer(), _Recorder(), Tally()
    with stop_signals(), pytest.raises(StopRequested) as info:
        consume(_results(10), [a, b], tally)
    assert a.frames == b.frames == [0, 1, 2]
    assert info.value.exit_code == 143
    assert tally.frames == 3  # run.json counts the frame the sinks got before the stop


def test_deferred_stop_outside_a_run_is_still_a_keyboard_interrupt():
    with pytest.raises(KeyboardInterrupt), deferred_stop():
        os.kill(os.getpid(), signal.SIGINT)


def test_an_ignored_signal_stays_ignored():
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)  # a pool worker: the parent handles Ctrl-C
    try:
        with deferred_stop():
            os.kill(os.getpid(), signal.SIGINT)
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, old)


def test_a_second_stop_while_the_tables_close_leaves_every_table_complete(tmp_path):
    """Ctrl-C pressed twice: the second press lands while the tables are written out (pyarrow loading)."""
    from affectlens.sinks import AnalysisTables, read_table

    tables = AnalysisTables(tmp_path, ["csv", "parquet"])
    with stop_signals():
        for r in _results(6):
            tables.add(r)
        first = tables.faces[0].close

        def close_and_get_interrupted():
            first()
            os.kill(os.getpid(), signal.SIGINT)  # the handler runs here, between two tables' closes

        tables.faces[0].close = close_and_get_interrupted
        with pytest.raises(StopRequested):
            tables.close()
    assert len(read_table(tmp_path / "faces.csv")) == len(read_table(tmp_path / "faces.parquet")) == 3
    tables.faces[0].close = first
    tables.close()  # closing again (a close() inside a with block) changes nothing
    assert len(read_table(tmp_path / "faces.csv")) == 3
