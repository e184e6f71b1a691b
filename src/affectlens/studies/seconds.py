"""Respondents' frames → one row per respondent and stimulus second (a pure function).

Frames outside [0, stimulus duration) on the stimulus timeline are dropped; second ``s`` holds
the frames with ``s <= stimulus_time_s < s + 1``. Per respondent and second: the mean of each
emotion probability, of engagement and of attention over that second's frames; the top emotion
is the class with the highest mean probability (ties: FER+ order), its valence group follows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from affectlens.labels import EMOTIONS, NEGATIVE, POSITIVE, valence

SIGNALS = ("engagement", "attention")


def per_second(frames: pd.DataFrame, duration_s: float, emotions: tuple[str, ...] = EMOTIONS) -> pd.DataFrame:
    """``frames`` (columns respondent, stimulus_time_s, p_<emotion>…, engagement, attention) →
    per (respondent, second): n_frames, p_<emotion>…, engagement, attention, top_emotion, valence,
    valence_score (P(positive) - P(negative))."""
    p_cols = [f"p_{c}" for c in emotions]
    sig = [c for c in SIGNALS if c in frames.columns]
    cols = ["respondent", "second", "n_frames", *p_cols, *SIGNALS, "top_emotion", "valence", "valence_score"]
    if frames.empty:
        return pd.DataFrame(columns=cols)
    t = frames["stimulus_time_s"].astype(float)
    f = frames[(t >= 0) & (t < duration_s)].copy()
    if f.empty:
        return pd.DataFrame(columns=cols)
    f["second"] = np.floor(f["stimulus_time_s"].astype(float)).astype(int)
    for c in sig:
        f[c] = pd.to_numeric(f[c], errors="coerce")
    g = f.groupby(["respondent", "second"], sort=True)
    out = g[p_cols + sig].mean()
    out.insert(0, "n_frames", g.size())
    for c in SIGNALS:
        if c not in out.columns:
            out[c] = np.nan
    probs = out[p_cols].to_numpy(dtype=float)
    top = np.array(emotions)[probs.argmax(axis=1)]
    out["top_emotion"] = top
    out["valence"] = [valence(x) for x in top]
    pos = [f"p_{c}" for c in emotions if c in POSITIVE]
    neg = [f"p_{c}" for c in emotions if c in NEGATIVE]
    out["valence_score"] = out[pos].sum(axis=1) - out[neg].sum(axis=1)
    return out.reset_index()[cols]
