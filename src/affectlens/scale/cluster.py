"""Ray as the scheduler: a runtime, an Executor for study runs, and per-video analysis tasks.

Design (README, "Scale-out"):

* **One task per video**, a batch of ``IMAGES_PER_TASK`` stills per task; a task opens its input
  itself (a path on a shared file system, or a URL the worker can reach), so no frame crosses the
  cluster; it returns compact rows (column names once, then tuples).
* **Models load once per worker process**: tasks reuse a module-level analyser keyed by its
  configuration (:mod:`affectlens.scale.tasks`), never one per task.
* **Exactly once** for studies: the database stays the source of truth. The driver claims a
  recording (an atomic conditional UPDATE), the task writes the Parquet file under a temporary name
  and renames it into place, and the driver marks it done only if it still holds the claim. A
  worker killed mid-task is retried by Ray (``max_retries``); the retry rewrites the same file,
  the half-written one never becomes visible, and the recording is marked done once.
* **Backpressure**: the driver keeps at most ``2 × workers`` tasks in flight and consumes results
  as they arrive, so its memory does not grow with the number of inputs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future

from affectlens.errors import AffectlensError
from affectlens.scale.tasks import SourceOutput, analyze_paths, call, unpack

__all__ = ["RayExecutor", "SourceOutput", "analyze_on_ray", "connect", "shutdown"]

IMAGES_PER_TASK = 16
_started_here = False


def _ray():
    try:
        import ray
    except ImportError:
        raise AffectlensError("--ray needs Ray: pip install 'affectlens[ray]'") from None
    return ray


def connect(address: str | None = None, num_cpus: int | None = None) -> str:
    """Start (no address, or ``local``) or join (``auto``, ``ray://host:10001``, ``host:6379``) a Ray runtime."""
    global _started_here
    ray = _ray()
    if ray.is_initialized():
        return "already connected"
    env = {"env_vars": {"OMP_NUM_THREADS": "1"}}
    opts = {"include_dashboard": False, "logging_level": "WARNING", "log_to_driver": False, "runtime_env": env}
    try:
        if address in (None, "", "local"):
            from affectlens.runtime import usable_cores  # the process's cpuset, not the host's cores

            ray.init(num_cpus=num_cpus or usable_cores(), **opts)
            _started_here = True
            return "local Ray runtime"
        ray.init(address=address, **opts)
    except ConnectionError as exc:
        raise AffectlensError(f"cannot reach the Ray cluster at {address}: {exc}") from None
    return f"Ray cluster at {address}"


def shutdown() -> None:
    """Stop the runtime if this process started it (a joined cluster keeps running)."""
    global _started_here
    if _started_here:
        _ray().shutdown()
        _started_here = False


def _remote(fn: Callable, num_cpus: float = 1, max_retries: int = 3):
    return _ray().remote(num_cpus=num_cpus, max_retries=max_retries)(fn)


class RayExecutor(Executor):
    """A :class:`concurrent.futures.Executor` whose jobs run as Ray tasks (one CPU each).

    ``submit(fn, *args)`` runs ``fn(*args)`` in a Ray worker process; a worker that dies is
    replaced and the task retried up to ``max_retries`` times before its future fails. As with
    :class:`~concurrent.futures.ProcessPoolExecutor`, ``initializer(*initargs)`` runs once in each
    worker process before its first job (the caller says what a worker needs; Ray knows no jobs).
    """

    def __init__(
        self,
        address: str | None = None,
        max_retries: int = 3,
        initializer: Callable | None = None,
        initargs: tuple = (),
    ):
        self.where = connect(address)
        self._call = _remote(call, max_retries=max_retries)
        self._init = (initializer, tuple(initargs))

    @property
    def workers(self) -> int:
        return max(int(_ray().cluster_resources().get("CPU", 1)), 1)

    def submit(self, fn, /, *args, **kwargs) -> Future:
        return self._call.remote(self._init, fn, *args, **kwargs).future()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        shutdown()


def _batches(paths: list[tuple]) -> Iterator[list[tuple[str, str | None]]]:
    """Videos alone, consecutive stills in batches of IMAGES_PER_TASK (input order kept); each entry
    ``(path, annotated file stem or None)``."""
    batch: list[tuple[str, str | None]] = []
    for path, is_video, *stem in paths:
        entry = (path, stem[0] if stem else None)
        if is_video:
            if batch:
                yield batch
                batch = []
            yield [entry]
        else:
            batch.append(entry)
            if len(batch) == IMAGES_PER_TASK:
                yield batch
                batch = []
    if batch:
        yield batch


def analyze_on_ray(
    paths: list[tuple],
    config: dict,
    address: str | None = None,
    annotate_dir: str | None = None,
    blur_faces: bool = False,
) -> Iterator[SourceOutput]:
    """Analyse ``(path, is_video[, annotated stem])`` inputs on Ray; yields one output per input, in input
    order (the same path given twice is analysed twice, as locally)."""
    connect(address)
    ray = _ray()
    task = _remote(analyze_paths)
    window = 2 * max(int(ray.cluster_resources().get("CPU", 1)), 1)
    pending: list = []
    batches = _batches(paths)
    for batch in batches:
        pending.append(task.remote(batch, config, annotate_dir, blur_faces))
        if len(pending) >= window:
            yield from (unpack(o) for o in ray.get(pending.pop(0)))
    while pending:
        yield from (unpack(o) for o in ray.get(pending.pop(0)))
