"""``POST /v1/tickets``: a short-lived ticket to open one path in a browser without the API key in its URL."""

from __future__ import annotations

import re

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from affectlens.serve.errors import ApiError
from affectlens.serve.keys import key_id_of
from affectlens.serve.security import presented_key, require_key
from affectlens.serve.state import ServeState, get_state
from affectlens.serve.tickets import DEFAULT_TTL_S, MAX_TTL_S

router = APIRouter(prefix="/v1", tags=["tickets"], dependencies=[Depends(require_key)])

# what a ticket may open: the live socket and GET resources (results, media, reports), never this route
TICKETED = re.compile(r"/v1/(live|jobs/[\w-]+/(annotated|results/\w+)|studies/[^/]+/report)")


class TicketRequest(BaseModel):
    path: str = Field(description="the one path the ticket opens, e.g. /v1/live or /v1/jobs/ID/annotated")
    ttl_s: int = Field(DEFAULT_TTL_S, ge=1, le=MAX_TTL_S, description="seconds until it expires")


class Ticket(BaseModel):
    ticket: str
    url: str = Field(description="the path with ?ticket=…: open it as a link, a video source or a WebSocket")
    expires: int = Field(description="Unix time after which the ticket is refused")


@router.post(
    "/tickets",
    response_model=Ticket,
    summary="A short-lived ticket for one link or the live WebSocket (the key never travels in a URL)",
    responses={422: {"description": "a path tickets cannot open"}},
)
def issue_ticket(body: TicketRequest, request: Request, state: ServeState = Depends(get_state)) -> Ticket:
    if not TICKETED.fullmatch(body.path):
        raise ApiError(422, f"no ticket for {body.path!r}: only /v1/live and GET links to results, media and reports")
    ticket, expires = state.tickets.issue(body.path, body.ttl_s, key_id=key_id_of(presented_key(request)))
    return Ticket(ticket=ticket, url=f"{body.path}?ticket={ticket}", expires=expires)
