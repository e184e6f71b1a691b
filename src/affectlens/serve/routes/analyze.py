"""``POST /v1/analyze/image``: the faces of one uploaded image."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, File, UploadFile
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from affectlens.serve.payload import clean_rows
from affectlens.serve.security import require_key
from affectlens.serve.state import ServeState, get_state
from affectlens.serve.uploads import decode_image, read_upload, release_memory

router = APIRouter(prefix="/v1", tags=["analyze"], dependencies=[Depends(require_key)])


class ImageAnalysis(BaseModel):
    source: str
    width: int
    height: int
    labels: list[str]
    faces: list[dict[str, Any]]


@router.post(
    "/analyze/image",
    response_model=ImageAnalysis,
    summary="Faces, expressions and engagement of one image",
    responses={
        413: {"description": "too large"},
        415: {"description": "not an image"},
        422: {"description": "corrupt"},
    },
)
async def analyze_image(
    file: UploadFile = File(..., description="JPEG, PNG, WebP, BMP or TIFF (checked by content)"),
    state: ServeState = Depends(get_state),
) -> ImageAnalysis:
    """One row per face with the same columns as ``affectlens analyze`` writes (faces numbered left to right)."""
    data = await read_upload(file, state.settings.max_upload_bytes)
    name = file.filename or "image"

    def work():
        # decode while holding an analyzer: concurrent decodes are bounded by the pool, not by the clients
        with state.analyzers().borrow() as analyzer:
            image = decode_image(data, name)
            try:
                return analyzer.analyze_image(image, name=name)
            finally:
                big = image.size > 20_000_000
                del image
                if big:
                    release_memory()

    result = await run_in_threadpool(work)
    return ImageAnalysis(
        source=name,
        width=result.width,
        height=result.height,
        labels=list(result.labels),
        faces=clean_rows(result.rows()),
    )
