"""A fixed pool of loaded analyzers shared by the image endpoint and the live sessions.

Loading the models takes about a second, so analyzers are made once at start-up; a request borrows
one for the few tens of milliseconds of its inference and gives it back (requests beyond the pool
size wait their turn in the server's thread pool).
"""

from __future__ import annotations

import queue
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from affectlens.pipeline import Analyzer


class AnalyzerPool:
    def __init__(self, size: int, factory: Callable[[], Analyzer]):
        self._free: queue.Queue[Analyzer] = queue.Queue()
        for _ in range(size):
            self._free.put(factory().load_detectors())
        self.size = size
        first = self._free.queue[0]
        self.labels: tuple[str, ...] = tuple(first.labels)
        self.config = first.config

    @contextmanager
    def borrow(self) -> Iterator[Analyzer]:
        analyzer = self._free.get()
        try:
            yield analyzer
        finally:
            self._free.put(analyzer)
