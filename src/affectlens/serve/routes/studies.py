"""Studies over HTTP: thin endpoints over :mod:`affectlens.studies` (its Python API does the work).

Uploaded stimuli and recordings are kept in the study's folder (``uploads/``) until processed;
a recording is deleted once its results are stored unless the study keeps media. ``run``
processes the pending recordings in a background thread; poll ``GET /v1/studies/{name}`` for each respondent's state.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from affectlens.errors import AffectlensError, Conflict, Gone, NotFound
from affectlens.report import write_report
from affectlens.serve.errors import ApiError
from affectlens.serve.security import require_key
from affectlens.serve.state import ServeState, get_state
from affectlens.serve.uploads import save_upload

router = APIRouter(prefix="/v1/studies", tags=["studies"], dependencies=[Depends(require_key)])
ERRORS = {404: {"description": "no such study"}, 409: {"description": "conflict"}}
REPORT_CSP = (
    "default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; img-src data:; "
    "media-src data:"
)


def _api():
    try:
        import affectlens.studies as studies
        from affectlens.studies.locations import locate, studies_root
    except ImportError as exc:  # pragma: no cover - the studies package is part of affectlens
        raise ApiError(503, f"studies are not available on this server ({exc})") from None
    return studies, locate, studies_root


def _call(fn, *args, **kwargs):
    """Run a studies function, turning its user errors into 404 / 409 / 422."""
    try:
        return fn(*args, **kwargs)
    except NotFound as exc:
        raise ApiError(404, str(exc)) from None
    except Gone as exc:
        raise ApiError(410, str(exc)) from None
    except Conflict as exc:
        raise ApiError(409, str(exc)) from None
    except AffectlensError as exc:
        raise ApiError(422, str(exc)) from None


class Respondent(BaseModel):
    respondent: str
    state: str  # invited | opened | consented | expired | revoked | pending | running | done | partial | failed
    status: str  # the same as state (kept for older clients)
    source: str  # upload | remote
    seconds_watched: float | None
    offset_s: float | None
    tags: dict[str, str]
    frames: int | None
    face_frames: int | None
    duration_s: float | None
    expires: str | None  # a remote respondent's link expiry (UTC, ISO 8601)
    error: str | None


class StudyInfo(BaseModel):
    name: str
    stimulus: str
    stimulus_duration_s: float
    model: str | None  # the expression model of every recording (None: a study made before studies recorded it)
    running: bool
    counts: dict[str, int]
    respondents: list[Respondent]


def _info(name: str, db: str | None, running: set[str] | frozenset = frozenset()) -> StudyInfo:
    studies, _, _ = _api()
    study, people = _call(studies.respondents, name, db)
    counts = dict(Counter(p.state for p in people))
    return StudyInfo(
        name=study.name,
        stimulus=Path(study.stimulus_path).name,
        stimulus_duration_s=study.stimulus_duration_s,
        model=study.model_name,
        running=study.name in running,
        counts=counts,
        respondents=[Respondent(**p.to_dict(), status=p.state) for p in people],
    )


def _names(db: str | None) -> list[str]:
    studies, _, _ = _api()
    return studies.study_names(db)


@router.get("", response_model=list[StudyInfo], summary="Every study with its respondents' processing state")
def list_studies(state: ServeState = Depends(get_state)) -> list[StudyInfo]:
    db = state.settings.db_url
    return [_info(n, db, state.study_runs) for n in _names(db)]


@router.post(
    "", status_code=201, response_model=StudyInfo, summary="Create a study from a stimulus video", responses=ERRORS
)
async def create_study(
    name: str = Form(..., description="letters, digits, '.', '_' and '-'"),
    stimulus: UploadFile = File(..., description="the ad or content video respondents watched"),
    require_consent: bool = Form(False, description="process only recordings added with consent=true"),
    keep_media: bool = Form(False, description="keep respondents' videos (default: deleted once processed)"),
    state: ServeState = Depends(get_state),
) -> StudyInfo:
    studies, locate, _ = _api()
    db = state.settings.db_url
    loc = _call(locate, name, db)
    if loc.default_db and loc.sqlite_file.exists():
        raise ApiError(409, f"study {name!r} already exists")
    uploads = loc.folder / "uploads"
    incoming = Path(tempfile.mkdtemp(dir=_tmp_root(loc.folder)))
    try:
        saved = await save_upload(
            stimulus, incoming, state.settings.max_upload_bytes, video_only="the stimulus must be a video"
        )
    except BaseException:
        shutil.rmtree(incoming, ignore_errors=True)
        raise
    uploads.mkdir(parents=True, exist_ok=True)
    path = uploads / f"stimulus{saved.path.suffix}"
    try:  # a hard link never replaces a file: another study's (or a concurrent create's) stimulus stays
        os.link(saved.path, path)
    except FileExistsError:
        raise ApiError(409, f"study {name!r} already exists") from None
    finally:
        shutil.rmtree(saved.path.parent, ignore_errors=True)
    try:
        await run_in_threadpool(
            _call,
            studies.create_study,
            name,
            path,
            db,
            require_consent=require_consent,
            keep_media=keep_media,
            model=state.settings.model,  # the server's: its live respondents are read by the same model
        )
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return await run_in_threadpool(_info, name, db, state.study_runs)


def _tmp_root(folder: Path) -> Path:
    root = folder.parent / ".incoming"
    root.mkdir(parents=True, exist_ok=True)
    return root


@router.get(
    "/{name}", response_model=StudyInfo, summary="A study and its respondents' processing state", responses=ERRORS
)
def get_study(name: str, state: ServeState = Depends(get_state)) -> StudyInfo:
    return _info(name, state.settings.db_url, state.study_runs)


@router.post(
    "/{name}/recordings",
    status_code=201,
    response_model=StudyInfo,
    summary="Add a respondent's recording",
    responses=ERRORS,
)
async def add_recording(
    name: str,
    file: UploadFile = File(..., description="the respondent's webcam video"),
    respondent: str = Form(..., description="a pseudonym, not a name"),
    offset_s: float = Form(
        0.0, ge=0, allow_inf_nan=False, description="seconds into the recording where the stimulus starts"
    ),
    tags: str = Form("", description="comma-separated key=value pairs, e.g. age=18-24,group=b"),
    consent: bool = Form(False, description="the respondent consented to this analysis"),
    state: ServeState = Depends(get_state),
) -> StudyInfo:
    studies, locate, _ = _api()
    db = state.settings.db_url
    await run_in_threadpool(_info, name, db)  # 404 before taking the upload
    tag_map = _call(studies.parse_tags, [t for t in tags.split(",") if t.strip()])
    folder = _call(locate, name, db).folder / "uploads"
    saved = await save_upload(
        file,
        folder / f".in-{uuid.uuid4().hex[:8]}",
        state.settings.max_upload_bytes,
        video_only="a recording must be a video",
    )
    path = saved.path.rename(folder / f"rec-{uuid.uuid4().hex[:12]}{saved.path.suffix}")
    shutil.rmtree(saved.path.parent, ignore_errors=True)
    try:
        await run_in_threadpool(
            _call, studies.add_recording, name, path, respondent, offset_s, tag_map, db, consent=consent
        )
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return await run_in_threadpool(_info, name, db, state.study_runs)


@router.post(
    "/{name}/run", status_code=202, response_model=StudyInfo, summary="Process pending recordings", responses=ERRORS
)
def run_study(name: str, state: ServeState = Depends(get_state)) -> StudyInfo:
    studies, _, _ = _api()
    db = state.settings.db_url
    _info(name, db)
    with state.study_lock:
        if name not in state.study_runs:
            state.study_runs.add(name)
            args = (studies, name, db, state)
            threading.Thread(target=_run, args=args, name=f"study-{name}", daemon=True).start()
    return _info(name, db, state.study_runs)


def _run(studies, name: str, db: str | None, state: ServeState) -> None:
    try:
        studies.run_study(name, workers=1, db=db)
    except Exception:  # the respondents' states say what failed
        import logging

        logging.getLogger("affectlens.serve").exception("study %s: run failed", name)
    finally:
        with state.study_lock:
            state.study_runs.discard(name)


def _records(df) -> list[dict[str, Any]]:
    if df is None or not len(df):
        return []
    if df.index.name is not None:  # e.g. the timeline is indexed by second
        df = df.reset_index()
    return json.loads(df.to_json(orient="records", date_format="iso"))


@router.get(
    "/{name}/seconds", summary="Per-second aggregates (timeline, per respondent, key moments)", responses=ERRORS
)
def get_seconds(name: str, state: ServeState = Depends(get_state)) -> dict[str, Any]:
    studies, _, _ = _api()
    _, t = _call(studies.tables, name, state.settings.db_url)
    return {
        "timeline": _records(t.timeline),
        "respondent_seconds": _records(t.per_second),
        "key_moments": _records(t.key_moments),
        "tag_timelines": _records(t.group_timelines),
    }


@router.get(
    "/{name}/report", response_class=HTMLResponse, summary="The study's self-contained HTML report", responses=ERRORS
)
def get_report(name: str, state: ServeState = Depends(get_state)) -> HTMLResponse:
    with tempfile.TemporaryDirectory() as tmp:
        out = _call(write_report, name, Path(tmp) / "report.html", state.settings.db_url)
        html = out.read_text(encoding="utf-8")
    return HTMLResponse(html, headers={"Content-Security-Policy": REPORT_CSP})


class InviteRequest(BaseModel):
    respondents: list[str] = Field(default_factory=list, description="pseudonyms to invite")
    count: int = Field(0, ge=0, le=10_000, description="also invite this many generated pseudonyms")
    tags: dict[str, str] = Field(default_factory=dict, description="key=value tags of every invited respondent")
    expires: str = Field("7d", description="how long the links work: 7d, 12h, 30m, 2w")


class Invitation(BaseModel):
    respondent: str
    url: str
    expires: str


def _public_base(request: Request, state: ServeState) -> str:
    return state.settings.public_url or str(request.base_url)


@router.post(
    "/{name}/invites",
    status_code=201,
    response_model=list[Invitation],
    summary="Invite remote respondents: one link each (shown once, stored hashed)",
    responses=ERRORS,
)
def create_invites(
    name: str, body: InviteRequest, request: Request, state: ServeState = Depends(get_state)
) -> list[Invitation]:
    studies, _, _ = _api()
    made = _call(studies.invite, name, body.respondents, body.count, body.tags, body.expires, state.settings.db_url)
    base = _public_base(request, state)
    return [Invitation(respondent=i.respondent, url=i.url(base), expires=i.expires.isoformat() + "Z") for i in made]


REVOKE = "Revoke a respondent's link (before they start)"


@router.delete("/{name}/invites/{respondent}", response_model=Respondent, summary=REVOKE, responses=ERRORS)
def revoke_invite(name: str, respondent: str, state: ServeState = Depends(get_state)) -> Respondent:
    studies, _, _ = _api()
    _call(studies.revoke, name, respondent, state.settings.db_url)
    info = _info(name, state.settings.db_url)
    return next(r for r in info.respondents if r.respondent == respondent)


class Erasure(BaseModel):
    study: str
    respondent: str | None
    recordings: int
    files: int
    note: str | None = None  # what was postponed (the database's compaction, behind another client), else null


@router.delete(
    "/{name}/respondents/{respondent}",
    response_model=Erasure,
    summary="Erase a respondent: rows, result files, kept media (audited: who and when, not what)",
    responses=ERRORS,
)
def forget_respondent(name: str, respondent: str, state: ServeState = Depends(get_state)) -> Erasure:
    studies, _, _ = _api()
    if name in state.study_runs:
        raise ApiError(409, f"study {name!r} is running; erase respondents once the run ends")
    e = _call(studies.forget_respondent, name, respondent, state.settings.db_url, erased_by="affectlens serve")
    return Erasure(study=name, respondent=e.respondent, recordings=e.recordings, files=e.files, note=e.note)


@router.delete("/{name}", response_model=Erasure, summary="Delete a whole study and its files", responses=ERRORS)
def delete_study(name: str, state: ServeState = Depends(get_state)) -> Erasure:
    studies, _, _ = _api()
    if name in state.study_runs:
        raise ApiError(409, f"study {name!r} is running; delete it once the run ends")
    e = _call(studies.delete_study, name, state.settings.db_url, erased_by="affectlens serve")
    return Erasure(study=name, respondent=None, recordings=e.recordings, files=e.files, note=e.note)
