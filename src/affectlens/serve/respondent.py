"""The server side of a remote respondent's session: the link's lookup, the camera check, the live analysis.

A link's token is looked up by its SHA-256 in the studies' databases (the hit is cached by hash,
so a study is searched once per link, never by the token itself). The camera check runs the real
detector on a frame and says what to fix: no face, too dark or too bright, off-centre, too far.
The live session steps each frame through a :class:`~affectlens.serve.live.LiveSession` stamped
with the stimulus's playback time, and keeps the rows in a :class:`~affectlens.studies.remote.RemoteRecording`.
A connection that drops without a word (a Wi-Fi blip, a phone changing networks) leaves its session waiting in
:class:`Sessions` for a grace period, for the page to reconnect and go on with the same tracks and recording.
"""

from __future__ import annotations

import logging
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from affectlens.errors import Gone, NotFound
from affectlens.faces.preprocess import GRAY_WEIGHTS
from affectlens.serve.inference import AnalyzerPool
from affectlens.serve.live import LiveSession
from affectlens.serve.settings import ServeSettings
from affectlens.studies.invites import INVALID, InviteBook, token_hash
from affectlens.studies.models import Invite, Study
from affectlens.studies.remote import RemoteRecording
from affectlens.studies.store import StudyStore, new_claimer

DEFAULT_CONSENT = (
    "This study shows you a short video and uses your camera to read your facial expressions while you "
    "watch. The images are analysed as they arrive and are not stored: only numbers (the expression "
    "probabilities and attention, second by second) are kept, under a pseudonym, never your name. You can "
    "stop at any time by closing this page. Do you agree to take part?"
)
MIN_LIGHT, MAX_LIGHT = 60.0, 225.0  # mean luma (0-255) of the face
MIN_FACE_FRACTION = 0.12  # face width / frame width
#: what a page that reconnects too late reads (its session was settled meanwhile)
TOO_LATE = "This session has ended: the connection was lost for too long. What you watched is saved — thank you."

log = logging.getLogger(__name__)


@dataclass
class Link:
    store: StudyStore
    study: Study
    invite: Invite

    @property
    def book(self) -> InviteBook:
        return InviteBook(self.store)

    def refresh(self, allow_started: bool = False) -> Link:
        """The link's current state (raises NotFound / Gone when it may no longer be used)."""
        self.invite = self.book.usable(self.invite.token_sha256, allow_started=allow_started)
        return self


class Links:
    """Token → study lookups, cached by the token's hash."""

    def __init__(self, db: str | None):
        self.db = db
        self._study_of: dict[str, str] = {}
        self._lock = threading.Lock()

    def open(self, token: str, allow_started: bool = False) -> Link:
        from affectlens.studies import find_invite
        from affectlens.studies.api import open_store

        if not (16 <= len(token) <= 64):
            raise NotFound(INVALID)
        digest = token_hash(token)
        with self._lock:
            name = self._study_of.get(digest)
        if name is not None:
            try:
                store, _ = open_store(name, self.db)
                study = store.study(name)
            except NotFound:  # the study was deleted since
                with self._lock:
                    self._study_of.pop(digest, None)
                raise
        else:
            store, study, _ = find_invite(token, self.db)
            with self._lock:
                self._study_of[digest] = study.name
        invite = InviteBook(store).usable(digest, allow_started=allow_started)
        return Link(store, study, invite)


def model_mismatch(study: Study, settings: ServeSettings) -> str | None:
    """Why this server cannot run the study's live sessions (it reads faces with another model), else None.
    A study made before studies recorded their model runs on any server."""
    if study.model is None or study.model == settings.model:
        return None
    return (
        f"study {study.name!r} reads faces with the model {study.model}, this server with {settings.model}: "
        f"start it with `affectlens serve --model {study.model}`"
    )


def camera_check(pool: AnalyzerPool, image: np.ndarray) -> dict:
    """Is the camera ready: one face, lit enough, roughly centred, near enough? Each with a hint."""
    with pool.borrow() as analyzer:
        faces = analyzer.detect(image, video=True)
    h, w = image.shape[:2]
    out: dict = {"type": "check", "faces": len(faces), "width": w, "height": h}
    if not len(faces):
        return out | {"ok": False, "hint": "We cannot see a face: look at the camera, with your face in the frame."}
    i = int(np.argmax(faces.area))
    x1, y1, x2, y2 = (float(v) for v in faces.boxes[i])
    face = image[max(0, int(y1)) : max(1, int(y2)), max(0, int(x1)) : max(1, int(x2))]
    light = float(np.dot(face.reshape(-1, 3).mean(axis=0), GRAY_WEIGHTS)) if face.size else 0.0
    cx, cy = (x1 + x2) / 2 / w, (y1 + y2) / 2 / h
    checks = {
        "face": True,
        "light": MIN_LIGHT <= light <= MAX_LIGHT,
        "centred": 0.2 <= cx <= 0.8 and 0.15 <= cy <= 0.85,
        "near": (x2 - x1) / w >= MIN_FACE_FRACTION,
    }
    hints = {
        "light": "Your face is too dark: turn on a light or face a window."
        if light < MIN_LIGHT
        else "Your face is too bright: move away from the light.",
        "centred": "Move so that your face is in the middle of the picture.",
        "near": "Come a little closer to the camera.",
    }
    bad = [k for k, ok in checks.items() if not ok]
    return out | {
        "ok": not bad,
        "box": [round(x1), round(y1), round(x2), round(y2)],
        "light": round(light, 1),
        "checks": checks,
        "hint": hints[bad[0]] if bad else "All set.",
    }


class RespondentSession:
    """One respondent's page connection: check frames before the start, analysed frames after."""

    def __init__(self, link: Link, pool: AnalyzerPool, flush_every_s: float = 5.0):
        self.link, self.pool = link, pool
        self.live = LiveSession(pool.config, pool.labels, fps_hint=5.0, source="remote")
        self.recording: RemoteRecording | None = None
        self.flush_every_s = flush_every_s
        self.state: str | None = None
        # a page that reconnects takes its session over while the dropped connection may still be analysing
        self._lock = threading.RLock()

    @property
    def digest(self) -> str:
        return self.link.invite.token_sha256

    def start(self) -> None:
        """The respondent pressed start: use the link up and open their recording."""
        link = self.link.refresh()
        claimer = new_claimer()
        rec = link.book.start(link.study, link.invite, claimer)
        self.recording = RemoteRecording(link.store, link.study, rec, claimer, self.flush_every_s)

    def analyse(self, image: np.ndarray, stimulus_time_s: float, camera_time_s: float) -> dict:
        assert self.recording is not None
        with self._lock, self.pool.borrow() as analyzer:
            result = self.live.push(analyzer, image, stimulus_time_s)
            with self._ends():
                self.recording.add(result, camera_time_s)
        return {"type": "ack", "t": round(stimulus_time_s, 3), "faces": len(result.faces)}

    def progress(self, stimulus_time_s: float) -> None:
        if self.recording is not None:
            with self._lock, self._ends():
                self.recording.progress(stimulus_time_s)

    def finish(self, stimulus_time_s: float | None = None) -> str | None:
        """Settle the recording once (``done`` if playback reached the end, else ``partial``)."""
        with self._lock:
            if self.recording is not None and self.state is None:
                with self._ends():
                    self.state = self.recording.finish(stimulus_time_s)
            return self.state

    def keepalive(self) -> None:
        """Save the rows so far and beat the claim's heart while the session waits for its page (a session silent
        for 2 minutes is taken for one whose server died)."""
        with self._lock:
            if self.recording is not None and self.state is None:
                with self._ends():
                    self.recording.flush()

    @property
    def watched_s(self) -> float:
        return self.recording.watched_s if self.recording is not None else 0.0

    @contextmanager
    def _ends(self):
        """A session whose recording was settled or erased meanwhile ends (:class:`Gone`, said once): nothing
        more is written, not even at the disconnect."""
        try:
            yield
        except Gone:
            self.state = "ended"
            raise


class Sessions:
    """The started, unsettled respondent sessions of this server, by their link's token hash, each held by one
    connection (any object) or waiting ``grace_s`` for its page to reconnect after a silent drop.

    :meth:`resume` hands a session to a new connection, the one it replaces (a dead socket the server has not
    noticed yet) returned for closing; a waiting session saves its rows and beats its claim's heart at once and
    every ``HEARTBEAT_S`` (a study read would otherwise settle it as silent); nobody back in time, it is settled
    (``partial``); :meth:`close` settles every waiting one at a server stop.
    """

    HEARTBEAT_S = 30.0

    def __init__(self, grace_s: float = 30.0):
        self.grace_s = grace_s
        self._held: dict[str, tuple[RespondentSession, object | None, threading.Timer | None]] = {}
        self._lock = threading.Lock()

    def hold(self, session: RespondentSession, owner: object) -> None:
        with self._lock:
            self._held[session.digest] = (session, owner, None)

    def resume(self, digest: str, owner: object) -> tuple[RespondentSession, object | None]:
        """The session of ``digest`` for ``owner``, and the connection that held it (None if it was waiting);
        :class:`Gone` when there is none (settled, erased, or this server restarted since)."""
        with self._lock:
            session, previous, timer = self._held.get(digest, (None, None, None))
            if session is None or session.state is not None:
                raise Gone(TOO_LATE)
            if timer is not None:
                timer.cancel()
            self._held[digest] = (session, owner, None)
        return session, previous

    def release(self, session: RespondentSession, owner: object, *, wait: bool) -> None:
        """``owner``'s connection ended: settle its session now, or (``wait``: it dropped without a word) after
        the grace period unless a page resumes it. Nothing when another connection has taken the session over."""
        with self._lock:
            held = self._held.get(session.digest)
            if held is None or held[0] is not session or held[1] is not owner:
                return
            waits = wait and self.grace_s > 0
            if waits:
                self._held[session.digest] = (session, None, None)
            else:
                del self._held[session.digest]
        if waits:
            self._tick(session, time.monotonic() + self.grace_s)
        else:
            _settle(session)

    def forget(self, session: RespondentSession) -> None:
        """The session was settled by its page (``end``)."""
        with self._lock:
            if (held := self._held.get(session.digest)) is not None and held[0] is session:
                del self._held[session.digest]

    def _waiting(self, session: RespondentSession) -> bool:
        held = self._held.get(session.digest)
        return held is not None and held[0] is session and held[1] is None  # not resumed, not settled

    def _tick(self, session: RespondentSession, deadline: float) -> None:
        """A waiting session's heartbeat, until its page is back or the deadline passes."""
        with self._lock:
            if not self._waiting(session):
                return
            if (left := deadline - time.monotonic()) <= 0:
                del self._held[session.digest]
        if left <= 0:
            _settle(session)
            return
        try:
            session.keepalive()
        except Gone:  # settled elsewhere or erased meanwhile: nothing to wait for
            with self._lock:
                if self._waiting(session):
                    del self._held[session.digest]
            return
        except Exception:  # the database away a moment: the next beat tries again
            log.exception("could not save a waiting remote respondent's session")
        timer = threading.Timer(min(self.HEARTBEAT_S, left), self._tick, (session, deadline))
        timer.daemon = True
        with self._lock:
            if self._waiting(session):
                self._held[session.digest] = (session, None, timer)
                timer.start()

    def close(self) -> None:
        """The server stops: settle the sessions that wait for their page (those still connected are settled as
        their connections close)."""
        with self._lock:
            waiting = [(s, t) for s, owner, t in self._held.values() if owner is None]
            for s, _ in waiting:
                del self._held[s.digest]
        for session, timer in waiting:
            if timer is not None:
                timer.cancel()
            _settle(session)


def _settle(session: RespondentSession) -> None:
    try:
        session.finish()
    except Gone:
        pass  # settled or erased meanwhile: nothing left to write
    except Exception:  # a database down at the end: the study's next read settles it as stale
        log.exception("could not settle a remote respondent's session")
