"""Where every result goes: the :class:`ResultSink` protocol and :func:`consume`, the one loop that
feeds results to sinks (the CLI, the webcam, Ray tasks, service jobs and studies all use it).

A sink takes each :class:`~affectlens.types.FrameResult` with ``add`` and finishes its output with
``close``; every sink is a context manager, so what was added is written whatever ends the run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from affectlens.sinks.stop import deferred_stop
from affectlens.types import FrameResult


@runtime_checkable
class ResultSink(Protocol):
    def add(self, result: FrameResult) -> None: ...

    def close(self) -> None: ...


class Sink:
    """Base of the sinks: ``with`` closes them."""

    def add(self, result: FrameResult) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@dataclass
class Tally:
    """What went through :func:`consume`: frames, face rows and the seconds the sinks took."""

    frames: int = 0
    faces: int = 0
    sink_s: float = 0.0


def consume(
    results: Iterable[FrameResult],
    sinks: Sequence[ResultSink],
    tally: Tally | None = None,
    on_result: Callable[[FrameResult], None] | None = None,
) -> Tally:
    """Give every result to every sink, in order; a stop signal waits until all sinks have the frame.

    ``on_result`` runs after the sinks (progress bars, cancellation checks: it may raise to stop).
    The caller owns the sinks' lifetime (``with``), so one run can span many sources.
    """
    tally = tally if tally is not None else Tally()
    try:
        for result in results:
            t = time.perf_counter()
            with deferred_stop():  # every sink gets the frame, or none does; and it is counted
                for sink in sinks:
                    sink.add(result)
                tally.sink_s += time.perf_counter() - t
                tally.frames += 1
                tally.faces += len(result.faces)
            if on_result is not None:
                on_result(result)
    finally:  # a stop or an error ends the results too: the pipeline's worker and the source stop now
        close = getattr(results, "close", None)
        if close is not None:
            close()
    return tally
