"""Per-track and per-second summaries, accumulated as results stream by.

Memory grows with tracks and seconds of video, never with frames. Engagement figures appear when
the results carry the engagement columns (the default).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from affectlens.labels import valence
from affectlens.signals.engagement import UNKNOWN, EngagementConfig
from affectlens.sinks.base import Sink
from affectlens.sinks.tables import write_table
from affectlens.types import FrameResult

_MEANS = ("engagement", "attention", "expression_engagement", "eye_openness", "mouth_open", "yaw", "pitch")
_SHARES = ("eyes_closed", "yawning", "looking_away")


def _mean(sums: dict, counts: dict, key: str) -> float | None:
    return round(sums[key] / counts[key], 4) if counts.get(key) else None


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
    # engagement
    n_signals: int = 0
    known: int = 0  # frames whose engagement was read (not face_lost): the denominator of its mean and shares
    engaged: int = 0
    engagement_sum: float = 0.0
    smiles: int = 0
    yawns: int = 0
    blinks: int = 0
    smiling: bool = False
    yawning: bool = False
    smile_last_t: float | None = None  # the last frame time each was seen (events closer than this merge)
    yawn_last_t: float | None = None
    away_since: float | None = None
    longest_away: float = 0.0
    per_second: dict[int, list[float]] = field(default_factory=dict)  # second → [sum engagement, n]


BLINK_RATE_MIN_S = 10.0  # a track shorter than this has no blink rate (None)
MERGE_GAP_S = 0.5  # a smile or yawn broken for less than this (a label flicker, a hand over the mouth) is one


def _new_event(active: bool, was_active: bool, last_active_t: float | None, t: float | None) -> bool:
    """Whether an event (a smile, a yawn) starts on this frame: active now, and not within MERGE_GAP_S
    before (frame to frame where there are no times)."""
    if not active or was_active:
        return False
    return t is None or last_active_t is None or t - last_active_t > MERGE_GAP_S


class _Summary(Sink):
    """A summary sink: rows in memory (:meth:`rows`), written to ``paths`` (one per format) on close."""

    def __init__(self, paths: Sequence[str | Path] = (), labels: tuple[str, ...] = (), signals: bool = True):
        self.paths = [Path(p) for p in paths]
        self.labels = labels
        self.signals = signals
        self._extra: list[dict] = []

    def update(self, result: FrameResult) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def add(self, result: FrameResult) -> None:
        self.update(result)

    def rows(self) -> list[dict]:  # pragma: no cover - interface
        raise NotImplementedError

    def columns(self) -> list[str]:  # pragma: no cover - interface
        raise NotImplementedError

    def extend(self, rows: list[dict]) -> None:
        """Rows summarised elsewhere (a Ray worker), written with this summary's own."""
        self._extra += rows

    def all_rows(self) -> list[dict]:
        return self.rows() + self._extra

    def close(self) -> None:
        rows = self.all_rows()
        for path in self.paths:
            write_table(path, rows, self.columns())


class TrackSummary(_Summary):
    """Feed it every :class:`FrameResult`; :meth:`rows` gives one summary row per (source, track).

    Counts: ``smiles`` and ``yawns`` are onsets (a face turning happy; ``yawning`` turning true; one
    broken for under ``MERGE_GAP_S`` is one event), ``blinks`` the ``blink`` events;
    ``blink_rate_per_min`` is blinks over the track's duration; ``longest_look_away_s`` the longest time
    turned away (a run of ``looking_away`` and the ``look_away_hold_s`` before it counted); peaks and dips
    are the seconds with the highest and lowest mean engagement.
    """

    def __init__(
        self,
        paths: Sequence[str | Path] = (),
        labels: tuple[str, ...] = (),
        signals: bool = True,
        look_away_hold_s: float = EngagementConfig.look_away_min_s,
    ):
        super().__init__(paths, labels, signals)
        self._acc: dict[tuple[str, int], _Acc] = {}
        self.look_away_hold_s = look_away_hold_s

    def update(self, result: FrameResult) -> None:
        f = result.faces
        if not len(f):
            return
        self.labels = result.labels
        p = result.faces.best_probs
        top = result.top_labels()
        s = f.signals
        has_eng = "engagement" in s
        t = result.time_s
        for i, tid in enumerate(f.track_ids):
            key = (result.source, int(tid))
            a = self._acc.get(key)
            if a is None:
                a = self._acc[key] = _Acc(result.source, int(tid), result.frame, t)
            a.last_frame, a.last_time = result.frame, t
            a.n += 1
            a.score_sum += float(f.scores[i])
            if p is not None:
                a.prob_sum = p[i].astype(np.float64) if a.prob_sum is None else a.prob_sum + p[i]
                a.label_counts[top[i]] = a.label_counts.get(top[i], 0) + 1
                smiling = top[i] == "happiness"
                a.smiles += _new_event(smiling, a.smiling, a.smile_last_t, t)
                a.smiling = smiling
                a.smile_last_t = t if smiling else a.smile_last_t
            if not has_eng:
                continue
            a.n_signals += 1
            e = float(s["engagement"][i])
            if not math.isnan(e):  # face_lost: unknown, left out (not a 0)
                a.known += 1
                a.engagement_sum += e
                a.engaged += s["state"][i] == "engaged"
            yawning = bool(s["yawning"][i])
            a.yawns += _new_event(yawning, a.yawning, a.yawn_last_t, t)
            a.yawning = yawning
            a.yawn_last_t = t if yawning else a.yawn_last_t
            a.blinks += bool(s["blink"][i])
            if t is not None:
                if bool(s["looking_away"][i]):
                    a.away_since = t if a.away_since is None else a.away_since
                    a.longest_away = max(a.longest_away, t - a.away_since + self.look_away_hold_s)
                else:
                    a.away_since = None
                if not math.isnan(e):
                    acc = a.per_second.setdefault(int(math.floor(t)), [0.0, 0])
                    acc[0] += e
                    acc[1] += 1

    def rows(self) -> list[dict]:
        return [self._row(a) for a in self._acc.values()]

    def columns(self) -> list[str]:
        """The columns of a row (with the labels and signals given): the header of an empty table."""
        probe = _Acc("", 0, 0, 0.0, n=1, prob_sum=np.zeros(len(self.labels)), n_signals=int(self.signals), known=1)
        return list(self._row(probe)) if self.labels else list(self._row(replace(probe, prob_sum=None)))

    def _row(self, a: _Acc) -> dict:
        duration = None if a.first_time is None else round((a.last_time or 0) - a.first_time, 4)
        row = {
            "source": a.source,
            "track_id": a.track_id,
            "first_frame": a.first_frame,
            "last_frame": a.last_frame,
            "first_time_s": None if a.first_time is None else round(a.first_time, 4),
            "last_time_s": None if a.last_time is None else round(a.last_time, 4),
            "duration_s": duration,
            "n_frames": a.n,
            "mean_score": round(a.score_sum / a.n, 4),
        }
        if a.prob_sum is not None:
            mean = a.prob_sum / max(a.n, 1)
            dominant = self.labels[int(mean.argmax())]
            row |= {"dominant_label": dominant, "dominant_valence": valence(dominant)}
            row |= {f"mean_p_{c}": round(float(v), 5) for c, v in zip(self.labels, mean, strict=True)}
            row |= {f"frames_{c}": a.label_counts.get(c, 0) for c in self.labels}
            row["smiles"] = a.smiles
        if a.n_signals:
            minutes = (duration or 0) / 60
            row |= {
                "attentive_share": round(a.engaged / a.known, 4) if a.known else None,
                "mean_engagement": round(a.engagement_sum / a.known, 2) if a.known else None,
                "share_face_lost": round(1 - a.known / a.n_signals, 4),
                "yawns": a.yawns,
                "blinks": a.blinks,
                # (a rate over a few seconds says nothing: 2 blinks in a second are not 120 a minute)
                "blink_rate_per_min": round(a.blinks / minutes, 2) if minutes >= BLINK_RATE_MIN_S / 60 else None,
                "longest_look_away_s": round(a.longest_away, 3) if a.first_time is not None else None,
            }
            row |= _peaks(a.per_second)
        return row


def _peaks(per_second: dict[int, list[float]]) -> dict:
    if not per_second:
        return {"peak_time_s": None, "peak_engagement": None, "dip_time_s": None, "dip_engagement": None}
    means = {sec: v[0] / v[1] for sec, v in per_second.items()}
    hi = max(means, key=means.get)
    lo = min(means, key=means.get)
    return {
        "peak_time_s": hi,
        "peak_engagement": round(means[hi], 2),
        "dip_time_s": lo,
        "dip_engagement": round(means[lo], 2),
    }


class SecondSummary(_Summary):
    """One row per (source, track, whole second of video): means, shares and counts of that second.

    Columns: ``second`` (floor of ``time_s``), ``n_frames``, ``mean_<x>`` for engagement, attention,
    expression_engagement, eye_openness, mouth_open, yaw and pitch, ``share_engaged``,
    ``share_<x>`` for eyes_closed, yawning and looking_away, ``blinks``, ``mean_p_<class>``,
    ``label`` (the class with the highest mean probability) and its ``valence``. Still images
    (no timestamps) contribute nothing.
    """

    def __init__(self, paths: Sequence[str | Path] = (), labels: tuple[str, ...] = (), signals: bool = True):
        super().__init__(paths, labels, signals)
        self._acc: dict[tuple[str, int, int], dict] = {}

    def update(self, result: FrameResult) -> None:
        f = result.faces
        if result.time_s is None or not len(f):
            return
        self.labels = result.labels
        sec = int(math.floor(result.time_s))
        p = result.faces.best_probs
        s = f.signals
        for i, tid in enumerate(f.track_ids):
            a = self._acc.setdefault((result.source, int(tid), sec), {"n": 0, "sums": {}, "counts": {}, "p": None})
            a["n"] += 1
            sums, counts = a["sums"], a["counts"]
            # a face_lost frame's mesh is not on a face: its pose, eyes and mouth are left out with its engagement
            # (not its expression: expression_engagement is read from the probabilities, as mean_p_* are)
            lost = "state" in s and s["state"][i] == UNKNOWN
            for k in _MEANS + _SHARES + ("blink",):
                if k in s:
                    sums.setdefault(k, 0.0)  # (the column is there even in a second with nothing read)
                    if (not lost or k == "expression_engagement") and not math.isnan(v := float(s[k][i])):
                        sums[k] += v
                        counts[k] = counts.get(k, 0) + 1
            if "state" in s:
                state = s["state"][i]
                for k, hit in (("engaged", state == "engaged"), ("face_lost", state == UNKNOWN)):
                    sums[k] = sums.get(k, 0.0) + hit
            if p is not None:
                a["p"] = p[i].astype(np.float64) if a["p"] is None else a["p"] + p[i]

    def rows(self) -> list[dict]:
        return [self._row(key, a) for key, a in sorted(self._acc.items(), key=lambda kv: kv[0])]

    def all_rows(self) -> list[dict]:
        return sorted(super().all_rows(), key=lambda r: (r["source"], r["track_id"], r["second"]))

    def columns(self) -> list[str]:
        """The columns of a row (with the labels and signals given): the header of an empty table."""
        keys = (*_MEANS, *_SHARES, "blink", "engaged", "face_lost") if self.signals else ()
        probe = {"n": 1, "sums": dict.fromkeys(keys, 0.0), "counts": dict.fromkeys(keys, 1)}
        probe["p"] = np.zeros(len(self.labels)) if self.labels else None
        return list(self._row(("", 0, 0), probe))

    def _row(self, key: tuple[str, int, int], a: dict) -> dict:
        source, tid, sec = key
        n, sums, counts = a["n"], a["sums"], a["counts"]
        row = {"source": source, "track_id": tid, "second": sec, "n_frames": n}
        # over the frames that were read: a second all face_lost has no engagement, pose or shares (None), not 0
        row |= {f"mean_{k}": _mean(sums, counts, k) for k in _MEANS if k in sums}
        if "engaged" in sums:
            known = n - sums["face_lost"]
            row["share_engaged"] = round(sums["engaged"] / known, 4) if known else None
            row["share_face_lost"] = round(sums["face_lost"] / n, 4)
        row |= {f"share_{k}": _mean(sums, counts, k) for k in _SHARES if k in sums}
        if "blink" in sums:
            row["blinks"] = int(sums["blink"])
        if a["p"] is not None:
            mean = a["p"] / n
            row |= {f"mean_p_{c}": round(float(v), 5) for c, v in zip(self.labels, mean, strict=True)}
            label = self.labels[int(mean.argmax())]
            row |= {"label": label, "valence": valence(label)}
        return row
