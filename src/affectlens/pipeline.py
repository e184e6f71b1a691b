"""The Analyzer: frames → detect → track → measure (mesh) → crop/align → classify (batched) → smooth
→ engagement → results.

No stage knows where frames come from or where results go. Faces of up to ``batch_frames``
frames are classified in one ONNX Runtime call; video decoding runs in its own thread, and the
detector runs ahead of the later stages in another (:func:`detect_ahead`).
"""

from __future__ import annotations

import itertools
import numbers
import queue
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from functools import cached_property
from pathlib import Path

import numpy as np

from affectlens.classify import DEFAULT_MODEL, ExpressionClassifier, get_model
from affectlens.detect import FaceDetector, check_detector, get_detector
from affectlens.detect.base import as_rgb8, detect_padded, whole_image_face
from affectlens.errors import AffectlensError
from affectlens.follow import SCENE_CUT, Keyframes, MeshFollower
from affectlens.runtime import one_malloc_arena, release_free_memory
from affectlens.signals.engagement import EngagementConfig, EngagementScorer
from affectlens.smoothing import EmaSmoother
from affectlens.sources import Frame, Source, list_inputs, open_item, skipping
from affectlens.track import FaceTracker
from affectlens.types import Faces, FrameResult

DEVICES = ("auto", "cpu", "cuda")
SMOOTHING_FPS = 30.0  # smoothing_alpha and the engagement alpha are the weight of one frame at this rate
_FLAGS = {"smoothing_alpha": "--alpha", "analysis_fps": "--fps", "stride": "--stride", "detect_every": "--detect-every"}
_FLAGS |= {"min_face": "--min-face", "device": "--device"}


def _whole_face_box(image: np.ndarray, crop_scale: float) -> np.ndarray:
    """``--crops``: the box whose crop is the image's centred square, as training and ``eval`` read a face
    image (the full-frame box scaled by ``crop_scale`` read the face 13 % small in a smeared frame)."""
    h, w = image.shape[:2]
    half = min(h, w) / 2 / crop_scale
    return np.array([w / 2 - half, h / 2 - half, w / 2 + half, h / 2 + half], np.float32)


@dataclass
class AnalyzerConfig:
    detector: str = "blazeface"
    model: str = DEFAULT_MODEL
    smoothing_alpha: float = 0.5
    stride: int = 1
    min_face: int = 16  # px: smaller detections are ignored
    min_score: float = 0.5  # detector confidence
    device: str = "auto"  # auto | cpu | cuda (ONNX Runtime providers)
    threads: int | None = None
    batch_frames: int = 16
    lost_track_buffer_s: float = 1.5
    tile_video: bool = False  # also scan overlapping tiles of video frames (small faces; ~3x detector cost)
    keep_images: bool = False  # keep each frame's pixels on the result (annotation)
    signals: bool = True  # head pose, eyes, mouth and the engagement columns (face mesh per face)
    engagement: EngagementConfig = field(default_factory=EngagementConfig)
    crops: bool = False  # every image already is one face: skip detection, the whole image is the face
    pad_retry: float = 0.4  # stills with no face found are searched again inside a border of this x their side
    analysis_fps: float | None = (
        None  # video: expressions and signals at most this often per second (None: every frame)
    )
    detect_every: int = 1  # video: run the detector on every N-th frame and after cuts; between, faces are followed
    detect_ahead: bool = True  # video: decode and detect in a worker thread, overlapping the later stages

    def __post_init__(self) -> None:
        """Refuse values no run can use, here, before any model is loaded or output file opened."""
        if isinstance(self.engagement, dict):  # engagement={"yaw_away": 30}: checked as a file's keys are
            self.engagement = EngagementConfig().with_overrides(self.engagement, "engagement")
        elif not isinstance(self.engagement, EngagementConfig):
            raise AffectlensError(f"engagement = {self.engagement!r}: must be an EngagementConfig or a dict of fields")
        for name in _NUMBERS:  # "0.5" or None where a number goes: one line, not a TypeError from a comparison
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real)):
                raise AffectlensError(f"{name} = {value!r}: must be a number")
            if isinstance(value, np.generic):  # NumPy scalars work; kept as Python numbers (JSON, Ray, run.json)
                setattr(self, name, value.item())
        if self.analysis_fps == 0:
            self.analysis_fps = None
        self.device = str(self.device).lower()
        checks = [
            ("smoothing_alpha", self.smoothing_alpha, 0 < self.smoothing_alpha <= 1, "in (0, 1]: 1 is no smoothing"),
            ("analysis_fps", self.analysis_fps, self.analysis_fps is None or 0 < self.analysis_fps < 1e4, "> 0"),
            ("stride", self.stride, self.stride >= 1, ">= 1"),
            ("detect_every", self.detect_every, self.detect_every >= 1, ">= 1"),
            ("batch_frames", self.batch_frames, self.batch_frames >= 1, ">= 1"),
            ("min_face", self.min_face, self.min_face >= 0, ">= 0"),
            ("min_score", self.min_score, 0 <= self.min_score <= 1, "in [0, 1]"),
            ("lost_track_buffer_s", self.lost_track_buffer_s, 0 <= self.lost_track_buffer_s < 1e6, ">= 0"),
            ("pad_retry", self.pad_retry, 0 <= self.pad_retry <= 10, "in [0, 10]"),
            ("device", self.device, self.device in DEVICES, f"one of {', '.join(DEVICES)}"),
            ("threads", self.threads, self.threads is None or self.threads >= 1, ">= 1"),
        ]
        for name, value, ok, want in checks:  # NaN fails every comparison, so it is refused too
            if not ok:
                flag = f" ({_FLAGS[name]})" if name in _FLAGS else ""
                raise AffectlensError(f"{name}{flag} = {value!r}: must be {want}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> AnalyzerConfig:
        """The inverse of :meth:`to_dict` (a config sent to a Ray worker, or read back from run.json)."""
        d = dict(d)
        eng = d.pop("engagement", None)
        engagement = eng if isinstance(eng, EngagementConfig) else EngagementConfig(**(eng or {}))
        return cls(**d, engagement=engagement)


_NUMBERS = ("smoothing_alpha", "analysis_fps", "stride", "detect_every", "batch_frames", "min_face", "min_score",
            "lost_track_buffer_s", "pad_retry", "threads")  # fmt: skip


@dataclass
class Timings:
    decode: float = 0.0
    detect: float = 0.0
    classify: float = 0.0
    frames: int = 0
    faces: int = 0
    extra: dict[str, float] = field(default_factory=dict)


class Analyzer:
    """Analyse images, folders, videos, streams and cameras.

    >>> from affectlens import Analyzer
    >>> for result in Analyzer().analyze("clip.mp4"):   # doctest: +SKIP
    ...     print(result.frame, result.time_s, result.top_labels())
    """

    def __init__(self, config: AnalyzerConfig | None = None, **overrides):
        self.config = replace(config or AnalyzerConfig(), **overrides)
        c = self.config
        one_malloc_arena()
        self.classifier: ExpressionClassifier = get_model(c.model).prepare(device=c.device, threads=c.threads)
        check_detector(c.detector)  # the detectors themselves load on first use (stills vs video frames)
        self.labels = self.classifier.labels
        self.signals = None
        if c.signals:
            from affectlens.runtime import providers_for
            from affectlens.signals.measure import SignalExtractor

            # following faces between keyframes runs the mesh frame by frame, on a face or two: one thread
            # is faster there than two that wake each other for every layer
            threads = 1 if c.detect_every > 1 else c.threads
            self.signals = SignalExtractor(threads=threads, providers=providers_for(c.device))
        self.timings = Timings()
        self._worker: ThreadPoolExecutor | None = None
        self._worker_busy = False
        self._worker_lock = threading.Lock()

    @cached_property
    def detector(self) -> FaceDetector:
        """The detector for still images (several tiled views of a large one): every core."""
        return self._new_detector(self.config.threads)

    @cached_property
    def frame_detector(self) -> FaceDetector:
        """The detector for video files and streams read ahead in the worker thread: one intra-op thread.

        There the detector runs beside the face mesh and the classifier, which keep the other core busy;
        a second intra-op thread only added synchronisation: hamilton clip in-process on 2 cores,
        3.35 → 3.06 CPU-seconds a pass and 2.00 → 1.91 s. Where nothing runs beside it (``detect_ahead``
        off, or frames taken one at a time: webcams, live sessions) or ``threads`` is set, this is
        :attr:`detector` itself.
        """
        c = self.config
        if not (c.detect_ahead and c.batch_frames > 1) or c.threads is not None:
            return self.detector
        return self._new_detector(threads=1)

    def _new_detector(self, threads: int | None) -> FaceDetector:
        c = self.config
        return get_detector(c.detector, score_threshold=c.min_score, device=c.device, threads=threads)

    def load_detectors(self) -> Analyzer:
        """Load the detectors now instead of on first use (a server loads every model at start-up)."""
        _ = self.detector, self.frame_detector
        return self

    @property
    def detect_group(self) -> int:
        """Video frames per detector run. One CPU thread runs best one frame at a time (CPU per frame at
        1 / 4 / 16 frames a run: 3.85 / 4.3 / 5.2 ms, larger batches fall out of the cache; whole process
        on hamilton 2.46 → 2.39 s); with more threads, or on a GPU, :data:`DETECT_GROUP` frames a run cost
        a third less per frame than one each."""
        sess = getattr(self.frame_detector, "session", None)
        if sess is None or sess.get_providers()[0] != "CPUExecutionProvider":
            return DETECT_GROUP
        return 1 if sess.get_session_options().intra_op_num_threads == 1 else DETECT_GROUP

    def worker(self) -> ThreadPoolExecutor:
        """The one thread that decodes and detects ahead (:func:`detect_ahead`), kept for the analyser's
        life (a new thread per video took a new malloc arena each time: RSS +40 MB a pass). Python joins
        it at exit, before native libraries unload (a daemon thread left there aborted the process)."""
        if self._worker is None:
            self._worker = ThreadPoolExecutor(1, thread_name_prefix="affectlens-detect")
        return self._worker

    @contextmanager
    def ahead_worker(self) -> Iterator[ThreadPoolExecutor]:
        """:meth:`worker` for one stream at a time; a stream started while another is under way (a video
        generator left paused, two videos zipped, two threads) gets a thread of its own, instead of waiting
        behind the first for ever."""
        with self._worker_lock:
            shared, self._worker_busy = not self._worker_busy, True
        if shared:
            try:
                yield self.worker()
            finally:
                with self._worker_lock:
                    self._worker_busy = False
            return
        extra = ThreadPoolExecutor(1, thread_name_prefix="affectlens-detect-extra")
        try:
            yield extra
        finally:
            extra.shutdown(wait=False)

    # -- public API ---------------------------------------------------------------------------
    def analyze(
        self,
        source: str | Path | Source | np.ndarray,
        on_skip: Callable[[str], None] | None = None,
        color: str = "rgb",
    ) -> Iterator[FrameResult]:
        """Stream :class:`FrameResult` for every (strided) frame of every item in ``source``.

        In a folder, a file that cannot be read, or a video that breaks part-way (its frames before the break
        come out), is skipped with a warning and its reason passed to ``on_skip``, as ``affectlens analyze``
        does; a single input that fails raises :class:`AffectlensError`. ``color``: the channel order of an
        array given as ``source`` (see :meth:`analyze_image`); files are decoded by affectlens."""
        if isinstance(source, np.ndarray):
            yield self.analyze_image(source, color=color)
            return
        if isinstance(source, Source):
            yield from self.analyze_source(source)
            return
        for item in list_inputs(source):
            with skipping(item, on_skip):
                yield from self.analyze_source(open_item(item, self.config.stride))

    def analyze_image(self, image: np.ndarray, name: str = "<array>", color: str = "rgb") -> FrameResult:
        """One image → its faces, ids numbered left to right. RGB (H, W, 3) uint8, or any array
        :func:`~affectlens.detect.base.as_rgb8` converts (gray, RGBA, 16-bit, floats in 0-1), converted
        once (:func:`rgb_frame`, as every frame) so every stage (detector, crops, face mesh) reads the same pixels.
        ``color="bgr"`` for an image in OpenCV's channel order (``cv2.imread``): read as RGB, its faces' colours
        are swapped, which the detector and face mesh see."""
        return next(self._run(iter([rgb_frame(Frame(image, 0, None, name), color)]), video=False))

    def analyze_source(self, src: Source, small_faces: bool | None = None) -> Iterator[FrameResult]:
        """Every frame's result; ``small_faces`` overrides ``config.tile_video`` for this source (a service's
        shared analyzer blurring a job's faces must find the small ones too)."""
        try:
            frames, video = iter(src), src.is_video
            if video:  # a video of one frame (a photo behind a URL, --stride past the end) is read as a photo:
                head, frames = _peek(frames, 2)  # a face is tracked, and so written, from its second frame
                video = len(head) > 1
            yield from self._run(frames, video=video, fps=src.fps, tile=small_faces)
        finally:
            src.close()

    # -- stages -------------------------------------------------------------------------------
    def detect(self, image: np.ndarray, video: bool = False, tile: bool | None = None) -> Faces:
        """Faces in one RGB frame; stills are also scanned in tiles when large (small faces), and
        searched again inside a border when nothing is found (an image that is a face crop)."""
        c = self.config
        if video:
            return self.detect_frames([image], tile)[0]
        if c.crops:
            det = detect_padded(self.detector, image, c.pad_retry or 0.4)
            whole = whole_image_face(image)
            return Faces(whole.boxes, whole.scores, landmarks=det.landmarks[:1] if len(det) else None)
        faces = self.detector.detect(image, tile="auto")
        if not len(faces) and c.pad_retry:
            faces = detect_padded(self.detector, image, c.pad_retry)
        return self._large_enough(faces)

    def detect_frames(self, images: list[np.ndarray], tile: bool | None = None) -> list[Faces]:
        """Faces in several video frames, with one detector run for all of them (in tiles: ``tile``, or
        ``config.tile_video`` where None)."""
        tile = self.config.tile_video if tile is None else tile
        found = self.frame_detector.detect_batch(images, tile=tile)
        return [self._large_enough(f) for f in found]

    def _large_enough(self, faces: Faces) -> Faces:
        if not len(faces):
            return faces
        side = np.minimum(faces.boxes[:, 2] - faces.boxes[:, 0], faces.boxes[:, 3] - faces.boxes[:, 1])
        kept = faces[side >= self.config.min_face]
        kept.unread = faces.boxes[side < self.config.min_face]
        return kept

    def crops(self, image: np.ndarray, faces: Faces) -> np.ndarray:
        pre = self.classifier.preprocess
        out = []
        for i in range(len(faces)):
            eyes = faces.landmarks[i, :2] if faces.landmarks is not None else None
            box = _whole_face_box(image, pre.crop_scale) if self.config.crops else faces.boxes[i]
            out.append(pre.crop_box(image, box, eyes))
        shape = (0, pre.size, pre.size) + (() if pre.channels == 1 else (3,))
        return np.stack(out) if out else np.zeros(shape, np.uint8)

    # -- the loop -----------------------------------------------------------------------------
    def stream(self, video: bool = True, fps: float | None = None, batch_frames: int | None = None) -> Stream:
        """A new :class:`Stream`: the per-stream state (tracks, smoothing, engagement) over this analyzer."""
        return Stream(self, video, fps, batch_frames)

    def _run(
        self, frames: Iterator[Frame], video: bool, fps: float | None = None, tile: bool | None = None
    ) -> Iterator[FrameResult]:
        stream = self.stream(video, fps)
        stream.tile = tile
        frames = _rgb_frames(frames, video, fps)
        # (live use classifies frame by frame, batch_frames 1: the camera is read as results are wanted)
        if self.config.detect_ahead and stream.batch_frames > 1:
            pairs = detect_ahead(self, frames, video, stream.keyframes.due, tile=tile)
        else:
            pairs = ((f, None, None) for f in _timed(frames, self.timings))
        try:
            n = 0
            while (item := _next_or_fail(pairs)) is not None:
                if isinstance(item, AffectlensError):  # the source broke (a corrupt video): the frames
                    yield from stream.flush()  # analysed before it still come out, then the error
                    raise item
                n += 1
                yield from stream.add(*item)
                if video and n % TRIM_EVERY_FRAMES == 0:
                    release_free_memory()
            yield from stream.flush()
        finally:  # an error or a stop in any stage ends the worker now (a traceback may keep this frame alive)
            pairs.close()
            if video:
                release_free_memory()


def _sampling_s(fps: float | None, stride: int, analysis_fps: float | None) -> float:
    """What a held state's duration, read from its first to its last analysed frame, is extended by: half of
    how much further apart the analysed frames are than the source's (``--stride``, ``--fps``). A state seen
    in k frames spaced h apart lasted between (k - 1) h and (k + 1) h; the first-to-last reading is its
    least, and a whole h more would make every blink seen once at 2 fps read as closed eyes."""
    if not fps or not np.isfinite(fps) or fps <= 0:
        return 0.0
    spacing = max(stride / fps, 1.0 / analysis_fps if analysis_fps else 0.0)
    return 0.5 * max(spacing - 1.0 / fps, 0.0)


def _peek(frames: Iterator[Frame], n: int) -> tuple[list[Frame], Iterator[Frame]]:
    """The first ``n`` frames (fewer if the source ends or breaks) and an iterator over all of them."""
    head: list[Frame] = []
    try:
        while len(head) < n:
            head.append(next(frames))
    except StopIteration:
        return head, iter(head)
    except AffectlensError as exc:  # raised again after the frames before it
        return head, itertools.chain(head, _raise(exc))
    return head, itertools.chain(head, frames)


def _raise(exc: Exception) -> Iterator:
    raise exc
    yield  # a generator: raises when iterated


def _next_or_fail(pairs: Iterator) -> tuple | AffectlensError | None:
    """The next (frame, faces, key), None at the end, or the error the source raised instead."""
    try:
        return next(pairs)
    except StopIteration:
        return None
    except AffectlensError as exc:
        return exc


_END = object()
AHEAD_BYTES = 256 * 2**20  # frames decoded and detected ahead hold at most this many bytes of pixels
DETECT_GROUP = 4  # video frames detected in one model run by a detector with several threads (or a GPU)
GROUP_MAX_BYTES = 8 * 2**20  # larger frames (4K) are detected one by one
TRIM_EVERY_FRAMES = 2048  # the heap's free pages go back to the OS this often in a long video (~68 s at 30 fps)


def rgb_frame(frame: Frame, color: str = "rgb") -> Frame:
    """``frame`` with an RGB uint8 image: a custom :class:`Source` (or a live caller) may give floats in 0-1, gray,
    RGBA or 16-bit frames, read wrong or failing deep in a stage where a still image was converted; ``color``: the
    channel order it comes in (``"bgr"``: OpenCV's)."""
    img = frame.image
    rgb8 = isinstance(img, np.ndarray) and img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
    if rgb8 and color == "rgb":
        return frame if img.flags.c_contiguous else replace(frame, image=np.ascontiguousarray(img))
    try:
        return replace(frame, image=as_rgb8(img, color))
    except ValueError as exc:
        raise AffectlensError(f"{frame.source} frame {frame.index}: {exc}") from None


def _rgb_frames(frames: Iterator[Frame], video: bool, fps: float | None) -> Iterator[Frame]:
    """RGB frames; a video's frames without a time (a custom :class:`Source`) get ``index / fps`` (30 frames a
    second when the source gives no rate), said once: without a time every frame was read as a still image, with
    no blink, hold or smoothing over time."""
    rate, said = fps or 30.0, False
    try:
        for frame in frames:
            if video and frame.time_s is None:
                if not said:
                    note = f"{frame.source}: video frames without time_s, timed as index / {rate:g} fps"
                    warnings.warn(note, stacklevel=2)
                    said = True
                frame = replace(frame, time_s=frame.index / rate)
            yield rgb_frame(frame)
    finally:  # closing this closes the source's iterator, as the read-ahead worker does
        close = getattr(frames, "close", None)
        if close is not None:
            close()


# Set as the interpreter starts to exit, before it joins the worker threads: a stream whose generator was left
# paused (never closed) stops waiting for its consumer instead of holding the exit for ever. (Python's threading
# exit hooks run before the pools' own; there is no public one.)
_EXITING = threading.Event()
getattr(threading, "_register_atexit", lambda f: None)(_EXITING.set)


def detect_ahead(
    analyzer: Analyzer,
    frames: Iterator[Frame],
    video: bool,
    key: Callable[[np.ndarray], bool] | None = None,
    depth: int | None = None,
    tile: bool | None = None,
) -> Iterator[tuple[Frame, Faces | None, bool]]:
    """``(frame, its detected faces, whether it is a keyframe)`` with decoding and detection done in a
    worker thread.

    Detecting the next frames overlaps the face mesh, classifier and tracker of the current batch
    (ONNX Runtime, OpenCV and the decoder release the GIL), so the single-threaded parts of each
    stage no longer leave a core idle. Video frames are detected :attr:`Analyzer.detect_group` at a time, in
    one model run. Up to ``depth`` frames (default: one classification batch,
    within :data:`AHEAD_BYTES`) wait in between. Only frames for which ``key(image)`` holds (default:
    all) are detected; the others come with ``None`` and ``False`` (the stream follows its
    keyframes' faces). An error in the worker is raised here; closing this generator stops the worker.
    """
    q: queue.SimpleQueue = queue.SimpleQueue()
    stop = threading.Event()
    room: list[threading.Semaphore] = []  # made on the first frame, when its size is known
    tm = analyzer.timings
    depth = depth or analyzer.config.batch_frames
    per_run = analyzer.detect_group  # (loads the detector here, not in the worker)

    def wait_for_room(frame: Frame) -> bool:
        if not room:
            room.append(threading.Semaphore(max(2, min(depth, AHEAD_BYTES // max(frame.image.nbytes, 1)))))
        while not stop.is_set() and not _EXITING.is_set():
            if room[0].acquire(timeout=0.1):
                return True
        return False

    def hand_over(group: list[tuple[Frame, bool]]) -> bool:
        """Detect a group of frames in one run, then queue them in order (False: stopped)."""
        t = time.perf_counter()
        todo = [frame.image for frame, due in group if due]
        found = iter(analyzer.detect_frames(todo, tile) if video else [analyzer.detect(image) for image in todo])
        tm.detect += time.perf_counter() - t
        for frame, due in group:
            if not wait_for_room(frame):
                return False
            q.put((frame, next(found) if due else None, due))
        group.clear()
        return True

    def work() -> None:
        try:
            group: list[tuple[Frame, bool]] = []
            for frame in _timed(frames, tm):
                group.append((frame, key is None or key(frame.image)))
                full = len(group) >= (per_run if frame.image.nbytes <= GROUP_MAX_BYTES else 1)
                if full and not hand_over(group):
                    return
            if group and not hand_over(group):
                return
            q.put(_END)
        except BaseException as exc:  # handed to the consumer, raised there
            q.put(exc)
        finally:  # the frames' iterator ends in this thread, before the caller closes the source
            close = getattr(frames, "close", None)
            if close is not None:
                close()

    with analyzer.ahead_worker() as worker:
        done = worker.submit(work)
        try:
            while (item := q.get()) is not _END:
                if isinstance(item, BaseException):
                    raise item
                room[0].release()
                yield item
        finally:
            stop.set()
            wait([done], timeout=10)


def _timed(frames: Iterator[Frame], tm: Timings) -> Iterator[Frame]:
    while True:
        t = time.perf_counter()
        frame = next(frames, None)
        tm.decode += time.perf_counter() - t
        if frame is None:
            return
        yield frame


class Stream:
    """One stream's state (tracker, smoother, engagement scorer) stepping frames through the stages.

    The still-image vs video policy is decided here, once: a video's faces are tracked (ids from
    ByteTrack, batched classification of ``batch_frames`` frames, engagement over time); a still's
    faces are numbered left to right and analysed at once, each decision from that image alone.
    ``Analyzer.analyze`` and the service's live sessions both step frames through a Stream.
    """

    def __init__(self, analyzer: Analyzer, video: bool, fps: float | None = None, batch_frames: int | None = None):
        c = analyzer.config
        self.analyzer = analyzer
        self.video = video
        self.batch_frames = (batch_frames or c.batch_frames) if video else 1
        self.tracker = FaceTracker(fps=fps, lost_track_buffer_s=c.lost_track_buffer_s) if video else None
        # smoothing weights are one frame's at 30 fps, applied per second of video: the same smoothing in seconds
        # at any source rate and --fps (at the source's own rate a 12 fps clip was smoothed 2.5x longer than 30)
        rate = SMOOTHING_FPS if video else None
        self.smoother = EmaSmoother(alpha=c.smoothing_alpha, frame_rate=rate)
        sampling = _sampling_s(fps, c.stride, c.analysis_fps) if video else 0.0
        self.scorer = (
            EngagementScorer(c.engagement, analyzer.labels, rate, sampling) if analyzer.signals is not None else None
        )
        self.analysis_fps = c.analysis_fps if video and c.analysis_fps else None
        self._slot = None  # the last 1/analysis_fps interval of video time that got an analysed frame
        self._pending: list[tuple[Frame, Faces, np.ndarray]] = []
        self.keyframes = Keyframes(c.detect_every if video else 1)
        # between keyframes faces are followed by the face mesh when it runs anyway (signals on), else held
        self.follow = self.keyframes.every > 1 and analyzer.signals is not None
        self._last: Faces | None = None  # the tracked faces of the last frame, kept between keyframes
        self.tile: bool | None = None  # video frames searched in tiles (None: the analyzer's config says)

    def due(self, frame: Frame, faces: Faces) -> bool:
        """At a reduced analysis rate, the first frame of each 1/analysis_fps interval is analysed; where
        it holds no face with an id but one waits for its second detection to get one, the next frame is
        (the video's first frame never has an id: its first 1/analysis_fps s was lost, --fps 0.1 gave no row)."""
        if self.analysis_fps is None or frame.time_s is None:
            return True
        slot = int(np.floor(frame.time_s * self.analysis_fps + 1e-6))
        if slot == self._slot or (not len(faces) and self.tracker.tentative):
            return False
        self._slot = slot
        return True

    def add(self, frame: Frame, detected: Faces | None = None, key: bool | None = None) -> list[FrameResult]:
        """Detect, track and crop ``frame``; returns the batch's results once it is full, else ``[]``.

        ``detected``: the frame's faces when the detector already ran on it (:func:`detect_ahead`);
        ``key``: whether it is a keyframe (None: :attr:`keyframes` decides).
        Between analysed frames (``analysis_fps``) faces are still detected and tracked, so ids stay
        stable, but nothing is classified or measured and no result is returned.
        """
        a = self.analyzer
        t = time.perf_counter()
        if self.tracker is not None:
            faces = self._tracked(frame, detected, key)
            if not self.due(frame, faces):
                a.timings.detect += time.perf_counter() - t
                return []
        else:  # a still image: ids 0..N-1 from left to right
            faces = detected if detected is not None else a.detect(frame.image, self.video)
            faces, unread = faces[np.argsort(faces.boxes[:, 0], kind="stable")], faces.unread
            faces.track_ids, faces.unread = np.arange(len(faces), dtype=np.int64), unread
        self._pending.append((frame, faces, a.crops(frame.image, faces)))
        a.timings.detect += time.perf_counter() - t
        return self.flush() if len(self._pending) >= self.batch_frames else []

    def _tracked(self, frame: Frame, detected: Faces | None = None, key: bool | None = None) -> Faces:
        """A video frame's faces with track ids: detected and tracked on keyframes, followed in between.

        ByteTrack confirms a new face on its second detection; until then (and for weak detections
        matching no track) it answers -1: such faces are left out, and the next frame is detected too
        (in this thread: a keyframe later the face would have lost frames every-frame detection keeps).
        Between keyframes (``detect_every``, :class:`~affectlens.follow.Keyframes`) the last frame's
        faces are moved by the face mesh
        (:class:`~affectlens.follow.MeshFollower`), or held where signals are off: a face moves a few
        pixels in 1/15 s and the classifier's crops are trained with ±10 % shifts.
        """
        if key is None:
            key = self.keyframes.due(frame.image)
        if key == SCENE_CUT:  # a new shot: its faces start new tracks (tv_family_dinner: one id spanned 5 people)
            self.tracker.reset()
        # a face seen once on the last keyframe is detected again now, not a keyframe later: it gets its id
        # on the frame after its first detection, as with every-frame detection
        # (the analyser's signal extractor is looked up now: a live session's analyser is lent per frame)
        follower = MeshFollower(self.analyzer.signals) if self.follow else None
        # without timestamps the frame index is the clock: the tracker sees only some of the frames
        t = frame.time_s
        if t is None and self.keyframes.every > 1:
            t = frame.index / self.tracker.frame_rate
        if not key and self._last is not None and not self.tracker.tentative:
            if follower is None:
                faces = self._last
            else:  # the tracker learns where the mesh saw each face: the next keyframe matches against it
                faces = follower.follow(frame.image, self._last)
                self.tracker.follow(faces, t)
        else:
            faces = detected if detected is not None else self.analyzer.detect(frame.image, self.video, self.tile)
            self.tracker.update(faces, t)
            unread = [faces.boxes[faces.track_ids < 0]] + ([faces.unread] if faces.unread is not None else [])
            faces = faces[faces.track_ids >= 0]
            faces.unread = np.concatenate(unread)  # a face's first frame has no id yet: not a row, still blurred
            if follower is not None:
                follower.measure(frame.image, faces)
        if self.keyframes.every > 1:  # keep a clean copy for the next frame (later stages write into ``faces``)
            if faces.unread is None and self._last is not None:  # followed or held: the faces not read stay
                faces.unread = self._last.unread  # where they were found (blurred between keyframes too)
            self._last = faces.copy()
        return faces

    def step(self, frame: Frame) -> FrameResult:
        """One frame in, its result out (live streams: no batching across frames). Its image may be any array
        :func:`~affectlens.detect.base.as_rgb8` converts."""
        return (self.add(rgb_frame(frame)) + self.flush())[-1]

    def flush(self) -> list[FrameResult]:
        """Measure, classify, smooth and score the pending frames; their results in order."""
        pending, self._pending = self._pending, []
        if not pending:
            return []
        a = self.analyzer
        tm = a.timings
        if a.signals is not None:
            t = time.perf_counter()
            a.signals.measure_many([(frame.image, faces) for frame, faces, _ in pending])
            tm.extra["signals"] = tm.extra.get("signals", 0.0) + time.perf_counter() - t
        t = time.perf_counter()
        all_crops = np.concatenate([p[2] for p in pending])
        probs = a.classifier.predict(all_crops) if len(all_crops) else np.zeros((0, len(a.labels)), np.float32)
        tm.classify += time.perf_counter() - t
        return [
            self._finish(frame, faces, part)
            for (frame, faces, _), part in zip(pending, _split(probs, pending), strict=True)
        ]

    def _finish(self, frame: Frame, faces: Faces, probs: np.ndarray) -> FrameResult:
        faces.probs = probs
        self.smoother.update(faces, frame.index, frame.time_s)
        if self.scorer is not None:
            self.scorer.update(faces, frame.time_s if self.video else None)
        tm = self.analyzer.timings
        tm.frames += 1
        tm.faces += len(faces)
        h, w = frame.image.shape[:2]
        keep = self.analyzer.config.keep_images
        return FrameResult(
            frame.source,
            frame.index,
            frame.time_s,
            w,
            h,
            faces,
            self.analyzer.labels,
            image=frame.image if keep else None,
        )


def _split(probs: np.ndarray, pending: list) -> list[np.ndarray]:
    bounds = np.cumsum([len(faces) for _, faces, _ in pending])[:-1]
    return np.split(probs, bounds)


def analyze(source, **config) -> list[FrameResult]:
    """Convenience: analyse ``source`` with default settings and return every result."""
    return list(Analyzer(**config).analyze(source))
