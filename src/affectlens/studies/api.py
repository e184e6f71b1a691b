"""The Python API of studies; the ``affectlens study`` verbs are thin wrappers around it.

>>> from affectlens.studies import create_study, add_recording, run_study  # doctest: +SKIP
>>> from affectlens.report import write_report  # doctest: +SKIP
>>> create_study("adtest", "ad.mp4")
>>> add_recording("adtest", "viewer1.mp4", respondent="r1", offset_s=2.0, tags={"age": "18-24"})
>>> run_study("adtest", workers=2)
>>> write_report("adtest", "report.html")
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from affectlens.db import connect
from affectlens.errors import AffectlensError, Conflict, NotFound
from affectlens.studies.locations import Location, locate
from affectlens.studies.media import existing_file, probe, sha256_file
from affectlens.studies.models import PENDING, Recording, Study
from affectlens.studies.privacy import Erased, check_pseudonymous, check_respondent, forget, media_copy
from affectlens.studies.privacy import delete_study as _delete_study
from affectlens.studies.store import NewStimulus, StudyStore
from affectlens.studies.worker import Outcome

if TYPE_CHECKING:
    from affectlens.studies.results import StudyTables
    from affectlens.studies.runner import RunSummary


def open_store(name: str, db: str | None = None, create: bool = False) -> tuple[StudyStore, Location]:
    """The store holding study ``name`` (its SQLite file must exist unless ``create``)."""
    loc = locate(name, db)
    if loc.default_db and not create and not loc.sqlite_file.exists():
        raise NotFound(
            f"no study named {name!r} in {loc.folder.parent} (create it with `affectlens study create`; "
            "set AFFECTLENS_HOME or --db to look elsewhere)"
        )
    if loc.default_db and create:
        if loc.sqlite_file.exists():
            raise Conflict(f"study {name!r} already exists ({loc.folder})")
        loc.folder.mkdir(parents=True, exist_ok=True)
    return StudyStore(connect(loc.url)), loc


def create_study(
    name: str,
    stimulus: str | Path,
    db: str | None = None,
    require_consent: bool = False,
    keep_media: bool = False,
) -> Study:
    """A new study around ``stimulus``.

    ``require_consent``: only recordings added with ``consent=True`` are processed.
    ``keep_media``: keep a copy of each recording in the study folder (off: derived data only).
    """
    path = existing_file(stimulus, "stimulus")
    info = probe(path)  # fails on an unreadable stimulus before anything is written
    new = NewStimulus(str(path), sha256_file(path), info.duration_s, info.fps, info.frames)
    store, loc = open_store(name, db, create=True)
    return store.create_study(name, new, str(loc.folder), require_consent=require_consent, keep_media=keep_media)


def parse_tags(specs: list[str] | None) -> dict[str, str]:
    """``["age=18-24", "segment=b"]`` → ``{"age": "18-24", "segment": "b"}``."""
    tags: dict[str, str] = {}
    for spec in specs or []:
        key, sep, value = spec.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or not value:
            raise AffectlensError(f"--tag {spec!r}: write it as key=value (e.g. --tag age=18-24)")
        if key in tags:
            raise AffectlensError(f"--tag {key}: given twice")
        check_pseudonymous(key, value)
        tags[key] = value
    return tags


def add_recording(
    name: str,
    recording: str | Path,
    respondent: str,
    offset_s: float = 0.0,
    tags: dict[str, str] | None = None,
    db: str | None = None,
    consent: bool = False,
) -> Recording:
    """Add one respondent's recording (pending until :func:`run_study`).

    ``consent``: the respondent agreed to be analysed (required where the study requires consent).
    """
    path = existing_file(recording, "recording")
    for k, v in (tags or {}).items():
        check_pseudonymous(k, v)
    if not respondent.strip():
        raise AffectlensError("--respondent: give the respondent's pseudonym (not their name)")
    respondent = check_respondent(respondent)
    if offset_s < 0:
        raise AffectlensError(f"--offset {offset_s}: the stimulus start must be at or after the recording's start")
    store, _ = open_store(name, db)
    study = store.study(name)
    rec = store.add_recording(
        study, respondent.strip(), str(path), sha256_file(path), float(offset_s), tags or {}, consent=consent
    )
    if study.keep_media:
        copy = media_copy(study, rec.id, path.suffix)
        copy.parent.mkdir(parents=True, exist_ok=True)
        if path.resolve().is_relative_to(Path(study.data_dir).resolve()):  # an upload: move it, no second copy
            shutil.move(path, copy)
        else:
            shutil.copyfile(path, copy)
        store.set_path(rec.id, str(copy))
        rec.path = str(copy)
    return rec


def forget_respondent(name: str, respondent: str, db: str | None = None, erased_by: str | None = None) -> Erased:
    """Erase every row, file and cached artefact of ``respondent`` (audited: who and when, not what)."""
    store, _ = open_store(name, db)
    return forget(store, store.study(name), respondent, erased_by)


def delete_study(name: str, db: str | None = None, erased_by: str | None = None) -> Erased:
    """Remove a whole study: rows, result files, kept media, and its folder."""
    store, loc = open_store(name, db)
    return _delete_study(store, store.study(name), erased_by, default_db=loc.default_db)


def erasures(name: str, db: str | None = None):
    """The audit trail of erasures in the study's database."""
    store, _ = open_store(name, db)
    return store.erasures(name)


def run_study(
    name: str,
    workers: int = 1,
    db: str | None = None,
    retry_failed: bool = False,
    stale_after_s: float = 600.0,
    on_start: Callable[[int], None] | None = None,
    on_result: Callable[[Recording, Outcome], None] | None = None,
    ray: str | None = None,
) -> RunSummary:
    """Process the pending recordings; ``ray`` (``local``, ``auto``, ``ray://…``) runs them as Ray tasks."""
    from affectlens.studies.runner import run_study as _run

    if workers < 1:
        raise AffectlensError(f"--workers {workers}: at least 1")
    store, _ = open_store(name, db)
    study = store.study(name)
    executor = None
    if ray is not None and (retry_failed or store.counts(study)[PENDING]):  # no runtime for nothing to do
        from affectlens.scale import RayExecutor
        from affectlens.studies.worker import init_worker

        executor = RayExecutor(ray, initializer=init_worker, initargs=(1,))  # one ONNX Runtime thread per task
        workers = max(workers, executor.workers)
    return _run(store, study, workers, stale_after_s, retry_failed, on_start, on_result, executor=executor)


def recordings(name: str, db: str | None = None) -> tuple[Study, list[Recording]]:
    store, _ = open_store(name, db)
    study = store.study(name)
    return study, store.recordings(study)


def tables(name: str, db: str | None = None) -> tuple[Study, StudyTables]:
    from affectlens.studies.results import study_tables

    study, recs = recordings(name, db)
    return study, study_tables(study, recs)


EXPORTS = ("timeline", "respondent_seconds", "key_moments", "tag_comparison", "tag_timelines", "recordings")


def export_study(name: str, out_dir: str | Path, formats: tuple[str, ...] = ("csv", "parquet"), db: str | None = None):
    """Write the aggregated tables as ``OUT/<table>.<fmt>``; returns the files written."""
    bad = [f for f in formats if f not in ("csv", "parquet")]
    if bad or not formats:
        raise AffectlensError(f"--format {','.join(formats)}: choose csv and/or parquet")
    _, t = tables(name, db)
    frames = {
        "timeline": t.timeline,
        "respondent_seconds": t.per_second,
        "key_moments": t.key_moments,
        "tag_comparison": t.comparison,
        "tag_timelines": t.group_timelines,
        "recordings": t.recordings,
    }
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for table, df in frames.items():
        for fmt in formats:
            path = out / f"{table}.{fmt}"
            if fmt == "csv":
                df.to_csv(path, index=False)
            else:
                df.to_parquet(path, index=False)
            written.append(path)
    return written
