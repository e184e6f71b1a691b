"""Invite links of remote respondents on SQLite and PostgreSQL: hashed tokens, the respondent's steps,
one use, revocation, expiry, erasure, and the settling of sessions whose server died."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from affectlens.errors import AffectlensError, Conflict, Gone, NotFound
from affectlens.studies.invites import InviteBook, parse_expiry, pseudonyms, state, token_hash
from affectlens.studies.models import PARTIAL, REMOTE, RUNNING, Invite, Recording
from affectlens.studies.store import new_claimer, new_recording
from tests.studies.conftest import STIM


def test_parse_expiry():
    assert parse_expiry("7d") == timedelta(days=7)
    assert parse_expiry("1d12h") == timedelta(hours=36)
    assert parse_expiry(None) == timedelta(days=7)
    for bad in ("soon", "7 days", "10s", "2y", "-1d"):
        with pytest.raises(AffectlensError):
            parse_expiry(bad)


def test_generated_pseudonyms_are_new_and_distinct():
    names = pseudonyms({"r-000000"}, 50)
    assert len(set(names)) == 50 and all(n.startswith("r-") and n != "r-000000" for n in names)


def test_a_link_is_stored_hashed_and_walks_invited_to_running(store):
    study = store.create_study("ad", STIM, "/tmp/ad")
    book = InviteBook(store)
    (inv,) = book.create(study, ["r1"], {"panel": "b"}, timedelta(days=1))
    with store.session() as s:
        row = s.scalar(select(Invite))
        assert row.token_sha256 == token_hash(inv.token) and inv.token not in (row.token_sha256, row.tags)
    assert state(row, None) == "invited"
    got = book.usable(token_hash(inv.token))
    book.opened(got)
    assert state(book.by_hash(row.token_sha256), None) == "opened"
    with pytest.raises(AffectlensError, match="consent first"):
        book.start(study, book.by_hash(row.token_sha256), new_claimer())
    book.consented(got)
    rec = book.start(study, book.by_hash(row.token_sha256), new_claimer())
    assert (rec.status, rec.source, rec.consent, rec.tag_dict) == (RUNNING, REMOTE, True, {"panel": "b"})
    with pytest.raises(Gone, match="already been used"):
        book.usable(row.token_sha256)
    with pytest.raises(Gone):  # a second start (a replayed message, another tab) is refused
        book.start(study, book.by_hash(row.token_sha256), new_claimer())
    assert book.usable(row.token_sha256, allow_started=True).respondent == "r1"


def test_forged_revoked_expired_and_taken(store):
    study = store.create_study("ad", STIM, "/tmp/ad")
    book = InviteBook(store)
    a, b = book.create(study, ["r1", "r2"], {}, timedelta(days=1))
    with pytest.raises(NotFound):
        book.usable(token_hash(a.token[:-1] + ("x" if a.token[-1] != "x" else "y")))
    book.revoke(study, "r1")
    with pytest.raises(Gone, match="withdrawn"):
        book.usable(token_hash(a.token))
    with store.session() as s:
        s.execute(update(Invite).where(Invite.respondent == "r2").values(expires_at=Invite.created_at))
        s.commit()
    with pytest.raises(Gone, match="expired"):
        book.usable(token_hash(b.token))
    with pytest.raises(Conflict):
        book.create(study, ["r2"], {}, timedelta(days=1))
    with pytest.raises(NotFound):
        book.revoke(study, "nobody")


def test_a_link_that_expires_mid_session_still_serves_its_session(store):
    """A link expiring while its respondent watched refused the stimulus's next range request and the page's
    reconnection: the session under way now runs to its end; a new start is refused as before."""
    study = store.create_study("ad", STIM, "/tmp/ad")
    book = InviteBook(store)
    (inv,) = book.create(study, ["r1"], {}, timedelta(days=1))
    book.consented(book.usable(token_hash(inv.token)))
    rec = book.start(study, book.usable(token_hash(inv.token)), new_claimer())
    assert rec.heartbeat_at is not None and rec.claimed_at is not None  # the database's times, read back
    with store.session() as s:
        s.execute(update(Invite).where(Invite.respondent == "r1").values(expires_at=Invite.created_at))
        s.commit()
    assert book.usable(token_hash(inv.token), allow_started=True).respondent == "r1"
    with pytest.raises(Gone, match="already been used"):
        book.usable(token_hash(inv.token))


def test_forget_erases_an_invite_and_its_remote_recording(store):
    study = store.create_study("ad", STIM, "/tmp/ad")
    book = InviteBook(store)
    a, _ = book.create(study, ["r1", "r2"], {}, timedelta(days=1))
    inv = book.usable(token_hash(a.token))
    book.consented(inv)
    claimer = new_claimer()
    rec = book.start(study, book.by_hash(inv.token_sha256), claimer)
    with pytest.raises(AffectlensError, match="session ends"):
        store.forget(study, "r1", "test", 0)
    assert book.by_hash(inv.token_sha256) is not None  # the refused erasure left everything in place
    store._set(rec.id, claimer, RUNNING, status=PARTIAL)
    store.forget(study, "r1", "test", 0)
    store.forget(study, "r2", "test", 0)  # invited only: still erasable
    with store.session() as s:
        assert s.scalars(select(Invite)).all() == [] and s.scalars(select(Recording)).all() == []


def test_a_session_whose_server_died_is_settled_partial_not_requeued(store):
    study = store.create_study("ad", STIM, "/tmp/ad")
    book = InviteBook(store)
    (a,) = book.create(study, ["r1"], {}, timedelta(days=1))
    book.consented(book.usable(token_hash(a.token)))
    rec = book.start(study, book.by_hash(token_hash(a.token)), "thishost:1:dead")
    store._set(rec.id, "thishost:1:dead", RUNNING, claimed_by=f"{new_claimer().rsplit(':', 2)[0]}:999999999:x")
    assert store.reclaim_stale(study, 600) == 1
    (got,) = store.recordings(study)
    assert got.status == PARTIAL and store.claim(study, new_claimer()) is None


def test_an_invited_pseudonym_cannot_be_uploaded_and_a_clash_is_one_error(store):
    study = store.create_study("ad", STIM, "/tmp/ad")
    book = InviteBook(store)
    _, b = book.create(study, ["r1", "r2"], {}, timedelta(days=1))
    with pytest.raises(Conflict, match="invite"):  # was: accepted, then the session's start crashed
        store.add_recording(study, "r1", "/v/r1.mp4", "b" * 64, 0.0, {})
    # a database holding both already (added before this check): the start is refused in one line
    with store.session() as s:
        s.add(new_recording(study, "r2", "/v/r2.mp4", "c" * 64, {}))
        s.commit()
    book.consented(book.usable(token_hash(b.token)))
    with pytest.raises(Conflict, match="cannot start"):  # was: IntegrityError, a traceback in the WebSocket
        book.start(study, book.by_hash(token_hash(b.token)), new_claimer())
    assert book.by_hash(token_hash(b.token)).started_at is None


def test_a_live_session_of_an_erased_respondent_writes_nothing_more(store, tmp_path):
    from affectlens.studies.remote import RemoteRecording

    study = store.create_study("ad", STIM, str(tmp_path / "ad"))
    book = InviteBook(store)
    (a,) = book.create(study, ["r1"], {}, timedelta(days=1))
    book.consented(book.usable(token_hash(a.token)))
    claimer = "otherhost:1:x"
    rec = book.start(study, book.by_hash(token_hash(a.token)), claimer)
    live = RemoteRecording(store, study, rec, claimer)
    row = {"frame": 5, "time_s": 1.0, "track_id": 1, "x1": 0, "y1": 0, "x2": 50, "y2": 50, "happy": 0.9}
    live.rows.append(row)
    live.flush()
    assert live.path.exists()
    store._set(rec.id, claimer, RUNNING, status=PARTIAL)  # silent for 2 minutes: settled, so it may be erased
    store.forget(study, "r1", "test", 0)
    live.path.unlink()
    live.rows.append(row | {"frame": 30, "time_s": 6.0})  # the socket was still open: the respondent comes back
    with pytest.raises(Gone, match="erased"):
        live.flush()
    assert not live.path.exists()  # was: the erased respondent's rows were written again
    with pytest.raises(Gone):
        live.finish(6.0)  # the disconnect's final write: nothing
    assert not live.path.exists()


def test_an_unknown_link_searches_a_shared_database_once(db_url, media, tmp_path, monkeypatch):
    """With every study in one database (--db), each link nobody issued (a forged or mistyped one, a bot) ran one
    invites query per study in it, all on the same table."""
    from sqlalchemy import event

    from affectlens.db import connect
    from affectlens.studies.api import create_study, find_invite

    monkeypatch.setenv("AFFECTLENS_HOME", str(tmp_path / "home"))
    for i in range(4):
        create_study(f"s{i}", media / "videos" / "expressions_man.mp4", db=db_url)
    statements: list[str] = []

    def seen(conn, cursor, statement, *rest):
        statements.append(statement)

    engine = connect(db_url)
    event.listen(engine, "before_cursor_execute", seen)
    try:
        with pytest.raises(NotFound):
            find_invite("x" * 43, db=db_url)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert sum("FROM invites" in q for q in statements) == 1, statements
