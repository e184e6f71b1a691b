"""Options of the service, shared by ``affectlens serve`` and ``affectlens keys``."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path

from affectlens.errors import AffectlensError


def default_data_dir() -> Path:
    """``$AFFECTLENS_SERVE_DIR`` or ``~/.local/share/affectlens/serve``: the database and job files."""
    env = os.environ.get("AFFECTLENS_SERVE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".local" / "share" / "affectlens" / "serve"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class ServeSettings:
    host: str = "127.0.0.1"
    port: int = 8000
    db_url: str | None = None  # default: SQLite file in data_dir
    data_dir: Path = field(default_factory=default_data_dir)
    auth: bool = True  # False only with --no-auth on a loopback address
    workers: int = 1  # video jobs processed at once
    max_queued: int = 64  # jobs waiting; more are refused with 503
    max_upload_mb: float = 200.0
    max_attempts: int = 2  # a job interrupted by a server stop is started again up to this many times in all
    cors_origins: tuple[str, ...] = ()  # none: cross-origin browser calls are refused
    inference_workers: int = 2  # analyzers shared by the image endpoint, live cameras and remote respondents
    live_max_side: int = 1920  # live frames larger than this are refused
    threads: int | None = None  # ONNX Runtime threads per analyzer (None: all cores for video jobs, 1 for frames)
    load_models: bool = True  # False: tests of pure HTTP behaviour
    public_url: str | None = None  # the base of respondents' invite links (default: the request's own)
    reconnect_grace_s: float = 30.0  # how long a remote respondent's dropped session waits for its page
    model: str | None = None  # the expression model of every analyzer (None: the default; by name once validated)

    @property
    def database_url(self) -> str:
        return self.db_url or f"sqlite:///{self.data_dir / 'serve.db'}"

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        shown = "127.0.0.1" if self.host in ("0.0.0.0", "::") else host
        return f"http://{shown}:{self.port}/"

    def validate(self) -> ServeSettings:
        if not self.auth and not is_loopback(self.host):
            raise AffectlensError(
                f"--no-auth is only allowed on a loopback address (127.0.0.1, ::1, localhost), not {self.host}; "
                "create a key with `affectlens keys create` instead"
            )
        if self.workers < 1 or self.inference_workers < 1:
            raise AffectlensError("--workers and --inference-workers must be at least 1")
        if not 0 <= self.reconnect_grace_s <= 600:
            raise AffectlensError("--reconnect-grace must be between 0 and 600 seconds")
        if self.max_upload_mb <= 0:
            raise AffectlensError("--max-upload-mb must be positive")
        from affectlens.classify import model_id

        self.model = model_id(self.model)  # as a study records it; an unknown model fails before the server starts
        return self
