"""Video (and image) jobs: upload, state and progress, result tables, annotated media."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Depends, File, Form, Query, UploadFile
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import BaseModel, field_validator
from starlette.concurrency import run_in_threadpool

from affectlens.serve.db import Job
from affectlens.serve.errors import ApiError
from affectlens.serve.mediajob import TABLES
from affectlens.serve.payload import from_row
from affectlens.serve.security import require_key
from affectlens.serve.state import ServeState, get_state
from affectlens.serve.uploads import save_upload

router = APIRouter(prefix="/v1/jobs", tags=["jobs"], dependencies=[Depends(require_key)])

MEDIA = {"csv": "text/csv", "jsonl": "application/x-ndjson", "parquet": "application/vnd.apache.parquet"}
ERRORS = {404: {"description": "no such job"}, 409: {"description": "not finished"}}


class JobInfo(BaseModel):
    id: str
    state: Literal["queued", "running", "done", "failed"]
    kind: str
    filename: str
    size_bytes: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    frames_done: int
    frames_total: int | None
    progress: float | None  # 0..1 when the frame count is known
    attempts: int
    error: str | None
    note: str | None
    summary: dict[str, Any] | None
    links: dict[str, str]

    @field_validator("created_at", "started_at", "finished_at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        """The database keeps naive UTC: say so (``…Z``), as the studies API does."""
        return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value

    @classmethod
    def of(cls, job: Job) -> JobInfo:
        progress = None
        if job.state == "done":
            progress = 1.0
        elif job.frames_total:
            progress = round(min(job.frames_done / job.frames_total, 1.0), 4)
        base = f"/v1/jobs/{job.id}"
        links = {"self": base}
        if job.state == "done":
            links |= {f"{t}.{f}": f"{base}/results/{t}?format={f}" for t in TABLES for f in ("csv", "jsonl", "parquet")}
            links["annotated"] = f"{base}/annotated"
        return from_row(cls, job, progress=progress, links=links)


@router.post(
    "",
    status_code=202,
    response_model=JobInfo,
    summary="Upload a video or image to analyse in the background",
    responses={413: {"description": "too large"}, 415: {"description": "not media"}, 503: {"description": "busy"}},
)
async def create_job(
    file: UploadFile = File(..., description="a video (MP4, MOV, MKV, WebM, AVI, ...) or an image"),
    blur_faces: bool = Form(False, description="blur every face in the annotated video"),
    state: ServeState = Depends(get_state),
) -> JobInfo:
    # the queue's checks read the database: off the event loop (a busy database must not stall every connection)
    await run_in_threadpool(state.jobs.check_capacity)
    job_id = state.jobs.new_id()
    folder = state.jobs_dir / job_id
    saved = await save_upload(file, folder, state.settings.max_upload_bytes)
    job = Job(
        id=job_id,
        state="queued",
        kind=saved.kind,
        filename=saved.filename,
        input_path=str(saved.path),
        out_dir=str(folder / "out"),
        size_bytes=saved.size,
        options={"blur_faces": blur_faces},
    )
    try:
        return JobInfo.of(await run_in_threadpool(state.jobs.submit, job))
    except BaseException:  # full by now (others came in while this one uploaded): its upload goes too
        shutil.rmtree(folder, ignore_errors=True)
        raise


@router.get("", response_model=list[JobInfo], summary="The latest jobs, newest first")
def list_jobs(limit: int = Query(100, ge=1, le=1000), state: ServeState = Depends(get_state)) -> list[JobInfo]:
    return [JobInfo.of(j) for j in state.jobs.recent(limit)]


@router.get("/{job_id}", response_model=JobInfo, summary="State and progress of a job", responses=ERRORS)
def get_job(job_id: str, state: ServeState = Depends(get_state)) -> JobInfo:
    return JobInfo.of(state.jobs.get(job_id))


@router.delete("/{job_id}", status_code=204, summary="Delete a job, its upload and results", responses=ERRORS)
def delete_job(job_id: str, state: ServeState = Depends(get_state)) -> Response:
    state.jobs.delete(job_id)
    return Response(status_code=204)


def _done(state: ServeState, job_id: str) -> Path:
    job = state.jobs.get(job_id)
    if job.state != "done":
        why = f": {job.error}" if job.error else ""
        raise ApiError(409, f"job {job_id} is {job.state}{why}; results exist once it is done")
    return Path(job.out_dir)


@router.get(
    "/{job_id}/results/{table}",
    summary="A result table: faces (per face per frame), tracks (per face), seconds (per face per second)",
    responses=ERRORS,
)
def get_results(
    job_id: str,
    table: Literal["faces", "tracks", "seconds"],
    format: Literal["csv", "jsonl", "parquet", "json"] = Query("csv", description="json: rows as a JSON array"),
    state: ServeState = Depends(get_state),
) -> Response:
    out = _done(state, job_id)
    if format == "json":
        path = out / f"{table}.jsonl"
        rows = [json.loads(line) for line in path.read_text().splitlines() if line] if path.exists() else []
        return JSONResponse(rows)
    path = out / f"{table}.{format}"
    if not path.exists():  # e.g. no seconds table for an image
        raise ApiError(404, f"job {job_id} has no {table} table")
    return FileResponse(path, media_type=MEDIA[format], filename=f"{job_id[:8]}_{table}.{format}")


@router.get("/{job_id}/annotated", summary="The annotated video (MP4) or image (JPEG)", responses=ERRORS)
def get_annotated(job_id: str, state: ServeState = Depends(get_state)) -> Response:
    out = _done(state, job_id)
    for name, media in (("annotated.mp4", "video/mp4"), ("annotated.jpg", "image/jpeg")):
        if (out / name).exists():
            return FileResponse(out / name, media_type=media, filename=f"{job_id[:8]}_{name}")
    raise ApiError(404, f"job {job_id} has no annotated media (no frame was analysed)")
