"""The JSON API (``/api/...``): everything the pages show, for scripts and hotline nodes.

Reads need a session (or, for nodes, a bearer token); writes from a session also need
the ``X-CSRF-Token`` header. Bad input is a 422 whose ``detail`` names what is wrong;
a record that does not exist, or that belongs to another engineer, is a 404.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, HTTPException, Query, Request
from fastapi.responses import FileResponse, StreamingResponse
from pydantic import BaseModel, Field

from models.records import CallRecord
from models.store import Page
from web.auth import Principal, api_person, api_principal, api_supervisor, can_see_call
from web.console import Console, finding_payload, plain
from web.peaks import AudioUnavailable, compute_peaks
from web.recordings import recording_file

router = APIRouter(prefix="/api", tags=["api"])
SSE_KEEPALIVE_S = 15.0


def console_of(request: Request) -> Console:
    return request.app.state.console


class ReviewIn(BaseModel):
    verdict: Literal["fail", "pass", "warn"]
    comment: str = Field(default="", max_length=2000)


class DisputeIn(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


class ResolveIn(BaseModel):
    resolution: str = Field(default="", max_length=2000)


class WrittenReplyIn(BaseModel):
    text: str = Field(min_length=1, max_length=20000)
    channel: Literal["web", "email"] = "web"
    written_at: datetime | None = None


class CallFilters(BaseModel):
    since: datetime | None = None
    until: datetime | None = None
    line: str | None = None
    engineer: str | None = None
    clause: str | None = None
    score_min: float | None = Field(default=None, ge=0, le=100)
    score_max: float | None = Field(default=None, ge=0, le=100)
    text: str | None = None
    status: Literal["live", "done", "failed"] | None = None
    limit: int = Field(default=50, ge=1, le=1000)
    after: str | None = None


def list_visible_calls(console: Console, user: Principal, filters: CallFilters) -> Page:
    """The calls list as this user may see it (an engineer only their own)."""
    args = filters.model_dump()
    for key in ("since", "until"):
        if args[key] is not None and args[key].tzinfo is None:
            raise ValueError(f"{key} needs a timezone offset, e.g. 2026-03-02T00:00:00+08:00")
    if user.role == "engineer":
        args["engineer"] = user.name
    return console.store.list_calls(**args)


def visible_call(console: Console, user: Principal, call_id: str) -> CallRecord:
    if not can_see_call(user, console.store.call_engineer(call_id)):
        raise HTTPException(status_code=404, detail=f"call {call_id!r} not found")
    call = console.store.get_call(call_id)
    assert call is not None
    return call


def visible_finding(console: Console, user: Principal, finding_id: int) -> Any:
    sf = console.store.get_finding(finding_id)
    if sf is None or not can_see_call(user, console.store.call_engineer(sf.call_id)):
        raise HTTPException(status_code=404, detail=f"finding {finding_id} not found")
    return sf


def call_payload(console: Console, call: CallRecord) -> dict[str, Any]:
    data = call.to_dict()
    data["findings"] = [finding_payload(sf) for sf in console.store.findings(call.id)]
    data["reviews"] = plain(console.store.reviews(call_id=call.id))
    data["audio_url"] = f"/api/calls/{call.id}/audio" if call.audio_path else None
    data["peaks_url"] = f"/api/calls/{call.id}/peaks" if call.audio_path else None
    return data


def audio_file(request: Request, call: CallRecord) -> Path:
    return recording_file(call, request.app.state.audio_roots)


@router.get("/me")
def me(user: Annotated[Principal, Depends(api_principal)]) -> dict[str, str]:
    return {"name": user.name, "role": user.role}


@router.get("/calls")
def list_calls(
    request: Request,
    user: Annotated[Principal, Depends(api_person)],
    filters: Annotated[CallFilters, Query()],
) -> dict[str, Any]:
    try:
        page = list_visible_calls(console_of(request), user, filters)
    except ValueError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from exc
    return {"items": plain(page.items), "next_cursor": page.next_cursor}


@router.post("/calls", status_code=201)
def post_call(
    request: Request, user: Annotated[Principal, Depends(api_principal)], call: Annotated[CallRecord, Body()]
) -> dict[str, str]:
    """A hotline node (bearer token) or a supervisor stores a finished call."""
    if user.role == "engineer":
        raise HTTPException(status_code=403, detail="engineers cannot post calls")
    try:
        console_of(request).store.save_call(call)
    except ValueError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from exc
    return {"id": call.id, "url": f"/calls/{call.id}"}


@router.get("/calls/{call_id}")
def get_call(
    request: Request, call_id: str, user: Annotated[Principal, Depends(api_person)]
) -> dict[str, Any]:
    console = console_of(request)
    return call_payload(console, visible_call(console, user, call_id))


@router.get("/calls/{call_id}/peaks")
def get_peaks(
    request: Request,
    call_id: str,
    user: Annotated[Principal, Depends(api_person)],
    buckets: Annotated[int, Query(ge=10, le=5000)] = 800,
) -> dict[str, Any]:
    call = visible_call(console_of(request), user, call_id)
    try:
        return compute_peaks(audio_file(request, call), buckets)
    except AudioUnavailable as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from exc


@router.get("/calls/{call_id}/audio", response_class=FileResponse)
def get_audio(
    request: Request, call_id: str, user: Annotated[Principal, Depends(api_person)]
) -> FileResponse:
    """The stereo recording (caller left, engineer right); honours Range for seeking."""
    call = visible_call(console_of(request), user, call_id)
    return FileResponse(audio_file(request, call), media_type="audio/wav")


@router.post("/findings/{finding_id}/review")
def review_finding(
    request: Request, finding_id: int, body: ReviewIn, user: Annotated[Principal, Depends(api_supervisor)]
) -> dict[str, Any]:
    console = console_of(request)
    visible_finding(console, user, finding_id)
    review = console.review(finding_id, reviewer=user.name, verdict=body.verdict, comment=body.comment)
    call = console.store.get_call(review.call_id)
    return {"review": plain(review), "scorecard": plain(call.scorecard if call else None)}


@router.post("/findings/{finding_id}/acknowledge")
def acknowledge(request: Request, finding_id: int, user: Annotated[Principal, Depends(api_person)]) -> dict:
    console = console_of(request)
    visible_finding(console, user, finding_id)
    console.store.acknowledge_finding(finding_id, engineer=user.name)
    return finding_payload(console.store.get_finding(finding_id))


@router.post("/findings/{finding_id}/dispute", status_code=201)
def dispute(
    request: Request, finding_id: int, body: DisputeIn, user: Annotated[Principal, Depends(api_person)]
) -> dict[str, Any]:
    console = console_of(request)
    visible_finding(console, user, finding_id)
    try:
        return plain(console.store.dispute_finding(finding_id, engineer=user.name, reason=body.reason))
    except ValueError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from exc


@router.get("/reviews")
def reviews(
    request: Request,
    user: Annotated[Principal, Depends(api_supervisor)],
    call_id: str | None = None,
    finding_id: int | None = None,
) -> list[dict[str, Any]]:
    return plain(console_of(request).store.reviews(call_id=call_id, finding_id=finding_id))


@router.get("/disputes")
def disputes(
    request: Request,
    user: Annotated[Principal, Depends(api_supervisor)],
    status: Literal["open", "resolved", "all"] = "open",
) -> list[dict[str, Any]]:
    return plain(console_of(request).store.disputes(status=None if status == "all" else status))


@router.post("/disputes/{dispute_id}/resolve")
def resolve(
    request: Request, dispute_id: int, body: ResolveIn, user: Annotated[Principal, Depends(api_supervisor)]
) -> dict[str, str]:
    console_of(request).store.resolve_dispute(dispute_id, by=user.name, resolution=body.resolution)
    return {"status": "resolved"}


@router.get("/callbacks")
def callbacks(
    request: Request,
    user: Annotated[Principal, Depends(api_person)],
    state: Literal["due", "overdue", "kept", "open_vague"] | None = None,
) -> list[dict[str, Any]]:
    engineer = None if user.is_supervisor else user.name
    return plain(console_of(request).store.callbacks(engineer=engineer, state=state))


@router.post("/callbacks/{callback_id}/done")
def callback_done(
    request: Request, callback_id: int, user: Annotated[Principal, Depends(api_person)]
) -> dict[str, Any]:
    store = console_of(request).store
    task = store.get_callback(callback_id)
    if task is None or not (user.is_supervisor or task.engineer == user.name):
        raise HTTPException(status_code=404, detail=f"callback {callback_id} not found")
    store.mark_callback_done(callback_id, by=user.name)
    return plain(store.get_callback(callback_id))


@router.get("/rules/precision")
def rule_precision(
    request: Request, user: Annotated[Principal, Depends(api_supervisor)]
) -> list[dict[str, Any]]:
    return [{**plain(p), "precision": p.precision} for p in console_of(request).store.rule_precision()]


def trend_window(days: int) -> tuple[datetime, datetime]:
    until = datetime.now(UTC) + timedelta(days=1)
    return until - timedelta(days=days + 1), until


@router.get("/trends")
def trends(
    request: Request,
    user: Annotated[Principal, Depends(api_person)],
    days: Annotated[int, Query(ge=1, le=366)] = 30,
    engineer: str | None = None,
) -> dict[str, Any]:
    if not user.is_supervisor:
        engineer = user.name
    since, until = trend_window(days)
    return console_of(request).trends(since, until, engineer)


@router.get("/live/calls")
def live_calls(request: Request, user: Annotated[Principal, Depends(api_supervisor)]) -> list[dict[str, Any]]:
    return console_of(request).hub.live_calls()


async def sse_stream(console: Console, request: Request) -> AsyncIterator[str]:
    events = console.hub.subscribe()
    yield "retry: 2000\n\n"
    try:
        while True:
            try:
                event = await asyncio.wait_for(anext(events), timeout=SSE_KEEPALIVE_S)
            except TimeoutError:
                if await request.is_disconnected():
                    return
                yield ": keep-alive\n\n"
                continue
            yield f"event: {event['type']}\ndata: {json.dumps(plain(event), ensure_ascii=False)}\n\n"
    finally:
        await events.aclose()


@router.get("/live/events", response_class=StreamingResponse)
async def live_events(
    request: Request, user: Annotated[Principal, Depends(api_supervisor)]
) -> StreamingResponse:
    """Server-sent events: ``call_started``, ``finding``, ``utterance``, ``call_ended``."""
    return StreamingResponse(
        sse_stream(console_of(request), request),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.post("/live/events", status_code=202)
def post_live_event(
    request: Request,
    event: Annotated[dict[str, Any], Body()],
    user: Annotated[Principal, Depends(api_principal)],
) -> dict[str, str]:
    """A hotline node on another machine forwards its live events here."""
    if user.role == "engineer":
        raise HTTPException(status_code=403, detail="engineers cannot publish live events")
    try:
        console_of(request).hub.publish(event)
    except ValueError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from exc
    return {"status": "published"}


@router.get("/hours")
def hours(
    request: Request,
    user: Annotated[Principal, Depends(api_person)],
    start: date | None = None,
    days: Annotated[int, Query(ge=1, le=92)] = 28,
) -> list[dict[str, Any]]:
    return console_of(request).hours(start or date.today(), days)


@router.post("/written-replies", status_code=201)
def written_reply(
    request: Request, body: WrittenReplyIn, user: Annotated[Principal, Depends(api_person)]
) -> dict[str, Any]:
    return score_written_reply(console_of(request), user, body)


def score_written_reply(console: Console, user: Principal, body: WrittenReplyIn) -> dict[str, Any]:
    written_at = body.written_at or datetime.now(UTC).astimezone()
    if written_at.tzinfo is None:
        raise HTTPException(status_code=422, detail="written_at needs a timezone offset, e.g. +08:00")
    result = plain(console.check_written_reply(body.text, written_at))
    score = (result.get("scorecard") or {}).get("overall")
    reply_id = console.store.add_written_reply(
        author=user.name,
        written_at=written_at.isoformat(),
        channel=body.channel,
        text=body.text,
        score=score,
        result=result,
    )
    return {"id": reply_id, **result}


@router.get("/written-replies")
def written_replies(
    request: Request, user: Annotated[Principal, Depends(api_person)]
) -> list[dict[str, Any]]:
    author = None if user.is_supervisor else user.name
    return plain(console_of(request).store.written_replies(author=author))


@router.get("/tickets")
def tickets(
    request: Request, user: Annotated[Principal, Depends(api_supervisor)], status: str | None = None
) -> list[dict[str, Any]]:
    return plain(console_of(request).store.tickets(status=status))
