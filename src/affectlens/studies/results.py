"""A study's tables: respondents' Parquet files → per-second rows → timeline, key moments, tag groups."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from affectlens.errors import AffectlensError
from affectlens.studies.aggregate import compare_tags, key_moments, n_seconds, timeline
from affectlens.studies.models import WITH_RESULTS, Recording, Study
from affectlens.studies.seconds import per_second
from affectlens.studies.segments import segment_tests


@dataclass
class StudyTables:
    per_second: pd.DataFrame  # respondent × second
    timeline: pd.DataFrame  # second
    key_moments: pd.DataFrame
    comparison: pd.DataFrame  # tag key × value
    group_timelines: pd.DataFrame  # tag key × value × second
    recordings: pd.DataFrame  # one row per recording (respondent, status, tags, counts)
    segments: pd.DataFrame  # tag key × pair of values × metric: difference over the stimulus, tested
    segment_seconds: pd.DataFrame  # … × second: the per-second differences, tested


def load_frames(study: Study, recordings: list[Recording]) -> pd.DataFrame:
    """The stored frames of every done (or partial) recording, with a ``respondent`` column."""
    parts = []
    for rec in recordings:
        if rec.status not in WITH_RESULTS or not rec.result_path:
            continue
        path = Path(study.data_dir) / rec.result_path
        if not path.is_file():
            raise AffectlensError(f"{path}: result of respondent {rec.respondent!r} is missing; run `study run` again")
        df = pd.read_parquet(path)
        if len(df):
            parts.append(df.assign(respondent=rec.respondent))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["respondent", "stimulus_time_s"])


def viewers(study: Study, recordings: list[Recording]) -> pd.Series:
    """Per stimulus second: respondents (with results) still watching, i.e. who saw at least part of it."""
    seconds = pd.RangeIndex(n_seconds(study.stimulus_duration_s, study.stimulus_fps), name="second")
    spans = [r.watched_s(study.stimulus_duration_s) for r in recordings if r.status in WITH_RESULTS]
    spans = np.array([s for s in spans if s is not None], dtype=float)
    return pd.Series([int((spans > s).sum()) for s in seconds], index=seconds, name="viewers")


def recordings_table(study: Study, recordings: list[Recording]) -> pd.DataFrame:
    rows = []
    for r in recordings:
        rows.append(
            {
                "respondent": r.respondent,
                "status": r.status,
                "source": r.source,
                "seconds_watched": r.watched_s(study.stimulus_duration_s),
                "offset_s": r.offset_s,
                "tags": ", ".join(f"{k}={v}" for k, v in sorted(r.tag_dict.items())),
                "frames": r.frames,
                "face_frames": r.face_frames,
                "duration_s": r.duration_s,
                "error": (r.error or "").splitlines()[0] if r.error else "",
            }
        )
    return pd.DataFrame(rows)


def study_tables(study: Study, recordings: list[Recording], groups: bool = True) -> StudyTables:
    """Every table of the study; ``groups=False`` leaves the tag groups and their permutation tests
    empty (what only the headline figures need, e.g. the norms over other studies)."""
    ps = per_second(load_frames(study, recordings), study.stimulus_duration_s)
    tl = timeline(ps, study.stimulus_duration_s, fps=study.stimulus_fps)
    tl["viewers"] = viewers(study, recordings).reindex(tl["second"]).fillna(0).astype(int).to_numpy()
    tags = pd.DataFrame(
        [(r.respondent, k, v) for r in recordings for k, v in r.tag_dict.items()],
        columns=["respondent", "key", "value"],
    )
    if not groups:
        tags = tags.iloc[0:0]  # no tag, no group: compare_tags and segment_tests return empty tables
    comparison, group_timelines = compare_tags(ps, tags, study.stimulus_duration_s, fps=study.stimulus_fps)
    whole, seconds = segment_tests(ps, tags)
    recs = recordings_table(study, recordings)
    return StudyTables(ps, tl, key_moments(tl), comparison, group_timelines, recs, whole, seconds)
