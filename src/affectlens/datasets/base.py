"""The in-memory dataset every loader returns: uint8 images, labels and (optionally) vote targets."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from affectlens.labels import EMOTIONS


@dataclass
class FaceDataset:
    """Face images of one split, kept as compact uint8 arrays.

    ``images`` is ``(N, H, W)`` for grayscale or ``(N, H, W, 3)`` RGB (all the same size),
    ``labels`` indexes into ``classes`` (the dataset's own class list, in :data:`EMOTIONS` order),
    ``targets`` (optional) is a ``(N, len(EMOTIONS))`` float32 vote distribution.
    """

    name: str
    split: str
    images: np.ndarray
    labels: np.ndarray
    classes: tuple[str, ...] = EMOTIONS
    targets: np.ndarray | None = None
    files: np.ndarray | None = None
    info: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.images) != len(self.labels):
            raise ValueError("images and labels differ in length")

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def label_names(self) -> list[str]:
        return [self.classes[i] for i in self.labels]

    def class_counts(self) -> dict[str, int]:
        counts = np.bincount(self.labels, minlength=len(self.classes))
        return {c: int(n) for c, n in zip(self.classes, counts, strict=True)}

    def subset(self, index: np.ndarray) -> FaceDataset:
        """A new dataset holding only ``index`` (a boolean mask or integer indices)."""
        return FaceDataset(
            name=self.name,
            split=self.split,
            images=self.images[index],
            labels=self.labels[index],
            classes=self.classes,
            targets=None if self.targets is None else self.targets[index],
            files=None if self.files is None else self.files[index],
            info=dict(self.info),
        )

    def soft_targets(self) -> np.ndarray:
        """Vote distributions over :data:`EMOTIONS`, or one-hot labels where no votes exist."""
        if self.targets is not None:
            return self.targets.astype(np.float32)
        out = np.zeros((len(self), len(EMOTIONS)), np.float32)
        cols = [EMOTIONS.index(c) for c in self.classes]
        out[np.arange(len(self)), np.asarray(cols)[self.labels]] = 1.0
        return out

    def global_labels(self) -> np.ndarray:
        """Labels re-indexed into :data:`EMOTIONS` (for mixing datasets)."""
        cols = np.asarray([EMOTIONS.index(c) for c in self.classes])
        return cols[self.labels]
