"""The one small result type that flows through every stage (in the spirit of supervision's Detections)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from affectlens.labels import valence


@dataclass
class Faces:
    """The faces of one frame as parallel NumPy arrays (N faces, C classes).

    ``boxes`` are x1, y1, x2, y2 in pixels of the original frame; ``track_ids`` are -1 until a
    tracker assigns them; ``probs`` are the classifier's (calibrated) probabilities, ``smoothed``
    their per-track exponential moving average; ``signals`` holds per-face extras (engagement
    columns) as arrays of length N; ``points`` the face mesh's (N, 468, 3) landmarks in frame pixels
    between the mesh and the signals computed from them (then released: 5.6 kB a face).
    """

    boxes: np.ndarray
    scores: np.ndarray
    track_ids: np.ndarray | None = None
    landmarks: np.ndarray | None = None
    probs: np.ndarray | None = None
    smoothed: np.ndarray | None = None
    signals: dict[str, np.ndarray] = field(default_factory=dict)
    points: np.ndarray | None = None
    # (M, 4) boxes of faces found in the frame but not read (under min_face, or not yet given an id by the
    # tracker): not rows, but blurred with the others (--blur-faces); a selection (faces[mask]) drops them,
    # a copy keeps them
    unread: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.boxes = np.asarray(self.boxes, np.float32).reshape(-1, 4)
        self.scores = np.asarray(self.scores, np.float32).reshape(-1)
        if self.track_ids is None:
            self.track_ids = np.full(len(self.boxes), -1, np.int64)

    @classmethod
    def empty(cls) -> Faces:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32))

    def __len__(self) -> int:
        return len(self.boxes)

    def __getitem__(self, index) -> Faces:
        """Select faces with a boolean mask, an index array or a slice; ``faces[i]`` is the one face ``i`` as a
        :class:`Faces` of length 1 (so ``for face in faces`` gives each face with all its columns)."""
        if isinstance(index, int | np.integer):
            if not -len(self) <= index < len(self):
                raise IndexError(f"face {index} of {len(self)}")
            index = [int(index) % len(self)]

        def pick(a):
            return None if a is None else a[index]

        return Faces(
            boxes=self.boxes[index],
            scores=self.scores[index],
            track_ids=pick(self.track_ids),
            landmarks=pick(self.landmarks),
            probs=pick(self.probs),
            smoothed=pick(self.smoothed),
            signals={k: v[index] for k, v in self.signals.items()},
            points=pick(self.points),
        )

    def copy(self) -> Faces:
        """A copy whose arrays later stages may write into without touching this one (``unread`` too)."""
        out = self[np.arange(len(self))]
        out.unread = None if self.unread is None else self.unread.copy()
        return out

    @property
    def best_probs(self) -> np.ndarray | None:
        """The smoothed probabilities where there are, else the raw ones (None before classification)."""
        return self.smoothed if self.smoothed is not None else self.probs

    @property
    def area(self) -> np.ndarray:
        return (self.boxes[:, 2] - self.boxes[:, 0]) * (self.boxes[:, 3] - self.boxes[:, 1])


@dataclass
class FrameResult:
    """One analysed frame: where it came from, when, and its faces."""

    source: str
    frame: int
    time_s: float | None
    width: int
    height: int
    faces: Faces
    labels: tuple[str, ...] = ()
    image: np.ndarray | None = None  # the RGB frame, kept only when annotating

    def top_labels(self) -> list[str]:
        p = self.faces.best_probs
        if p is None:
            return []
        return [self.labels[i] for i in p.argmax(1)]

    def rows(self) -> list[dict]:
        """One dict per face with the documented column names (see README, "Output columns")."""
        f = self.faces
        out = []
        top = self.top_labels()
        for i in range(len(f)):
            x1, y1, x2, y2 = (round(float(v), 1) for v in f.boxes[i])
            row = {
                "source": self.source,
                "frame": self.frame,
                "time_s": None if self.time_s is None else round(self.time_s, 4),
                "track_id": int(f.track_ids[i]),
                "x1": x1,
                "y1": y1,
                "x2": x2,
                "y2": y2,
                "score": round(float(f.scores[i]), 4),
                "label": top[i] if top else "",
                "valence": valence(top[i]) if top else "",
            }
            if f.smoothed is not None:
                row |= {f"p_{c}": round(float(v), 5) for c, v in zip(self.labels, f.smoothed[i], strict=True)}
            if f.probs is not None:
                row |= {f"raw_p_{c}": round(float(v), 5) for c, v in zip(self.labels, f.probs[i], strict=True)}
            row |= {k: plain(v[i]) for k, v in f.signals.items()}
            out.append(row)
        return out


def plain(x):
    """A NumPy scalar as the Python value it prints as (other values as they are): a float32 rounded to 0.1
    (yaw 2.2) becomes 2.2, not the 2.200000047683716 that widening it with ``.item()`` gives. Every row
    and table cell goes through it (:func:`affectlens.sinks.tables.clean`)."""
    if isinstance(x, np.floating) and x.dtype.itemsize < 8:
        return float(str(x))
    return x.item() if isinstance(x, np.generic) else x
