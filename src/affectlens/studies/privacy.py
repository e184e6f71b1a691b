"""Respondent privacy: pseudonymous tags, consent, kept media, erasure on request.

What a study keeps by default is *derived data only*: per-frame result rows of each respondent's
main face (Parquet, under the study folder's ``results/``), the recording's path and SHA-256, and
its tags. It never keeps a copy of a recording or a face crop, unless the study was created with
``keep_media`` (then ``media/<recording-id>.<ext>`` holds a copy). Videos uploaded to the service
are deleted once processed unless ``keep_media`` is on.

``forget`` removes every row, file and cached artefact of one respondent, then compacts the
database so the deleted rows leave nothing in its free pages, and writes an audit row (who, when,
how much — not whose data). Aggregates and reports are computed from what is left each time they
are asked for, so the next report no longer shows the respondent.
"""

from __future__ import annotations

import getpass
import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from affectlens.errors import AffectlensError
from affectlens.studies.models import Recording, RecordingTag, Study, utcnow

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}")
_PHONE = re.compile(r"^\+?[\d\s().-]{7,}$")


_RESPONDENT = re.compile(r"[\w.@+-][\w .@+-]{0,63}")


def check_respondent(respondent: str) -> str:
    """A respondent pseudonym: 1-64 letters, digits, spaces and ``._@+-``, no control characters."""
    r = respondent.strip()
    if not _RESPONDENT.fullmatch(r):
        raise AffectlensError(
            f"respondent {respondent[:70]!r}: give a pseudonym of 1-64 letters, digits, spaces or '._@+-' "
            "(a code such as r17, not the person's name)"
        )
    if _EMAIL.search(r):
        raise AffectlensError(f"respondent {r!r} looks like an e-mail address; studies keep pseudonyms only")
    return r


TAG_KEY_MAX, TAG_VALUE_MAX = RecordingTag.key.type.length, RecordingTag.value.type.length  # the columns' lengths


def check_pseudonymous(key: str, value: str) -> None:
    """Refuse a tag that looks like an e-mail address or a phone number (direct identifiers), or that is
    longer than its column holds (PostgreSQL would refuse it mid-way, SQLite store it regardless)."""
    if len(key) > TAG_KEY_MAX or len(value) > TAG_VALUE_MAX:
        raise AffectlensError(
            f"--tag {key[:40]}{'…' if len(key) > 40 else ''}=…: keys hold up to {TAG_KEY_MAX} characters, "
            f"values up to {TAG_VALUE_MAX} (this one: {len(key)} and {len(value)})"
        )
    for part, what in ((key, "key"), (value, "value")):
        if _EMAIL.search(part):
            raise AffectlensError(
                f"--tag {key}={value}: the {what} looks like an e-mail address; studies keep pseudonyms only "
                "(use a code such as r17, not a person's contact details)"
            )
        if _PHONE.match(part) and sum(c.isdigit() for c in part) >= 7:
            raise AffectlensError(
                f"--tag {key}={value}: the {what} looks like a phone number; studies keep pseudonyms only"
            )


def operator() -> str:
    """Who performs an erasure (the OS user, or ``AFFECTLENS_OPERATOR`` where a service sets it)."""
    who = os.environ.get("AFFECTLENS_OPERATOR")
    if who:
        return who
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid:{os.getuid()}"


def media_copy(study: Study, recording_id: int, suffix: str) -> Path:
    return Path(study.data_dir) / "media" / f"{recording_id}{suffix.lower()}"


def owned_files(study: Study, rec: Recording) -> list[Path]:
    """Every file the study holds for ``rec``: its results, a kept copy, an uploaded original."""
    folder = Path(study.data_dir)
    files = [folder / "results" / f"{rec.id}.parquet"]
    if rec.result_path:
        files.append(folder / rec.result_path)
    files += sorted((folder / "media").glob(f"{rec.id}.*")) if (folder / "media").is_dir() else []
    path = Path(rec.path)
    if _inside(path, folder):  # uploaded to the service, or a kept copy
        files.append(path)
    return list(dict.fromkeys(f for f in files if f.exists()))


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True


def _remove(paths: list[Path]) -> int:
    n = 0
    for p in paths:
        try:
            p.unlink()
            n += 1
        except FileNotFoundError:
            pass
    return n


def _stray_temp_files(study: Study, rec: Recording) -> list[Path]:
    """Half-written results of an interrupted run (``.<id>.parquet.<pid>.tmp``)."""
    results = Path(study.data_dir) / "results"
    return sorted(results.glob(f".{rec.id}.parquet.*.tmp")) if results.is_dir() else []


@dataclass(frozen=True)
class Erased:
    respondent: str
    recordings: int
    files: int
    note: str | None = None  # what was not done (the database's compaction postponed), else None


def forget(store, study: Study, respondent: str, erased_by: str | None = None) -> Erased:
    """Erase ``respondent`` from ``study``: rows, result files, kept media, uploads; audit it.

    The files go right after the rows' deletion is committed, before the database is compacted: a compaction
    that waits, fails or is interrupted must not leave them behind (a second forget finds no respondent)."""
    recs = [r for r in store.recordings(study) if r.respondent == respondent]
    files = [f for r in recs for f in owned_files(study, r) + _stray_temp_files(study, r)]
    removed = store.forget(study, respondent, erased_by or operator(), files=len(files), compact=False)
    n = _remove(files)
    return Erased(respondent, len(removed), n, store.compact())


def delete_study(store, study: Study, erased_by: str | None = None, default_db: bool = True) -> Erased:
    """Remove a whole study: its rows (audited where the database outlives it) and its folder."""
    folder = Path(study.data_dir)
    files = [p for p in folder.rglob("*") if p.is_file()] if folder.is_dir() else []
    who = erased_by or operator()
    n = store.delete_study(study, who, files=len(files), compact=False)
    if default_db:  # the study's own SQLite file goes with its folder: nothing to compact
        store.engine.dispose()
    if folder.is_dir():  # the files first: a compaction that waits or fails must not leave them behind
        shutil.rmtree(folder)
    note = None if default_db else store.compact()
    if default_db:  # the study's own SQLite file is gone with its audit table: keep the audit beside it
        entry = {
            "study_name": study.name,
            "action": "delete_study",
            "erased_by": who,
            "erased_at": utcnow().isoformat(),
        }
        with open(folder.parent / "erasures.jsonl", "a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry | {"recordings": n, "files": len(files)}) + "\n")
    return Erased("", n, len(files), note)


def drop_uploaded_media(study: Study, rec: Recording) -> bool:
    """After processing: delete a recording the service stored in the study folder (unless kept)."""
    if study.keep_media:
        return False
    path = Path(rec.path)
    if _inside(path, Path(study.data_dir)) and path.is_file():
        path.unlink()
        return True
    return False
