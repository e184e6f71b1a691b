"""Files of a study: content hashes, the stimulus's duration and frames (thumbnails come from it only)."""

from __future__ import annotations

import base64
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from affectlens.errors import AffectlensError


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def existing_file(path: str | Path, what: str) -> Path:
    p = Path(path).expanduser()
    if not p.is_file():
        raise AffectlensError(f"{what} {p}: no such file")
    return p.resolve()


@dataclass(frozen=True)
class VideoInfo:
    duration_s: float
    fps: float | None
    frames: int | None


def probe(path: str | Path) -> VideoInfo:
    """Duration, frame rate and frame count of a video (decoding it when the container does not say)."""
    import av

    try:
        with av.open(str(path)) as c:
            if not c.streams.video:
                raise AffectlensError(f"{path}: contains no video stream")
            st = c.streams.video[0]
            rate = st.average_rate or st.guessed_rate
            fps = float(rate) if rate else None
            duration = None
            if st.duration is not None and st.time_base is not None:
                duration = float(st.duration * st.time_base)
            elif c.duration:
                duration = c.duration / 1e6
            frames = st.frames or None
            if not duration or not frames:
                n, last = 0, 0.0
                for frame in c.decode(st):
                    n += 1
                    if frame.time is not None:
                        last = frame.time
                frames = frames or n
                duration = duration or (last + (1 / fps if fps else 0.0))
    except av.error.FFmpegError as exc:
        raise AffectlensError(f"{path}: not a readable video (corrupt or unsupported): {exc}") from None
    if not duration or duration <= 0:
        raise AffectlensError(f"{path}: video has no duration (no frames?)")
    return VideoInfo(round(duration, 4), fps, frames)


def frames_at(path: str | Path, times_s: list[float]) -> dict[float, np.ndarray]:
    """RGB frames of ``path`` at each time (the first frame at or after it), decoded in one pass."""
    import av

    want = sorted(set(times_s))
    out: dict[float, np.ndarray] = {}
    if not want:
        return out
    with av.open(str(path)) as c:
        st = c.streams.video[0]
        start = float(st.start_time * st.time_base) if st.start_time is not None and st.time_base else 0.0
        last = None
        i = 0
        for frame in c.decode(st):
            t = (frame.time or 0.0) - start
            while i < len(want) and t + 1e-6 >= want[i]:
                out[want[i]] = frame.to_ndarray(format="rgb24")
                i += 1
            last = frame
            if i == len(want):
                break
        if last is not None:  # times past the last frame get the last frame
            for t in want[i:]:
                out[t] = last.to_ndarray(format="rgb24")
    return out


def jpeg_data_uri(image: np.ndarray, width: int = 320, quality: int = 80) -> str:
    """A small JPEG of an RGB image as a ``data:`` URI (inlined in the report; nothing on the network)."""
    from PIL import Image

    im = Image.fromarray(image)
    if im.width > width:
        im = im.resize((width, max(1, round(im.height * width / im.width))))
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=quality)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
