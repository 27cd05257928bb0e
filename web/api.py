"""The JSON API (``/api/...``): everything the pages show, for scripts and hotline nodes.

Reads need a session (or, for nodes, a bearer token); writes from a session also need
the ``X-CSRF-Token`` header. Bad input is a 422 whose ``detail`` names what is wrong;
a record that does not exist, or that belongs to another engineer, is a 404.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta, tzinfo
from datetime import time as clock_time
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Body, Depends, HTTPException, Query, Request
from fastapi.responses import FileResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from models.masking import mask_text
from models.records import CallRecord
from models.store import Conflict, Page
from web.auth import (
    Principal,
    api_person,
    api_principal,
    api_supervisor,
    can_see_call,
    session_still_valid,
)
from web.console import Console, finding_payload, plain
from web.inputs import (
    ERROR_RESPONSES,
    MAX_NAME,
    MAX_SEARCH,
    MAX_TEXT,
    CallId,
    CallIdPath,
    CallIn,
    Day,
    Name,
    PlainJson,
    RecordId,
    RecordIdPath,
    Time,
    check_plain_json,
)
from web.masking import mask_call_payload, mask_finding_payload, mask_live_event
from web.peaks import AudioUnavailable, stored_peaks
from web.recordings import recording_file

router = APIRouter(prefix="/api", tags=["api"], responses=ERROR_RESPONSES)
SSE_KEEPALIVE_S = 15.0


def console_of(request: Request) -> Console:
    return request.app.state.console


class ReviewIn(BaseModel):
    verdict: Literal["fail", "pass", "warn"]
    comment: str = Field(default="", max_length=MAX_TEXT)


class DisputeIn(BaseModel):
    reason: str = Field(min_length=1, max_length=MAX_TEXT, pattern=r"\S")


class ResolveIn(BaseModel):
    resolution: str = Field(default="", max_length=MAX_TEXT)


class WrittenReplyIn(BaseModel):
    text: str = Field(min_length=1, max_length=20000)
    channel: Literal["web", "email"] = "web"
    written_at: Time | None = None


class CallFilters(BaseModel):
    model_config = ConfigDict(extra="forbid")
    since: Time | None = None
    until: Time | None = None
    line: Name | None = None
    engineer: Name | None = None
    clause: Name | None = None
    score_min: float | None = Field(default=None, ge=0, le=100, allow_inf_nan=False)
    score_max: float | None = Field(default=None, ge=0, le=100, allow_inf_nan=False)
    text: str | None = Field(default=None, max_length=MAX_SEARCH)
    status: Literal["live", "done", "failed"] | None = None
    limit: int = Field(default=50, ge=1, le=1000)
    after: str | None = Field(default=None, max_length=4 * MAX_NAME)


class LiveEventIn(BaseModel):
    """One live event from a node; fields beyond these are passed on as they are."""

    model_config = ConfigDict(extra="allow", allow_inf_nan=False)
    type: Name = Field(min_length=1)
    call_id: CallId
    finding: dict[Name, PlainJson] | None = Field(default=None, max_length=100)

    def plain(self) -> dict[str, Any]:
        data = self.model_dump(exclude_unset=True)
        if len(data) > 50:
            raise ValueError("a live event has at most 50 fields")
        for key, value in data.items():
            check_plain_json(value)  # finite and not too deep
            if isinstance(value, str) and len(value) > MAX_TEXT:
                raise ValueError(f"live event field {key} is longer than {MAX_TEXT} characters")
        return data


def call_url(call_id: str) -> str:
    return "/calls/" + quote(call_id, safe="")


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
    if call is None:
        raise HTTPException(status_code=404, detail=f"call {call_id!r} not found")
    return call


def client_address(request: Request) -> str:
    return request.client.host if request.client else ""


def visible_finding(console: Console, user: Principal, finding_id: int) -> Any:
    sf = console.store.get_finding(finding_id)
    if sf is None or not can_see_call(user, console.store.call_engineer(sf.call_id)):
        raise HTTPException(status_code=404, detail=f"finding {finding_id} not found")
    return sf


def call_payload(console: Console, call: CallRecord, user: Principal) -> dict[str, Any]:
    """The call as ``user`` may see it: an engineer gets the reviews' outcome without the
    supervisors' internal comments; spoken secrets and personal numbers are masked."""
    data = call.to_dict()
    data["findings"] = [finding_payload(sf) for sf in console.store.findings(call.id)]
    reviews = plain(console.store.reviews(call_id=call.id))
    if not user.is_supervisor:
        for review in reviews:
            review.pop("comment", None)
    data["reviews"] = reviews
    base = "/api" + call_url(call.id)
    data["audio_url"] = f"{base}/audio" if call.audio_path else None
    data["peaks_url"] = f"{base}/peaks" if call.audio_path else None
    return mask_call_payload(data)


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
    request: Request, user: Annotated[Principal, Depends(api_principal)], call: Annotated[CallIn, Body()]
) -> dict[str, str]:
    """A hotline node (bearer token) stores a finished call: a new one, or one it posted
    before (never another node's). A supervisor may store one too. Reviewed, acknowledged
    and disputed findings are never erased by a re-post."""
    if user.role == "engineer":
        raise HTTPException(status_code=403, detail="engineers cannot post calls")
    store = console_of(request).store
    try:
        record = call.record()
        if user.role == "node":
            store.save_node_call(record, user.name)
        else:
            store.save_call(record)
    except Conflict as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from exc
    except ValueError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from exc
    return {"id": call.id, "url": call_url(call.id)}


@router.get("/calls/{call_id}")
def get_call(
    request: Request, call_id: CallIdPath, user: Annotated[Principal, Depends(api_person)]
) -> dict[str, Any]:
    console = console_of(request)
    call = visible_call(console, user, call_id)
    console.store.audit(user.name, "open", call.id, client_address(request))
    return call_payload(console, call, user)


@router.get("/calls/{call_id}/peaks")
def get_peaks(
    request: Request,
    call_id: CallIdPath,
    user: Annotated[Principal, Depends(api_person)],
    buckets: Annotated[int, Query(ge=10, le=5000)] = 800,
) -> dict[str, Any]:
    console = console_of(request)
    call = visible_call(console, user, call_id)
    try:
        return stored_peaks(console.store, call.id, audio_file(request, call), buckets)
    except AudioUnavailable as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from exc


@router.get("/calls/{call_id}/audio", response_class=FileResponse)
def get_audio(
    request: Request, call_id: CallIdPath, user: Annotated[Principal, Depends(api_person)]
) -> FileResponse:
    """The stereo recording (caller left, engineer right); honours Range for seeking.
    Each request is recorded in the audit log (a seek is a new request)."""
    console = console_of(request)
    call = visible_call(console, user, call_id)
    path = audio_file(request, call)
    console.store.audit(user.name, "play", call.id, client_address(request))
    return FileResponse(path, media_type="audio/wav", headers={"Cache-Control": "no-store"})


@router.get("/audit")
def audit_log(
    request: Request,
    user: Annotated[Principal, Depends(api_supervisor)],
    call_id: CallId | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[dict[str, Any]]:
    """Who opened and played which call, newest first."""
    return plain(console_of(request).store.audit_log(call_id=call_id, limit=limit))


@router.post("/findings/{finding_id}/review")
def review_finding(
    request: Request,
    finding_id: RecordIdPath,
    body: ReviewIn,
    user: Annotated[Principal, Depends(api_supervisor)],
) -> dict[str, Any]:
    console = console_of(request)
    visible_finding(console, user, finding_id)
    review = console.review(finding_id, reviewer=user.name, verdict=body.verdict, comment=body.comment)
    call = console.store.get_call(review.call_id)
    return {"review": plain(review), "scorecard": plain(call.scorecard if call else None)}


@router.post("/findings/{finding_id}/acknowledge")
def acknowledge(
    request: Request, finding_id: RecordIdPath, user: Annotated[Principal, Depends(api_person)]
) -> dict:
    console = console_of(request)
    visible_finding(console, user, finding_id)
    console.store.acknowledge_finding(finding_id, engineer=user.name)
    return mask_finding_payload(finding_payload(console.store.get_finding(finding_id)))


@router.post("/findings/{finding_id}/dispute", status_code=201)
def dispute(
    request: Request,
    finding_id: RecordIdPath,
    body: DisputeIn,
    user: Annotated[Principal, Depends(api_person)],
) -> dict[str, Any]:
    console = console_of(request)
    visible_finding(console, user, finding_id)
    try:
        return plain(console.store.dispute_finding(finding_id, engineer=user.name, reason=body.reason))
    except Conflict as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from exc
    except ValueError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from exc


@router.get("/reviews")
def reviews(
    request: Request,
    user: Annotated[Principal, Depends(api_supervisor)],
    call_id: CallId | None = None,
    finding_id: RecordId | None = None,
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
    request: Request,
    dispute_id: RecordIdPath,
    body: ResolveIn,
    user: Annotated[Principal, Depends(api_supervisor)],
) -> dict[str, str]:
    try:
        console_of(request).store.resolve_dispute(dispute_id, by=user.name, resolution=body.resolution)
    except Conflict as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from exc
    return {"status": "resolved"}


@router.get("/callbacks")
def callbacks(
    request: Request,
    user: Annotated[Principal, Depends(api_person)],
    state: Literal["due", "overdue", "kept", "open_vague"] | None = None,
) -> list[dict[str, Any]]:
    engineer = None if user.is_supervisor else user.name
    tasks = plain(console_of(request).store.callbacks(engineer=engineer, state=state))
    return [{**t, "text": mask_text(t["text"])} for t in tasks]


@router.post("/callbacks/{callback_id}/done")
def callback_done(
    request: Request, callback_id: RecordIdPath, user: Annotated[Principal, Depends(api_person)]
) -> dict[str, Any]:
    store = console_of(request).store
    task = store.get_callback(callback_id)
    if task is None or not (user.is_supervisor or task.engineer == user.name):
        raise HTTPException(status_code=404, detail=f"callback {callback_id} not found")
    store.mark_callback_done(callback_id, by=user.name)
    done = plain(store.get_callback(callback_id))
    return {**done, "text": mask_text(done["text"])}


@router.get("/rules/precision")
def rule_precision(
    request: Request, user: Annotated[Principal, Depends(api_supervisor)]
) -> list[dict[str, Any]]:
    return [{**plain(p), "precision": p.precision} for p in console_of(request).store.rule_precision()]


def trend_window(days: int, zone: tzinfo = UTC) -> tuple[datetime, datetime]:
    """The last ``days`` days up to the end of today, as days of ``zone`` (the line's), not of UTC."""
    today = datetime.now(zone).date()
    until = datetime.combine(today + timedelta(days=1), clock_time.min, tzinfo=zone)
    return until - timedelta(days=days), until


@router.get("/trends")
def trends(
    request: Request,
    user: Annotated[Principal, Depends(api_person)],
    days: Annotated[int, Query(ge=1, le=366)] = 30,
    engineer: Name | None = None,
) -> dict[str, Any]:
    if not user.is_supervisor:
        engineer = user.name
    console = console_of(request)
    since, until = trend_window(days, console.zone())
    return console.trends(since, until, engineer)


@router.get("/live/calls")
def live_calls(request: Request, user: Annotated[Principal, Depends(api_supervisor)]) -> list[dict[str, Any]]:
    return [mask_live_event(c) for c in console_of(request).hub.live_calls()]


SSE_RECHECK_S = 5.0


async def sse_stream(
    console: Console, request: Request, allowed: Callable[[], bool] = lambda: True
) -> AsyncIterator[str]:
    events = console.hub.subscribe()
    yield "retry: 2000\n\n"
    checked = time.monotonic()
    try:
        while True:
            try:
                event = await asyncio.wait_for(anext(events), timeout=SSE_KEEPALIVE_S)
            except TimeoutError:
                if await request.is_disconnected():
                    return
                event = None
            # An open stream ends as soon as its session would (sign-out, disable, role change).
            if time.monotonic() - checked >= SSE_RECHECK_S or event is None:
                if not allowed():
                    return
                checked = time.monotonic()
            if event is None:
                yield ": keep-alive\n\n"
                continue
            shown = mask_live_event(plain(event))
            yield f"event: {event['type']}\ndata: {json.dumps(shown, ensure_ascii=False)}\n\n"
    finally:
        await events.aclose()


@router.get("/live/events", response_class=StreamingResponse)
async def live_events(
    request: Request, user: Annotated[Principal, Depends(api_supervisor)]
) -> StreamingResponse:
    """Server-sent events: ``call_started``, ``finding``, ``utterance``, ``call_ended``."""
    return StreamingResponse(
        sse_stream(console_of(request), request, session_still_valid(request, user)),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.post("/live/events", status_code=202)
def post_live_event(
    request: Request,
    event: Annotated[LiveEventIn, Body()],
    user: Annotated[Principal, Depends(api_principal)],
) -> dict[str, str]:
    """A hotline node on another machine forwards its live events here."""
    if user.role == "engineer":
        raise HTTPException(status_code=403, detail="engineers cannot publish live events")
    try:
        console_of(request).hub.publish(event.plain())
    except ValueError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from exc
    return {"status": "published"}


@router.get("/hours")
def hours(
    request: Request,
    user: Annotated[Principal, Depends(api_person)],
    start: Day | None = None,
    days: Annotated[int, Query(ge=1, le=92)] = 28,
) -> list[dict[str, Any]]:
    console = console_of(request)
    return console.hours(start or console.today(), days)


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
    request: Request, user: Annotated[Principal, Depends(api_supervisor)], status: Name | None = None
) -> list[dict[str, Any]]:
    return plain(console_of(request).store.tickets(status=status))
