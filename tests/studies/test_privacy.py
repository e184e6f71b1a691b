"""Respondent privacy on real clips: derived data only, erasure that leaves no trace, consent, pseudonyms."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from affectlens.db import connect
from affectlens.studies import erasures, recordings, run_study
from affectlens.studies.locations import locate
from tests.conftest import cli
from tests.studies.conftest import clip

STIMULUS = "intel_classroom_four_people.mp4"
GONE, KEPT = "resp-zq81xk", "resp-kept77"
MEDIA_MAGIC = (b"\xff\xd8\xff", b"\x89PNG", b"RIFF", b"\x1aE\xdf\xa3", b"GIF8")  # JPEG, PNG, WebP/AVI, MKV, GIF


def _is_media(path: Path) -> bool:
    head = path.read_bytes()[:12]
    return head.startswith(MEDIA_MAGIC) or head[4:8] == b"ftyp"  # ftyp: MP4 / MOV


def _files_naming(root: Path, needle: str) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and needle.encode() in p.read_bytes()]


def _study(db: str | None, *extra: str) -> None:
    args = ("--db", db) if db else ()
    cli("study", "create", "priv", "--stimulus", clip(STIMULUS), *extra, *args, check=True)
    cli(
        "study",
        "add",
        "priv",
        clip("intel_two_people_head_pose.mp4"),
        "--respondent",
        GONE,
        "--tag",
        "group=a",
        *args,
        check=True,
    )
    cli("study", "add", "priv", clip("expressions_man.mp4"), "--respondent", KEPT, *args, check=True)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_forget_leaves_no_trace_in_database_files_or_report(backend, home, tmp_path, request):
    db = request.getfixturevalue("postgres_url") if backend == "postgresql" else None
    _study(db)
    assert run_study("priv", db=db).done == 2
    folder = locate("priv", db).folder
    assert _files_naming(home, KEPT) or db  # SQLite: the ids live in the study's own database file

    args = ("--db", db) if db else ()
    r = cli("study", "forget", "priv", "--respondent", GONE, *args, check=True)
    assert "1 recording(s)" in r.stdout
    report = tmp_path / "report.html"
    cli("study", "report", "priv", "--out", report, *args, check=True)

    assert GONE not in report.read_text() and KEPT in report.read_text()
    assert not _files_naming(home, GONE), "a file of the study still names the forgotten respondent"
    assert not _files_naming(folder, "group=a")
    assert [r.respondent for r in recordings("priv", db)[1]] == [KEPT]
    assert len(list((folder / "results").glob("*.parquet"))) == 1
    with connect(locate("priv", db).url).connect() as conn:
        assert conn.execute(text("SELECT respondent FROM recordings")).scalars().all() == [KEPT]
        assert conn.execute(text("SELECT count(*) FROM recording_tags")).scalar() == 0  # GONE's group=a
    audit = erasures("priv", db)
    assert [(e.action, e.recordings) for e in audit] == [("forget_respondent", 1)]
    assert audit[0].erased_by and audit[0].erased_at
    again = cli("study", "forget", "priv", "--respondent", GONE, *args)
    assert again.returncode == 1 and "no respondent" in again.stderr


def test_default_study_keeps_no_media_of_respondents(home):
    _study(None)
    run_study("priv")
    media = [p for p in locate("priv").folder.rglob("*") if p.is_file() and _is_media(p)]
    assert media == [], media


def test_keep_media_copies_and_forget_removes_the_copy(home):
    _study(None, "--keep-media")
    folder = locate("priv").folder
    copies = sorted((folder / "media").iterdir())
    assert len(copies) == 2 and all(_is_media(p) for p in copies)
    assert {r.path for r in recordings("priv")[1]} == {str(p) for p in copies}
    assert run_study("priv").done == 2
    cli("study", "forget", "priv", "--respondent", GONE, check=True)
    assert len(list((folder / "media").iterdir())) == 1


def test_contact_details_are_refused_as_tags(home):
    cli("study", "create", "priv", "--stimulus", clip(STIMULUS), check=True)
    rec = clip("expressions_man.mp4")
    for tag in ("email=jane.doe@example.com", "phone=+44 20 7946 0958", "contact=(555) 123-4567"):
        r = cli("study", "add", "priv", rec, "--respondent", "r1", "--tag", tag)
        assert r.returncode == 1 and "pseudonym" in r.stderr and len(r.stderr.splitlines()) == 1, r.stderr
    for tag in ("note=" + "x" * 201, "k" * 101 + "=v"):  # longer than the columns: refused on every database
        for cmd in (("add", "priv", rec, "--respondent", "r1"), ("invite", "priv", "--count", "1")):
            r = cli("study", *cmd, "--tag", tag)
            assert r.returncode == 1 and "characters" in r.stderr and len(r.stderr.splitlines()) == 1, r.stderr
    cli("study", "add", "priv", rec, "--respondent", "r1", "--tag", "age=18-24", "--tag", "wave=2026-11", check=True)


def test_a_study_requiring_consent_processes_only_consented_recordings(home):
    cli("study", "create", "priv", "--stimulus", clip(STIMULUS), "--require-consent", check=True)
    cli("study", "add", "priv", clip("expressions_man.mp4"), "--respondent", "yes1", "--consent", check=True)
    cli("study", "add", "priv", clip("intel_two_people_head_pose.mp4"), "--respondent", "no1", check=True)
    r = cli("study", "run", "priv", "--no-progress", check=True)
    assert "1 done" in r.stdout and "without consent" in r.stderr and "no1" in r.stderr
    status = {x.respondent: x.status for x in recordings("priv")[1]}
    assert status == {"yes1": "done", "no1": "pending"}


def test_delete_removes_the_whole_study_and_audits_it(home):
    _study(None)
    folder = locate("priv").folder
    r = cli("study", "delete", "priv")  # stdin is not a terminal: nobody to ask (it deleted without asking)
    assert r.returncode == 1 and "needs --yes" in r.stderr and folder.exists()
    r = cli("study", "delete", "priv", "--yes", check=True)
    assert "2 recording(s)" in r.stdout and not folder.exists()
    assert '"delete_study"' in (folder.parent / "erasures.jsonl").read_text()
    assert cli("study", "status", "priv").returncode == 1


def test_delete_waits_for_a_recording_in_progress(home):
    """A worker (or a live session) holding a recording would write its rows into the deleted study's folder."""
    from affectlens.studies.api import open_store
    from affectlens.studies.store import new_claimer

    _study(None)
    store, loc = open_store("priv")
    study = store.study("priv")
    claimer = new_claimer()
    assert store.claim(study, claimer) is not None
    r = cli("study", "delete", "priv", "--yes")
    assert r.returncode == 1 and "in progress" in r.stderr and len(r.stderr.splitlines()) == 1, r.stderr
    assert loc.folder.is_dir() and len(recordings("priv")[1]) == 2  # nothing removed
    store.release_all(study, claimer)
    store.engine.dispose()
    assert "2 recording(s)" in cli("study", "delete", "priv", "--yes", check=True).stdout


def test_a_recording_erased_while_it_ran_leaves_no_result_file(home):
    from sqlalchemy import delete

    from affectlens.studies.api import open_store
    from affectlens.studies.models import Recording
    from affectlens.studies.runner import RunSummary, _record, result_file
    from affectlens.studies.store import new_claimer
    from affectlens.studies.worker import Outcome

    _study(None)
    store, _ = open_store("priv")
    study = store.study("priv")
    claimer = new_claimer()
    rec = store.claim(study, claimer)
    out = result_file(study, rec.id)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(b"rows")  # what the worker wrote just before the erasure reached the database
    with store.session() as s:
        s.execute(delete(Recording).where(Recording.id == rec.id))
        s.commit()
    summary = RunSummary()
    _record(store, study, claimer, rec, Outcome(rec.id, ok=True, frames=3, face_frames=3), summary)
    assert not out.exists() and summary.done == 0
    store.engine.dispose()


def test_a_result_whose_claim_another_run_took_is_reported_as_lost_not_done(home):
    """Another run reclaimed the recording as stale while this one processed it: this run's finish is refused,
    and it printed the recording's frames and counted nothing (or, for a failure, counted it failed)."""
    from sqlalchemy import update

    from affectlens.studies.api import open_store
    from affectlens.studies.models import Recording
    from affectlens.studies.runner import RunSummary, _record
    from affectlens.studies.store import new_claimer
    from affectlens.studies.worker import Outcome

    _study(None)
    store, _ = open_store("priv")
    study = store.study("priv")
    claimer = new_claimer()
    rec = store.claim(study, claimer)
    with store.session() as s:  # the other run's claim
        s.execute(update(Recording).where(Recording.id == rec.id).values(claimed_by="other:1:x"))
        s.commit()
    summary = RunSummary()
    for outcome in (Outcome(rec.id, ok=True, frames=3, face_frames=3), Outcome(rec.id, ok=False, error="boom")):
        assert _record(store, study, claimer, rec, outcome, summary).lost
    assert (summary.done, summary.failed, summary.lost) == (0, 0, 2)
    store.engine.dispose()
