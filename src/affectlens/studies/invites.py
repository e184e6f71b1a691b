"""Invite links of remote respondents: unguessable tokens, stored hashed, that expire and can be revoked.

A token is 32 URL-safe characters from :func:`secrets.token_urlsafe` (192 bits); the database keeps
only its SHA-256, so a copy of the database opens no session. A link opens exactly one study's
respondent page for exactly one respondent, and only until it is used (the session started),
revoked or expired. Each step the respondent takes is timestamped: opened, consented, started.

States, first match wins: the recording's state once the session started (``running`` while
watching, then ``done`` or ``partial``), else ``revoked``, ``expired``, ``consented``, ``opened``,
``invited``.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from affectlens.db import db_utcnow
from affectlens.errors import AffectlensError, Conflict, Gone, NotFound
from affectlens.studies.models import REMOTE, RUNNING, Invite, Recording, Study, utcnow
from affectlens.studies.store import new_recording

DEFAULT_EXPIRY = timedelta(days=7)
#: what a respondent reads about a link that opens nothing (shown on their page, never a study's name)
INVALID = "This link is not valid. Check that you copied the whole link."
USED = "This link has already been used. Thank you for taking part."
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def new_token() -> str:
    return secrets.token_urlsafe(24)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def parse_expiry(text: str | None) -> timedelta:
    """``7d``, ``12h``, ``30m``, ``2w`` (or ``1d12h``) → a timedelta; None → 7 days."""
    if text is None or not str(text).strip():
        return DEFAULT_EXPIRY
    s = str(text).strip().lower()
    parts = _DURATION.findall(s)
    if not parts or _DURATION.sub("", s).strip():
        raise AffectlensError(f"--expires {text!r}: write a duration such as 7d, 12h, 30m or 2w")
    total = timedelta(seconds=sum(float(n) * _UNITS[u] for n, u in parts))
    if total.total_seconds() < 60 or total > timedelta(days=366):
        raise AffectlensError(f"--expires {text!r}: between a minute and a year")
    return total


def pseudonyms(taken: set[str], n: int) -> list[str]:
    """``n`` new pseudonyms ``r-xxxxxx`` (random hex) not in ``taken``."""
    out: list[str] = []
    while len(out) < n:
        p = f"r-{secrets.token_hex(3)}"
        if p not in taken and p not in out:
            out.append(p)
    return out


@dataclass(frozen=True)
class Invitation:
    """A new link (the only time the token is known)."""

    respondent: str
    token: str
    expires: datetime
    tags: dict[str, str]

    def url(self, base: str) -> str:
        return f"{base.rstrip('/')}/r/{self.token}"


def state(invite: Invite, recording: Recording | None, now: datetime | None = None) -> str:
    if recording is not None:
        return recording.status
    now = now or utcnow()
    if invite.revoked_at is not None:
        return "revoked"
    if invite.expires_at <= now:
        return "expired"
    if invite.consent_at is not None:
        return "consented"
    return "opened" if invite.opened_at is not None else "invited"


class InviteBook:
    """The invites of a study's database (``store`` is its :class:`~affectlens.studies.store.StudyStore`)."""

    def __init__(self, store):
        self.store = store

    def create(self, study: Study, respondents: list[str], tags: dict[str, str], ttl: timedelta) -> list[Invitation]:
        clash = sorted(set(respondents) & self.taken(study))
        if clash:
            raise Conflict(f"respondent {clash[0]!r} already has an invite or a recording in {study.name!r}")
        now = utcnow()
        out = [Invitation(r, new_token(), now + ttl, dict(tags)) for r in respondents]
        with self.store.session() as s:  # a concurrent invite of the same name fails on the unique constraint
            for inv in out:
                s.add(
                    Invite(
                        study_id=study.id,
                        respondent=inv.respondent,
                        token_sha256=token_hash(inv.token),
                        tags=json.dumps(tags, sort_keys=True),
                        created_at=now,
                        expires_at=inv.expires,
                    )
                )
            try:
                s.commit()
            except IntegrityError:
                raise Conflict(f"an invite for one of {respondents[:3]} was created at the same time") from None
        return out

    def taken(self, study: Study) -> set[str]:
        with self.store.session() as s:
            names = set(s.scalars(select(Invite.respondent).where(Invite.study_id == study.id)))
            return names | set(s.scalars(select(Recording.respondent).where(Recording.study_id == study.id)))

    def all(self, study: Study) -> list[Invite]:
        with self.store.session() as s:
            return list(s.scalars(select(Invite).where(Invite.study_id == study.id).order_by(Invite.id)))

    def by_hash(self, digest: str) -> Invite | None:
        with self.store.session() as s:
            return s.scalar(select(Invite).where(Invite.token_sha256 == digest))

    def revoke(self, study: Study, respondent: str) -> Invite:
        with self.store.session() as s:
            inv = s.scalar(select(Invite).where(Invite.study_id == study.id, Invite.respondent == respondent))
            if inv is None:
                raise NotFound(f"no invite for respondent {respondent!r} in study {study.name!r}")
            if inv.started_at is not None:
                raise Conflict(f"respondent {respondent!r} already started; use `study forget` to erase their data")
            inv.revoked_at = inv.revoked_at or utcnow()
            s.commit()
            return inv

    # -- the respondent's steps (each checks the link is still usable) -----------------------
    def usable(self, digest: str, allow_started: bool = False) -> Invite:
        """The invite of a token hash, or :class:`NotFound` / :class:`Gone` with a message for the respondent."""
        inv = self.by_hash(digest)
        if inv is None:
            raise NotFound(INVALID)
        if inv.revoked_at is not None:
            raise Gone("This link has been withdrawn by the study's organisers.")
        if inv.started_at is not None and not (allow_started and self._session_running(inv)):
            raise Gone(USED)  # a started link serves only its own session, and only while it runs
        if inv.started_at is None and inv.expires_at <= utcnow():  # a session under way runs to its end
            raise Gone("This link has expired. Ask the study's organisers for a new one.")
        return inv

    def _session_running(self, inv: Invite) -> bool:
        with self.store.session() as s:
            rec = s.scalar(
                select(Recording.status).where(Recording.study_id == inv.study_id, Recording.sha256 == inv.token_sha256)
            )
        return rec == RUNNING

    def _stamp(self, inv: Invite, **values) -> None:
        with self.store.session() as s:
            s.execute(update(Invite).where(Invite.id == inv.id).values(**values))
            s.commit()

    def opened(self, inv: Invite) -> None:
        if inv.opened_at is None:
            self._stamp(inv, opened_at=utcnow())

    def consented(self, inv: Invite) -> None:
        self._stamp(inv, consent_at=utcnow())

    def start(self, study: Study, inv: Invite, claimer: str) -> Recording:
        """Use the link up and create the respondent's recording (``running``, analysed live)."""
        if inv.consent_at is None:
            raise AffectlensError("consent first: the session starts only after the respondent agreed")
        now = utcnow()
        with self.store.session() as s:
            res = s.execute(
                update(Invite)
                .where(Invite.id == inv.id, Invite.started_at.is_(None), Invite.revoked_at.is_(None))
                .values(started_at=now)
            )
            if res.rowcount != 1:
                s.rollback()
                raise Gone(USED)
            rec = new_recording(
                study,
                inv.respondent,
                "",  # no video exists: the session is analysed live
                inv.token_sha256,  # unique per study, like a video's hash
                json.loads(inv.tags or "{}"),
                consent=True,
                status=RUNNING,
                claimed_by=claimer,
                claimed_at=db_utcnow(),  # judged stale against the database's clock (StudyStore.reclaim_stale)
                heartbeat_at=db_utcnow(),
                attempts=1,
                added_at=now,
                source=REMOTE,
            )
            s.add(rec)
            try:
                s.commit()
                s.refresh(rec)  # the database wrote its clock's times: read them back
            except IntegrityError:  # the pseudonym has a recording already (uploaded before invites checked)
                raise Conflict(
                    "This session cannot start: the study already has a recording under this link's respondent. "
                    "Please contact the study's organisers."
                ) from None
            return rec
