"""A remote respondent's live session: analysed frames, each stamped with the stimulus's playback time,
become the same Parquet rows as an uploaded recording's.

The browser stamps every frame it sends with the stimulus's ``currentTime`` at capture, so
buffering, pauses and a hidden tab leave gaps on the stimulus timeline, never shifted data. The
rows are written (atomically) every ``flush_every_s`` seconds of stimulus time (of clock time
during a pause) and at the end, so a dropped connection or a server stop loses at most those few
seconds. The end decides the
state: ``done`` when the stimulus played to its end, else ``partial`` with the seconds watched.
No image is kept: frames are analysed in memory and dropped.
"""

from __future__ import annotations

import time

import pandas as pd

from affectlens.errors import Gone
from affectlens.studies.models import DONE, PARTIAL, Recording, Study
from affectlens.studies.respondent import respondent_rows, stored_row
from affectlens.studies.runner import result_file
from affectlens.studies.store import Finished
from affectlens.studies.worker import write_parquet_atomic
from affectlens.types import FrameResult

#: the stimulus counts as watched to its end when playback reached this close to its duration
END_TOLERANCE_S = 0.5
#: what the respondent reads when their session can no longer be recorded
ERASED = "This session has ended: your data was erased at your request. Thank you."
SETTLED = "This session has ended (it was silent too long). Thank you for taking part."


class RemoteRecording:
    def __init__(self, store, study: Study, recording: Recording, claimer: str, flush_every_s: float = 5.0):
        self.store, self.study, self.rec, self.claimer = store, study, recording, claimer
        self.flush_every_s = flush_every_s
        self.rows: list[dict] = []
        self.frames = 0
        self.watched_s = 0.0  # furthest stimulus time reached
        self.path = result_file(study, recording.id)
        self._flushed = (0.0, time.monotonic())  # stimulus time and clock of the last write
        self.ended: str | None = None  # why the session can no longer be recorded (the claim was lost)

    def add(self, result: FrameResult, camera_time_s: float) -> None:
        """One analysed frame (its ``time_s`` is the stimulus time)."""
        self._check()
        self.frames += 1
        self.rows += [stored_row(r) | {"camera_time_s": round(camera_time_s, 4)} for r in result.rows()]
        self.progress(float(result.time_s or 0.0))

    def _reached(self, stimulus_time_s: float) -> None:
        t = min(max(0.0, float(stimulus_time_s)), self.study.stimulus_duration_s)
        self.watched_s = max(self.watched_s, t)

    def progress(self, stimulus_time_s: float) -> None:
        """Playback reached ``stimulus_time_s``; the rows are written when a write is due: every
        ``flush_every_s`` of stimulus time, or of clock time while playback stands still (a pause), so
        the claim's heartbeat never goes silent while the respondent is connected."""
        self._reached(stimulus_time_s)
        at, clock = self._flushed
        if self.watched_s - at >= self.flush_every_s or time.monotonic() - clock >= self.flush_every_s:
            self.flush()

    def _write(self) -> Finished:
        df = respondent_rows(pd.DataFrame(self.rows), 0.0)
        write_parquet_atomic(df, self.path)
        return Finished(str(self.path.relative_to(self.study.data_dir)), self.frames, len(df), round(self.watched_s, 3))

    def flush(self) -> None:
        """Write the rows so far (the recording stays ``running``) and beat the claim's heart."""
        self._check()
        self._flushed = (self.watched_s, time.monotonic())
        if not self.store.remote_progress(self.rec.id, self.claimer, self._write()):
            self._lost()

    def finish(self, stimulus_time_s: float | None = None) -> str:
        """Write the rows and settle the state: ``done`` if playback reached the stimulus's end (at
        ``stimulus_time_s`` when the page says where it ended), else ``partial``."""
        self._check()
        if stimulus_time_s is not None:
            self._reached(stimulus_time_s)
        done = self.watched_s >= self.study.stimulus_duration_s - END_TOLERANCE_S
        status = DONE if done else PARTIAL
        if not self.store.remote_finish(self.rec.id, self.claimer, self._write(), status):
            self._lost()
        return status

    def _lost(self) -> None:
        """The claim is gone: the session was settled (silent too long) and maybe erased since. An erased
        respondent's rows must not come back with this write: the file goes and the session ends."""
        erased = not self.store.exists(self.rec.id)
        if erased:
            self.path.unlink(missing_ok=True)
        self.ended = ERASED if erased else SETTLED
        raise Gone(self.ended)

    def _check(self) -> None:
        if self.ended:
            raise Gone(self.ended)
