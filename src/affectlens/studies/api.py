"""The Python API of studies; the ``affectlens study`` verbs are thin wrappers around it.

>>> from affectlens.studies import create_study, add_recording, run_study  # doctest: +SKIP
>>> from affectlens.report import write_report  # doctest: +SKIP
>>> create_study("adtest", "ad.mp4")
>>> add_recording("adtest", "viewer1.mp4", respondent="r1", offset_s=2.0, tags={"age": "18-24"})
>>> run_study("adtest", workers=2)
>>> write_report("adtest", "report.html")
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from affectlens.db import connect, dispose
from affectlens.errors import AffectlensError, Conflict, NotFound
from affectlens.studies.invites import INVALID as INVALID_LINK
from affectlens.studies.invites import Invitation, InviteBook, parse_expiry, pseudonyms, token_hash
from affectlens.studies.invites import state as invite_state
from affectlens.studies.locations import Location, driver_url, locate, studies_root
from affectlens.studies.media import existing_file, probe, sha256_file
from affectlens.studies.models import PENDING, REMOTE, Invite, Recording, Study
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
    consent_text: str | None = None,
    model: str | None = None,
) -> Study:
    """A new study around ``stimulus``.

    ``require_consent``: only recordings added with ``consent=True`` are processed.
    ``keep_media``: keep a copy of each recording in the study folder (off: derived data only).
    ``consent_text``: what remote respondents agree to before their camera turns on (None: a default).
    ``model``: the expression model every recording is read with (a shipped name or an ``.onnx`` file;
    None: today's default, recorded by name so that a later release's default does not mix models).
    """
    from affectlens.classify import model_id

    if consent_text is not None and not consent_text.strip():
        raise AffectlensError("--consent-text: give the text respondents agree to (or leave it out for the default)")
    path = existing_file(stimulus, "stimulus")
    model = model_id(model)  # an unknown model fails here, before anything is written
    info = probe(path)  # fails on an unreadable stimulus before anything is written
    new = NewStimulus(str(path), sha256_file(path), info.duration_s, info.fps, info.frames)
    store, loc = open_store(name, db, create=True)
    return store.create_study(
        name,
        new,
        str(loc.folder),
        require_consent=require_consent,
        keep_media=keep_media,
        consent_text=consent_text,
        model=model,
    )


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
    erased = _delete_study(store, store.study(name), erased_by, default_db=loc.default_db)
    if loc.default_db:  # its file is gone: a study made again under the name must get a new, migrated engine
        dispose(loc.url)  # (the cache's file-identity check alone misses a file system reusing the inode)
    return erased


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
    store.settle_remote(study)  # live sessions whose server is gone are partial
    return study, store.recordings(study)


# -- remote respondents ----------------------------------------------------------------------


def invite(
    name: str,
    respondents: list[str] | None = None,
    count: int = 0,
    tags: dict[str, str] | None = None,
    expires: str | None = None,
    db: str | None = None,
) -> list[Invitation]:
    """New invite links: one per name in ``respondents``, plus ``count`` with generated pseudonyms.

    The tokens are returned once (``Invitation.url(base)`` makes the link) and stored hashed."""
    names = [check_respondent(r) for r in respondents or []]
    if len(set(names)) != len(names):
        raise AffectlensError("--respondent: a respondent is named twice")
    if count < 0 or count > 10_000 or not (names or count):
        raise AffectlensError("invite: give --respondent R, or --count N (1-10000) for generated pseudonyms")
    for k, v in (tags or {}).items():
        check_pseudonymous(k, v)
    ttl = parse_expiry(expires)
    store, _ = open_store(name, db)
    study = store.study(name)
    book = InviteBook(store)
    return book.create(study, names + pseudonyms(book.taken(study) | set(names), count), tags or {}, ttl)


def revoke(name: str, respondent: str, db: str | None = None) -> Invite:
    """Withdraw a respondent's link (before they start; afterwards use :func:`forget_respondent`)."""
    store, _ = open_store(name, db)
    return InviteBook(store).revoke(store.study(name), respondent)


@dataclass(frozen=True)
class RespondentState:
    respondent: str
    state: str  # invited | opened | consented | expired | revoked | pending | running | done | partial | failed
    source: str  # upload | remote
    seconds_watched: float | None
    tags: dict[str, str]
    recording: Recording | None
    invite: Invite | None

    def to_dict(self) -> dict:
        """Plain JSON: what ``study status --json`` prints and ``GET /v1/studies/{name}`` returns."""
        r = self.recording
        return {
            "respondent": self.respondent,
            "state": self.state,
            "source": self.source,
            "seconds_watched": self.seconds_watched,
            "offset_s": r.offset_s if r is not None else None,
            "tags": self.tags,
            "frames": r.frames if r is not None else None,
            "face_frames": r.face_frames if r is not None else None,
            "duration_s": r.duration_s if r is not None else None,
            "expires": self.invite.expires_at.isoformat() + "Z" if self.invite is not None else None,
            "error": r.error.splitlines()[0] if r is not None and r.error else None,
        }


def respondents(name: str, db: str | None = None) -> tuple[Study, list[RespondentState]]:
    """Every respondent of the study: recordings (uploaded or remote) and invites not yet started."""
    store, _ = open_store(name, db)
    study = store.study(name)
    store.settle_remote(study)
    invites = {i.respondent: i for i in InviteBook(store).all(study)}
    dur = study.stimulus_duration_s
    out = [
        RespondentState(
            r.respondent, r.status, r.source, r.watched_s(dur), r.tag_dict, r, invites.pop(r.respondent, None)
        )
        for r in store.recordings(study)
    ]
    for i in invites.values():
        out.append(RespondentState(i.respondent, invite_state(i, None), REMOTE, None, json.loads(i.tags), None, i))
    return study, out


def find_invite(token: str, db: str | None = None) -> tuple[StudyStore, Study, Invite]:
    """The study and invite a link's token opens (:class:`NotFound` / :class:`~affectlens.errors.Gone` if none)."""
    digest = token_hash(token)
    searched: set[str] = set()
    for name in study_names(db):
        if (url := locate(name, db).url) in searched:
            continue  # one database holds every study (--db): its invites table was searched whole already
        searched.add(url)
        store, _ = open_store(name, db)
        inv = InviteBook(store).by_hash(digest)
        if inv is not None:
            study = store.study_by_id(inv.study_id)
            return store, study, inv
    raise NotFound(INVALID_LINK)


def study_names(db: str | None = None) -> list[str]:
    """The studies in ``db`` (or, by default, the study folders under the studies root)."""
    url = db or os.environ.get("AFFECTLENS_DB")
    if url:
        from sqlalchemy import select

        store = StudyStore(connect(driver_url(url)))
        with store.session() as s:
            return sorted(s.scalars(select(Study.name)))
    root = studies_root()
    return sorted(p.name for p in root.iterdir() if (p / "study.db").is_file()) if root.is_dir() else []


def tables(name: str, db: str | None = None, groups: bool = True) -> tuple[Study, StudyTables]:
    """The study's tables (``groups=False``: without tag groups and their tests, see ``study_tables``)."""
    from affectlens.studies.results import study_tables

    study, recs = recordings(name, db)
    return study, study_tables(study, recs, groups=groups)


EXPORTS = (
    "timeline",
    "respondent_seconds",
    "key_moments",
    "tag_comparison",
    "tag_timelines",
    "segments",
    "segment_seconds",
    "recordings",
)


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
        "segments": t.segments,
        "segment_seconds": t.segment_seconds,
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
