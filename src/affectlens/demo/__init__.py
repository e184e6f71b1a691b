"""The sample media that ships inside the package, so ``affectlens demo`` works anywhere (see NOTICE)."""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).parent
SAMPLES = ("short_hamilton_clip.mp4", "two_people.jpg")


def sample_paths() -> list[Path]:
    """The shipped sample files: a 9 s public-domain clip of a singer and an MIT-licensed two-face photo."""
    return [HERE / name for name in SAMPLES]
