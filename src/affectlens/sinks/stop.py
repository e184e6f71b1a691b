"""Stopping cleanly: Ctrl-C, SIGTERM and SIGHUP (``timeout``, ``kill``, ``docker stop``) all end a run
the same way, as a :class:`StopRequested` raised between frames, so sinks close and write everything
analysed so far. The exit status is the shell's convention, 128 + the signal number.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

STOP_SIGNALS = tuple(s for s in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None)) if s is not None)


class StopRequested(KeyboardInterrupt):
    """A stop signal arrived; ``exit_code`` is 128 + its number (130 for Ctrl-C, 143 for SIGTERM)."""

    def __init__(self, signum: int = signal.SIGINT):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + int(self.signum)


def _raise(signum, _frame) -> None:
    raise StopRequested(signum)


@contextmanager
def stop_signals() -> Iterator[None]:
    """Turn SIGINT, SIGTERM and SIGHUP into :class:`StopRequested` inside the block (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {s: signal.signal(s, _raise) for s in STOP_SIGNALS}
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)


@contextmanager
def deferred_stop() -> Iterator[None]:
    """Hold stop signals back until the block is done, then stop (main thread only; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    # a signal the process ignores (a worker whose parent decides what Ctrl-C means) stays ignored
    held = [s for s in STOP_SIGNALS if signal.getsignal(s) is not signal.SIG_IGN]
    old = {s: signal.signal(s, lambda signum, _frame: pending.append(signum)) for s in held}
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
        if pending:
            raise StopRequested(pending[0])
