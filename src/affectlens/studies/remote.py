"""A remote respondent's live session: analysed frames, each stamped with the stimulus's playback time,
become the same Parquet rows as an uploaded recording's.

The browser stamps every frame it sends with the stimulus's ``currentTime`` at capture, so
buffering, pauses and a hidden tab leave gaps on the stimulus timeline, never shifted data. The
rows are written (atomically) every ``flush_every_s`` seconds of stimulus time and at the end,
so a dropped connection or a server stop loses at most those few seconds. The end decides the
state: ``done`` when the stimulus played to its end, else ``partial`` with the seconds watched.
No image is kept: frames are analysed in memory and dropped.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from affectlens.studies.models import DONE, PARTIAL, Recording, Study
from affectlens.studies.respondent import respondent_rows
from affectlens.studies.store import Finished
from affectlens.studies.worker import write_parquet_atomic
from affectlens.types import FrameResult

#: the stimulus counts as watched to its end when playback reached this close to its duration
END_TOLERANCE_S = 0.5


class RemoteRecording:
    def __init__(self, store, study: Study, recording: Recording, claimer: str, flush_every_s: float = 5.0):
        self.store, self.study, self.rec, self.claimer = store, study, recording, claimer
        self.flush_every_s = flush_every_s
        self.rows: list[dict] = []
        self.frames = 0
        self.watched_s = 0.0  # furthest stimulus time reached
        self._flushed_at = 0.0
        self.result_path = f"results/{recording.id}.parquet"

    def add(self, result: FrameResult, camera_time_s: float) -> None:
        """One analysed frame (its ``time_s`` is the stimulus time)."""
        self.frames += 1
        t = float(result.time_s or 0.0)
        self.progress(t)
        for r in result.rows():
            self.rows.append(
                {k: v for k, v in r.items() if k != "source" and not k.startswith("raw_p_")}
                | {"camera_time_s": round(camera_time_s, 4)}
            )
        if t - self._flushed_at >= self.flush_every_s:
            self.flush()

    def progress(self, stimulus_time_s: float) -> None:
        t = min(max(0.0, float(stimulus_time_s)), self.study.stimulus_duration_s)
        self.watched_s = max(self.watched_s, t)

    def table(self) -> pd.DataFrame:
        return respondent_rows(pd.DataFrame(self.rows), 0.0) if self.rows else respondent_rows(pd.DataFrame(), 0.0)

    def _write(self) -> Finished:
        df = self.table()
        write_parquet_atomic(df, Path(self.study.data_dir) / self.result_path)
        return Finished(self.result_path, self.frames, len(df), round(self.watched_s, 3))

    def flush(self) -> None:
        """Write the rows so far (the recording stays ``running``) and beat the claim's heart."""
        self._flushed_at = self.watched_s
        self.store.remote_progress(self.rec.id, self.claimer, self._write())

    def finish(self) -> str:
        """Write the rows and settle the state: ``done`` if playback reached the stimulus's end, else ``partial``."""
        done = self.watched_s >= self.study.stimulus_duration_s - END_TOLERANCE_S
        status = DONE if done else PARTIAL
        self.store.remote_finish(self.rec.id, self.claimer, self._write(), status)
        return status
