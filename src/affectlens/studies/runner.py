"""``study run``: process the pending recordings of a study, in parallel, resumably.

The parent process claims recordings one at a time (atomically, see :mod:`store`), hands each to
a worker (a spawned process with its own Analyzer, or the parent itself with ``workers=1``) and
writes every state change to the database. A recording is marked done only after its Parquet
file is complete on disk, so an interrupted run loses nothing already processed and the next run
picks up exactly what is not done. Nothing pending: no model is loaded at all.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from pathlib import Path

from affectlens.runtime import usable_cores
from affectlens.studies.models import PENDING, RUNNING, Recording, Study
from affectlens.studies.privacy import drop_uploaded_media
from affectlens.studies.store import Finished, StudyStore, new_claimer
from affectlens.studies.worker import Job, Outcome, init_worker, process

log = logging.getLogger(__name__)

HEARTBEAT_S = 30.0


@dataclass
class RunSummary:
    done: int = 0
    failed: int = 0
    busy: int = 0  # recordings being processed by another run
    lost: int = 0  # recordings this run processed whose claim another run took meanwhile (results discarded)
    interrupted: bool = False
    seconds: float = 0.0
    errors: list[tuple[str, str]] = field(default_factory=list)  # (respondent, error)
    no_consent: list[str] = field(default_factory=list)  # respondents skipped: the study requires consent


class _Inline(Executor):
    """Runs each job right away in this process (``workers=1``: no process start, one model load)."""

    def submit(self, fn, /, *args, **kwargs) -> Future:
        fut: Future = Future()
        fut.set_result(fn(*args, **kwargs))
        return fut


def _ignore_sigint_and_init(threads: int | None) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides what an interrupt means
    init_worker(threads)


def _executor(workers: int) -> Executor:
    cores = usable_cores()
    threads = max(1, cores // workers)
    if workers == 1:
        init_worker(threads)
        return _Inline()
    return ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_ignore_sigint_and_init,
        initargs=(threads,),
    )


def _stop(executor: Executor) -> None:
    """End the workers now (Ctrl-C): their processes are taken before ``shutdown``, which forgets them
    (the workers went on writing results for recordings already given back, and the exit waited for them)."""
    procs = list((getattr(executor, "_processes", None) or {}).values())
    executor.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        p.terminate()
    for p in procs:
        p.join(timeout=5)


BREAKS_BEFORE_FAILING = 2  # a recording in flight when a worker process died this often fails (it may be the cause)


def _requeue_broken(store, study, claimer, in_flight: dict, breaks: Counter, summary, on_result) -> None:
    """A worker process died (killed, out of memory) and took the pool with it: every recording in flight
    goes back to pending (they failed together before, healthy ones included), except one in flight at
    ``BREAKS_BEFORE_FAILING`` deaths, which fails."""
    for rec in in_flight.values():
        breaks[rec.id] += 1
        if breaks[rec.id] >= BREAKS_BEFORE_FAILING:
            out = Outcome(rec.id, ok=False, error=f"a worker process died {breaks[rec.id]} times while processing it")
            out = _record(store, study, claimer, rec, out, summary)
            if on_result:
                on_result(rec, out)
        else:
            log.warning("%s: its worker process died; it goes back to pending", rec.respondent)
    store.release_all(study, claimer)
    in_flight.clear()


class _Heartbeat:
    """Refreshes the claims' heartbeat every ``every_s`` seconds from a background thread, so that a
    long recording is never mistaken for the stale claim of a hung or vanished run."""

    def __init__(self, store: StudyStore, claimer: str, claimed: dict[int, Recording], every_s: float):
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._beat, args=(store, claimer, claimed, every_s), name="affectlens-heartbeat", daemon=True
        )

    def _beat(self, store: StudyStore, claimer: str, claimed: dict[int, Recording], every_s: float) -> None:
        while not self._stop.wait(every_s):
            with contextlib.suppress(Exception):  # a missed beat is harmless; the next one retries
                store.heartbeat(list(claimed), claimer)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def result_file(study: Study, recording_id: int) -> Path:
    return Path(study.data_dir) / "results" / f"{recording_id}.parquet"


def run_study(
    store: StudyStore,
    study: Study,
    workers: int = 1,
    stale_after_s: float = 600.0,
    retry_failed: bool = False,
    on_start: Callable[[int], None] | None = None,
    on_result: Callable[[Recording, Outcome], None] | None = None,
    executor: Executor | None = None,
) -> RunSummary:
    """Process every pending recording of ``study``; see the module docstring.

    ``executor`` runs the jobs elsewhere (e.g. :class:`affectlens.scale.RayExecutor`); by default
    one process (``workers=1``, inline) or a pool of ``workers`` spawned processes.
    """
    t0 = time.perf_counter()
    summary = RunSummary()
    workers = max(1, int(workers))
    if retry_failed:
        store.retry_failed(study)
    store.reclaim_stale(study, stale_after_s)
    counts = store.counts(study)
    summary.no_consent = [r.respondent for r in store.without_consent(study)]
    pending = counts[PENDING] - len(summary.no_consent)
    if on_start:
        on_start(pending)
    if not pending:
        summary.busy = counts[RUNNING]
        summary.seconds = time.perf_counter() - t0
        return summary
    claimer = new_claimer()
    executor = executor or _executor(workers)
    claimed: dict[int, Recording] = {}
    in_flight: dict[Future, Recording] = {}
    breaks: Counter = Counter()  # worker-process deaths each recording was in flight for
    heartbeat = _Heartbeat(store, claimer, claimed, HEARTBEAT_S)
    try:
        heartbeat.start()
        while True:
            try:
                while len(in_flight) < workers and (rec := store.claim(study, claimer)) is not None:
                    claimed[rec.id] = rec
                    job = Job(rec.id, rec.path, rec.offset_s, str(result_file(study, rec.id)), study.model)
                    in_flight[executor.submit(process, job)] = rec
                if not in_flight:
                    break
                finished, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                for fut in finished:
                    outcome = _outcome(fut, in_flight[fut])
                    rec = in_flight.pop(fut)
                    outcome = _record(store, study, claimer, rec, outcome, summary)
                    claimed.pop(rec.id, None)
                    if on_result:
                        on_result(rec, outcome)
            except BrokenProcessPool:  # the pool is gone with the process: a new one takes the recordings back
                _requeue_broken(store, study, claimer, in_flight, breaks, summary, on_result)
                claimed.clear()
                _stop(executor)
                executor = _executor(workers)
    except KeyboardInterrupt:
        summary.interrupted = True
        _stop(executor)
        store.release_all(study, claimer)
    except Exception:  # a bug or the database gone: the claims go back, the workers end, the error is raised
        _stop(executor)
        store.release_all(study, claimer)
        raise
    finally:
        heartbeat.stop()
        executor.shutdown(wait=not summary.interrupted, cancel_futures=True)
    summary.busy = store.counts(study)[RUNNING]
    summary.seconds = time.perf_counter() - t0
    return summary


def _outcome(fut: Future, rec: Recording) -> Outcome:
    """A finished job's outcome; a remote executor's failure (Ray gave up after its retries) is a failed one.
    A dead worker process's :class:`BrokenProcessPool` is raised: the run takes its recordings back."""
    try:
        return fut.result()
    except BrokenProcessPool:
        raise
    except Exception as exc:
        return Outcome(rec.id, ok=False, error=f"worker failed: {type(exc).__name__}: {exc}"[:2000])


def _record(
    store: StudyStore, study: Study, claimer: str, rec: Recording, out: Outcome, summary: RunSummary
) -> Outcome:
    """Write ``out`` to the store under this run's claim; returns it as it is to be reported: where the claim
    was taken meanwhile (another run reclaimed it as stale) nothing is written or counted, and it is ``lost``."""
    if out.ok:
        rel = str(result_file(study, rec.id).relative_to(study.data_dir))
        if store.finish(rec.id, claimer, Finished(rel, out.frames, out.face_frames, out.duration_s)):
            drop_uploaded_media(study, rec)
            summary.done += 1
            return out
        if not store.exists(rec.id):  # erased while it ran: its rows must not outlive the erasure
            result_file(study, rec.id).unlink(missing_ok=True)
            return out
    elif store.fail(rec.id, claimer, out.error or "unknown error"):
        summary.failed += 1
        summary.errors.append((rec.respondent, out.error or "unknown error"))
        return out
    summary.lost += 1
    return replace(out, lost=True)
