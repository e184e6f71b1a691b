"""Per-track summaries, accumulated as results stream by (memory grows with tracks, not frames)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from affectlens.labels import valence
from affectlens.types import FrameResult


@dataclass
class _Acc:
    source: str
    track_id: int
    first_frame: int
    first_time: float | None
    last_frame: int = 0
    last_time: float | None = None
    n: int = 0
    score_sum: float = 0.0
    prob_sum: np.ndarray | None = None
    label_counts: dict[str, int] = field(default_factory=dict)


class TrackSummary:
    """Feed it every :class:`FrameResult`; :meth:`rows` gives one summary row per (source, track)."""

    def __init__(self) -> None:
        self._acc: dict[tuple[str, int], _Acc] = {}
        self.labels: tuple[str, ...] = ()

    def update(self, result: FrameResult) -> None:
        f = result.faces
        if not len(f):
            return
        self.labels = result.labels
        p = f.smoothed if f.smoothed is not None else f.probs
        top = result.top_labels()
        for i, tid in enumerate(f.track_ids):
            key = (result.source, int(tid))
            a = self._acc.get(key)
            if a is None:
                a = self._acc[key] = _Acc(result.source, int(tid), result.frame, result.time_s)
            a.last_frame, a.last_time = result.frame, result.time_s
            a.n += 1
            a.score_sum += float(f.scores[i])
            a.prob_sum = p[i].astype(np.float64) if a.prob_sum is None else a.prob_sum + p[i]
            a.label_counts[top[i]] = a.label_counts.get(top[i], 0) + 1

    def rows(self) -> list[dict]:
        out = []
        for a in self._acc.values():
            mean = a.prob_sum / max(a.n, 1)
            dominant = self.labels[int(mean.argmax())]
            row = {
                "source": a.source,
                "track_id": a.track_id,
                "first_frame": a.first_frame,
                "last_frame": a.last_frame,
                "first_time_s": a.first_time,
                "last_time_s": a.last_time,
                "duration_s": None if a.first_time is None else round((a.last_time or 0) - a.first_time, 4),
                "n_frames": a.n,
                "mean_score": round(a.score_sum / a.n, 4),
                "dominant_label": dominant,
                "dominant_valence": valence(dominant),
            }
            row |= {f"mean_p_{c}": round(float(v), 5) for c, v in zip(self.labels, mean, strict=True)}
            row |= {f"frames_{c}": a.label_counts.get(c, 0) for c in self.labels}
            out.append(row)
        return out
