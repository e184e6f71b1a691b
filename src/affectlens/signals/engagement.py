"""Engagement: from per-face measurements and expression probabilities to states and scores.

Every number is a documented formula of exported columns (README, "Engagement"):

* ``expression_engagement = Σ_c P(c) · W(c)`` over the calibrated, smoothed class probabilities;
* ``attention = 0`` when the face is disengaged, else ``clip(1 - turn², 0, 1)`` with
  ``turn = max((|yaw| - yaw_free) / (yaw_away - yaw_free), (|pitch| - pitch_free) / (pitch_away - pitch_free), 0)``:
  a head within ``yaw_free`` / ``pitch_free`` degrees of the camera's axis is fully attentive (a viewer looks at
  a screen below or beside the camera, not into it);
* ``engagement = 100 · attention · (0.5 + 0.5 · expression_engagement)`` (an attentive neutral face
  scores 75, an attentive smiling face 100, a face with closed eyes 0);
* ``state`` is ``disengaged`` when ``state_reason`` is one of ``eyes_closed``, ``yawning`` or
  ``looking_away`` (first that applies), else ``engaged``;
* a face the landmark model cannot read (``face_presence`` under ``face_presence_below``: dim, blurred,
  half hidden, glasses catching the light) is ``unknown`` with ``state_reason`` ``face_lost``: its
  ``engagement`` and ``attention`` are NaN (empty in tables, null in JSON), left out of every mean and
  share, not counted as 0: a face nobody can read is not a disengaged viewer.

On a still image the booleans come from that image alone. On video the raw measurements are
smoothed per track (EMA), each condition has hysteresis (a lower threshold to leave it than to
enter it), eyes closed for less than ``blink_max_s`` count as a blink instead of closed eyes, a
yawn is a wide mouth held ``yawn_min_s`` (2 s: a yawn is a slow gape of about 6 s, while a laugh,
a shout or an excited word keeps the mouth wide for a second or so), and looking away must last
``look_away_min_s`` (a face first seen turned away has been so for an unknown time: it counts as held).
On video the eyes are not read on a head turned more than ``eyes_yaw_max`` or looking down more than
``eyes_down_max`` degrees: the lids of a face reading notes look closed to the camera; no blink is
counted there, and eyes that stay shut-looking make it ``looking_away`` (at notes, a plate, or dozing
off), not ``eyes_closed``.

The states are decided from everything known about the face, not from one geometric cue; the
expression inputs are exported as columns of their own:

* ``laugh``: ``mouth_width > laugh_width_above`` and ``P(happiness) > laugh_happiness_above``: a
  stretched mouth on a happy face. A laugh is never a yawn, and the eyes it narrows are not closed.
* ``smile``: ``P(happiness) > laugh_happiness_above``, ``mouth_width > smile_width_above`` and
  ``mouth_open < smile_mouth_below``: a smile with parted lips. Never a yawn.
* ``gasp``: ``P(surprise) + P(fear) > gasp_surprise_above``, ``eye_openness > gasp_eyes_above`` and
  ``mouth_open < gasp_mouth_below``: eyes wide open, mouth open but not yawning wide. A gasp is never
  a yawn (a yawn narrows the eyes and opens the mouth wider).
* ``frown``: ``P(anger) + P(disgust) > frown_above``: a scowl or a disgust squint lowers the brows and
  raises the cheeks, narrowing the eyes; they are not closed. (Not sadness: closed eyes at rest often
  read as sad: only a strong reading counts as crying, below.)
* ``cry``: ``P(sadness) > cry_sadness_above``: eyes squeezed in crying are not closed, and a crying
  mouth is not a yawn (a yawn shows no strong expression).
"""

from __future__ import annotations

import json
import math
import tomllib
from collections import deque
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import numpy as np

from affectlens.errors import AffectlensError
from affectlens.smoothing import time_alpha
from affectlens.types import Faces

DEFAULT_WEIGHTS = {
    "happiness": 1.0,
    "surprise": 0.8,
    "neutral": 0.5,
    "anger": 0.3,
    "fear": 0.3,
    "disgust": 0.2,
    "contempt": 0.2,
    "sadness": 0.1,
}

REASONS = ("face_lost", "eyes_closed", "yawning", "looking_away")
UNKNOWN = "unknown"  # the state of a face_lost face: its engagement and attention are NaN


@dataclass
class EngagementConfig:
    """Thresholds and weights (defaults measured on ``../shared/data/engagement``: see the README)."""

    weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    eyes_closed_below: float = 0.5  # eye_openness under this: eyes closed
    eyes_open_above: float = 0.6  # ... and they count as open again above this (hysteresis)
    yawn_mouth_above: float = 0.18  # mouth_open over this: mouth wide (a yawn if held)
    yawn_mouth_release: float = 0.15
    laugh_width_above: float = 0.62  # a mouth this stretched (mouth_width) on a happy face
    laugh_happiness_above: float = 0.7  # (P(happiness) over this) is a laugh: not a yawn, its narrowed eyes not closed
    smile_width_above: float = 0.5  # a happy face's mouth this wide (mouth_width) and open less than
    smile_mouth_below: float = 0.3  # this (mouth_open): a smile showing teeth, not a yawn
    # P(surprise) + P(fear) over this, with wide-open eyes (the staged gasp reads 0.999; wide-eyed yawns of
    # the in-car frames 0.83-0.89: a gasp is read with near certainty)
    gasp_surprise_above: float = 0.9
    gasp_eyes_above: float = 0.9  # (eye_openness over this) and a mouth open less than
    gasp_mouth_below: float = 0.5  # this (mouth_open): a gasp, not a yawn
    frown_above: float = 0.2  # P(anger) + P(disgust) over this: eyes narrowed by a frown, not closed
    cry_sadness_above: float = 0.8  # P(sadness) over this: crying (eyes squeezed, mouth open), not closed or a yawn
    yaw_away: float = 35.0  # |yaw| degrees over this: looking away
    pitch_away: float = 25.0  # |pitch| degrees over this: looking away
    away_release: float = 5.0  # degrees under the thresholds to count as looking back
    # degrees of head turn that cost no attention: a laptop's camera sits above the screen the viewer watches
    # (pitch -10 to -20 at a screen's middle), an external one beside it
    yaw_free: float = 10.0
    pitch_free: float = 15.0
    eyes_yaw_max: float = 25.0  # a head turned more than this: its eyes are not read (no closure, no blink)
    eyes_down_max: float = 20.0  # a head looking down more than this (pitch below minus this): the same
    blink_max_s: float = 0.4  # eyes closed up to this long: a blink, not closed eyes
    yawn_min_s: float = 2.0  # a wide mouth held this long: a yawn (a yawn lasts ~6 s; talk, laughs, shouts are shorter)
    look_away_min_s: float = 1.0  # turned away this long: looking away
    face_presence_below: float = 0.5  # landmark model's face presence under this: face lost
    alpha: float = 0.6  # EMA weight of the newest frame for eye_openness, mouth_open, yaw, pitch
    reset_after_s: float = 2.0  # a track unseen this long starts afresh

    @classmethod
    def load(cls, path: str | Path) -> EngagementConfig:
        """Read overrides from a TOML or JSON file (keys as the field names; ``[weights]`` table)."""
        path = Path(path)
        if not path.is_file():
            raise AffectlensError(f"engagement config {path} not found")
        try:
            data = tomllib.loads(path.read_text()) if path.suffix == ".toml" else json.loads(path.read_text())
        except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
            raise AffectlensError(f"engagement config {path}: {exc}") from None
        return cls().with_overrides(data, str(path))

    def with_overrides(self, data: dict, where: str = "engagement config") -> EngagementConfig:
        """This config with ``data``'s values (a file's keys); unknown keys, expressions and values that
        are not finite numbers are refused, naming them (a typo must not be silently ignored)."""
        known = {f.name for f in fields(self)}
        unknown = set(data) - known
        if unknown:
            raise AffectlensError(f"{where}: unknown keys {sorted(unknown)}; known: {sorted(known)}")
        data = dict(data)
        for key, value in data.items():
            if key != "weights":
                data[key] = _number(value, f"{where}: {key}")
        if "weights" in data:
            weights = data["weights"]
            if not isinstance(weights, dict):
                raise AffectlensError(f"{where}: weights must be a table of expression = weight")
            bad = sorted(set(weights) - set(DEFAULT_WEIGHTS))
            if bad:
                raise AffectlensError(f"{where}: unknown expressions in weights {bad}; known: {list(DEFAULT_WEIGHTS)}")
            data["weights"] = {**self.weights, **{k: _number(v, f"{where}: weights.{k}") for k, v in weights.items()}}
        return replace(self, **data)

    def to_dict(self) -> dict:
        return asdict(self)


def _number(value, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise AffectlensError(f"{what} = {value!r}: must be a finite number")
    return float(value)


def expression_engagement(probs: np.ndarray, labels: tuple[str, ...], weights: dict[str, float]) -> np.ndarray:
    """Σ P(c) · W(c) per face; classes without a weight count 0."""
    w = np.array([weights.get(c, 0.0) for c in labels], np.float32)
    return np.clip(np.asarray(probs, np.float32) @ w, 0.0, 1.0)


def head_attention(yaw: np.ndarray, pitch: np.ndarray, cfg: EngagementConfig) -> np.ndarray:
    def beyond(angle: np.ndarray, free: float, away: float) -> np.ndarray:
        return np.maximum(np.abs(angle) - free, 0.0) / max(away - free, 1e-6)

    turn = np.maximum(beyond(yaw, cfg.yaw_free, cfg.yaw_away), beyond(pitch, cfg.pitch_free, cfg.pitch_away))
    return np.clip(1.0 - turn**2, 0.0, 1.0)


def eyes_unreadable(yaw: np.ndarray, pitch: np.ndarray, cfg: EngagementConfig) -> np.ndarray:
    """A head turned or bowed so far that its eye openness says nothing of the eyes."""
    return (np.abs(yaw) > cfg.eyes_yaw_max) | (pitch < -cfg.eyes_down_max)


_EPS = 1e-6  # durations summed from frame times: 0.4 s must not read as 0.40000000000000036
REFERENCE_FPS = 30.0  # the frame rate the durations' thresholds were measured at (first-to-last frame readings)


@dataclass
class _Track:
    t: float
    eye: float
    mouth: float
    yaw: float
    pitch: float
    closed: bool = False
    closed_for: float = 0.0  # from the first to the last closed frame, vetoed frames left out
    closed_seen: bool = False  # a closed frame of this closure was not vetoed (a laugh's squint is no blink)
    wide: bool = False
    wide_for: float = 0.0  # the same for a wide mouth
    away: bool = False
    away_since: float = 0.0
    yawning: bool = False
    gaps: deque = field(default_factory=lambda: deque(maxlen=9))  # the last times between its analysed frames


class EngagementScorer:
    """Fills the engagement columns of :class:`Faces` frame after frame (one instance per source)."""

    def __init__(
        self,
        config: EngagementConfig | None = None,
        labels: tuple[str, ...] = (),
        frame_rate: float | None = None,
        sampling_s: float = 0.0,
    ):
        self.config = config or EngagementConfig()
        self.labels = labels
        self.frame_rate = frame_rate  # alpha is one frame's weight at this rate (same smoothing in seconds)
        # added to durations read from a state's first to its last analysed frame where those are sparser than
        # the source's (the pipeline's half of the extra spacing: at --fps 5 a 0.6 s closure read as a blink); a
        # source that is itself sparse (a 5 fps webcam or remote respondent) gets the same from each track's
        # measured spacing, whichever is larger
        self.sampling_s = max(float(sampling_s), 0.0)
        self._tracks: dict[int, _Track] = {}

    def update(self, faces: Faces, time_s: float | None) -> Faces:
        """Add the derived columns to ``faces.signals`` (which holds the measured ones already).

        With ``time_s`` None (a still image) every decision is made from this frame alone.
        """
        cfg, s, n = self.config, faces.signals, len(faces)
        if n == 0 or "eye_openness" not in s:
            return faces
        p = faces.best_probs
        ee = expression_engagement(p, self.labels, cfg.weights) if p is not None else np.full(n, 0.5, np.float32)
        lost = s["face_presence"] < cfg.face_presence_below
        closed = np.zeros(n, bool)
        yawning = np.zeros(n, bool)
        away = np.zeros(n, bool)
        blink = np.zeros(n, bool)
        eye, mouth, yaw, pitch = (s[k].astype(np.float32) for k in ("eye_openness", "mouth_open", "yaw", "pitch"))
        laugh, smile, gasp = self._laughing(s, p, n), self._smiling(s, p, n), self._gasping(s, p, n)
        frown, cry = self._frowning(p, n), self._crying(p, n)
        if time_s is None:
            closed = eye < cfg.eyes_closed_below
            yawning = (mouth > cfg.yawn_mouth_above) & ~laugh
            away = (np.abs(yaw) > cfg.yaw_away) | (np.abs(pitch) > cfg.pitch_away)
        else:
            veto_eyes, veto_mouth = laugh | frown | cry, laugh | smile | gasp | cry
            for i, tid in enumerate(faces.track_ids):
                if lost[i]:
                    continue
                closed[i], yawning[i], away[i], blink[i], (eye[i], mouth[i], yaw[i], pitch[i]) = self._step(
                    int(tid), float(time_s), (float(eye[i]), float(mouth[i]), float(yaw[i]), float(pitch[i])),
                    bool(veto_eyes[i]), bool(veto_mouth[i]),
                )  # fmt: skip
            self._prune(float(time_s))
        closed &= ~lost & ~laugh & ~frown & ~cry  # (before the eyes of a bowed head become looking away)
        if time_s is not None:  # (smoothed) on video; a still image is read as it is, there is nothing else to go on
            # eyes shut-looking on a bowed or turned head: looking down or away (at notes, a plate, dozing off), not
            # the lids themselves, and no blink
            unread = eyes_unreadable(yaw, pitch, cfg)
            away |= closed & unread
            closed &= ~unread
            blink &= ~unread
        yawning &= ~lost & ~laugh & ~smile & ~gasp & ~cry
        away &= ~lost
        reason = np.full(n, "", object)
        for name, mask in (("looking_away", away), ("yawning", yawning), ("eyes_closed", closed), ("face_lost", lost)):
            reason[mask] = name  # later entries win: face_lost > eyes_closed > yawning > looking_away
        engaged = reason == ""
        attention = np.where(engaged, head_attention(yaw, pitch, cfg), 0.0).astype(np.float32)
        attention[lost] = np.nan  # unknown, not inattentive
        state = np.where(engaged, "engaged", "disengaged").astype(object)
        state[lost] = UNKNOWN
        s |= {
            "laugh": laugh,
            "smile": smile,
            "gasp": gasp,
            "frown": frown,
            "cry": cry,
            "eyes_closed": closed,
            "yawning": yawning,
            "looking_away": away,
            "blink": blink,
            "expression_engagement": np.round(ee, 4),
            "attention": np.round(attention, 4),
            "engagement": np.round(100.0 * attention * (0.5 + 0.5 * ee), 1).astype(np.float32),
            "state": state,
            "state_reason": reason,
        }
        return faces

    # -- per-track state machine -------------------------------------------------------------
    def _p(self, p: np.ndarray | None, *classes: str) -> np.ndarray | None:
        """Σ P(c) over ``classes`` per face; None without probabilities or when the model lacks a class."""
        if p is None or not set(classes) <= set(self.labels):
            return None
        return sum(p[:, self.labels.index(c)] for c in classes)

    def _laughing(self, s: dict, p: np.ndarray | None, n: int) -> np.ndarray:
        """A broad smile or laugh: a stretched mouth on a face read as happy (never a yawn)."""
        happy = self._p(p, "happiness")
        if happy is None or "mouth_width" not in s:
            return np.zeros(n, bool)
        cfg = self.config
        return (s["mouth_width"] > cfg.laugh_width_above) & (happy > cfg.laugh_happiness_above)

    def _smiling(self, s: dict, p: np.ndarray | None, n: int) -> np.ndarray:
        """A smile with parted lips: a happy face, mouth wide but not gaping (never a yawn)."""
        happy = self._p(p, "happiness")
        if happy is None or "mouth_width" not in s:
            return np.zeros(n, bool)
        cfg = self.config
        mouth = (s["mouth_width"] > cfg.smile_width_above) & (s["mouth_open"] < cfg.smile_mouth_below)
        return (happy > cfg.laugh_happiness_above) & mouth

    def _gasping(self, s: dict, p: np.ndarray | None, n: int) -> np.ndarray:
        """A gasp of surprise or fear: eyes wide open, mouth open but not yawning wide (never a yawn)."""
        shock = self._p(p, "surprise", "fear")
        if shock is None:
            return np.zeros(n, bool)
        cfg = self.config
        eyes_wide = s["eye_openness"] > cfg.gasp_eyes_above
        return (shock > cfg.gasp_surprise_above) & eyes_wide & (s["mouth_open"] < cfg.gasp_mouth_below)

    def _frowning(self, p: np.ndarray | None, n: int) -> np.ndarray:
        """A scowl or a disgust squint: eyes narrowed by the brows and cheeks, not closed."""
        scowl = self._p(p, "anger", "disgust")
        return np.zeros(n, bool) if scowl is None else scowl > self.config.frown_above

    def _crying(self, p: np.ndarray | None, n: int) -> np.ndarray:
        """A face read as strongly sad: squeezed eyes and an open mouth are crying, not sleep or a yawn."""
        sad = self._p(p, "sadness")
        return np.zeros(n, bool) if sad is None else sad > self.config.cry_sadness_above

    def _step(self, tid: int, t: float, measured: tuple, veto_eyes: bool = False, veto_mouth: bool = False):
        """One frame of a track: smoothed eyes, mouth and head, and the held states they give.

        Durations run from the first to the last frame of a closure (or wide mouth), so a blink and
        closed eyes are told apart the same way at any analysis rate; frames whose expression explains
        the eyes or mouth (``veto_*``: a laugh, a scowl, a gasp, crying) do not count toward the hold,
        so a laugh's open mouth or squint is not the start of a yawn or of closed eyes."""
        cfg = self.config
        eye, mouth, yaw, pitch = measured
        st = self._tracks.get(tid)
        dt = 0.0
        new = st is None or t - st.t > cfg.reset_after_s or t < st.t
        if new:
            st = self._tracks[tid] = _Track(t, eye, mouth, yaw, pitch, away_since=t)
        else:
            dt = t - st.t
            if dt > 0:
                st.gaps.append(dt)
            a = time_alpha(cfg.alpha, dt, self.frame_rate)
            st.eye = a * eye + (1 - a) * st.eye
            st.mouth = a * mouth + (1 - a) * st.mouth
            st.yaw = a * yaw + (1 - a) * st.yaw
            st.pitch = a * pitch + (1 - a) * st.pitch
            st.t = t
        # eyes: hysteresis, then blink vs closed by duration
        was_closed = st.closed
        st.closed = st.eye < cfg.eyes_closed_below if not was_closed else st.eye < cfg.eyes_open_above
        if st.closed and not was_closed:
            st.closed_for, st.closed_seen = 0.0, not veto_eyes
        elif st.closed and not veto_eyes:
            st.closed_for += dt
            st.closed_seen = True
        # (at most a blink's length: a closure seen in one frame at 1 fps is most likely a blink, and read as
        # closed eyes it would mark the viewer disengaged)
        sampling = self._sampling(st)
        closed_for = st.closed_for + min(sampling, cfg.blink_max_s)
        blink = was_closed and not st.closed and st.closed_seen and closed_for <= cfg.blink_max_s + _EPS
        eyes_closed = st.closed and closed_for > cfg.blink_max_s + _EPS
        # mouth: wide (hysteresis), a yawn once held long enough
        was_wide = st.wide
        st.wide = st.mouth > (cfg.yawn_mouth_release if was_wide else cfg.yawn_mouth_above)
        if st.wide and not was_wide:
            st.wide_for = 0.0
        elif st.wide and not veto_mouth:
            st.wide_for += dt
        st.yawning = st.wide and st.wide_for + sampling >= cfg.yawn_min_s - _EPS
        # head: turned away (hysteresis), held long enough
        m = cfg.away_release if st.away else 0.0
        was_away = st.away
        st.away = abs(st.yaw) > cfg.yaw_away - m or abs(st.pitch) > cfg.pitch_away - m
        if st.away and not was_away:  # first seen turned away: turned for an unknown while, the hold is met
            st.away_since = t - (cfg.look_away_min_s if new else 0.0)
        looking_away = st.away and t - st.away_since + sampling >= cfg.look_away_min_s
        return eyes_closed, st.yawning, looking_away, blink, (st.eye, st.mouth, st.yaw, st.pitch)

    def _sampling(self, st: _Track) -> float:
        """What a duration read from first to last analysed frame is extended by: half of how much further apart
        this track's frames are than at the reference rate, or the pipeline's figure where that is larger. A state
        seen in k frames spaced h apart lasted between (k - 1) h and (k + 1) h."""
        # the median of the last gaps: the stream's rate, not a moment the face was missed or unreadable
        spacing = float(np.median(st.gaps)) if st.gaps else 0.0
        measured = 0.5 * max(spacing - 1.0 / REFERENCE_FPS, 0.0)
        return max(self.sampling_s, measured)

    def _prune(self, t: float) -> None:
        if len(self._tracks) > 64:
            self._tracks = {k: v for k, v in self._tracks.items() if t - v.t <= self.config.reset_after_s}
