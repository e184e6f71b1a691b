"""What the routes share: settings, database, analyzer pool and job queue (``app.state.serve``)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import Request
from sqlalchemy.orm import sessionmaker

from affectlens.serve.errors import ApiError
from affectlens.serve.inference import AnalyzerPool
from affectlens.serve.jobs import JobQueue
from affectlens.serve.respondent import Links, Sessions
from affectlens.serve.settings import ServeSettings
from affectlens.serve.tickets import Tickets


@dataclass
class ServeState:
    settings: ServeSettings
    db: sessionmaker
    jobs: JobQueue
    pool: AnalyzerPool | None = None
    study_runs: set[str] = field(default_factory=set)  # studies being run in the background
    study_lock: threading.Lock = field(default_factory=threading.Lock)
    tickets: Tickets = field(default_factory=Tickets)
    links: Links = field(default_factory=lambda: Links(None))  # remote respondents' invite links
    sessions: Sessions = field(default_factory=Sessions)  # remote respondents' running sessions

    @property
    def jobs_dir(self) -> Path:
        return self.settings.data_dir / "jobs"

    def analyzers(self) -> AnalyzerPool:
        if self.pool is None:
            raise ApiError(503, "the models are not loaded on this server")
        return self.pool


def get_state(request: Request) -> ServeState:
    return request.app.state.serve
