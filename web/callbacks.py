"""Callbacks the node dials (issue 14): start one, its attempts, and reminders.

``POST /api/callbacks/{id}/dial`` (and the 回电 button on /callbacks) asks the node's
dialer to ring the owning engineer and then the customer; the engineer who owns the
callback or a supervisor may. The dialer is ``app.state.callback_dialer``, set by
``deskline serve`` (one process: the node and its console); a console without one
answers 503. Reminders: the owner sees open callbacks due within
``app.state.callback_remind_before_min`` on /me; overdue ones go to supervisors
(a badge in the menu and ``GET /api/callbacks/reminders``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Protocol

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import Response

from models.masking import mask_text
from models.schema import utc_key
from models.store import CallbackTask
from web.auth import Principal, api_person, page_user
from web.console import plain
from web.inputs import ERROR_RESPONSES, ErrorOut, RecordIdPath

FormToken = Annotated[str, Form(max_length=200)]  # as web.pages' (which imports this module)

api_router = APIRouter(prefix="/api", tags=["callbacks"], responses=ERROR_RESPONSES)
page_router = APIRouter(include_in_schema=False)

# How each attempt ended, as the console shows it (the dialer's outcomes).
OUTCOME_CN = {
    "dialling": "正在呼叫",
    "connected": "已接通",
    "engineer_no_answer": "工程师未接听",
    "engineer_busy": "工程师忙",
    "engineer_hung_up": "工程师挂断",
    "customer_no_answer": "客户未接听",
    "customer_busy": "客户忙",
    "customer_refused": "客户线路拒绝",
    "failed": "呼叫失败",
}
NO_DIALER = "此控制台没有连接话务节点，不能发起回电（在运行 deskline serve 的节点上操作）"


class Dialer(Protocol):
    def start(self, callback_id: int, requested_by: str) -> int:
        """The attempt id; raises ValueError (with ``status``) when it cannot be dialled."""

    def dialling(self) -> dict[int, int]: ...


def _store(request: Request) -> Any:
    return request.app.state.console.store


def dialer_of(request: Request) -> Dialer | None:
    return getattr(request.app.state, "callback_dialer", None)


def _owned_task(request: Request, callback_id: int, user: Principal) -> CallbackTask:
    task = _store(request).get_callback(callback_id)
    if task is None or not (user.is_supervisor or task.engineer == user.name):
        raise HTTPException(status_code=404, detail=f"callback {callback_id} not found")
    return task


def start_dial(request: Request, callback_id: int, user: Principal) -> int:
    _owned_task(request, callback_id, user)
    dialer = dialer_of(request)
    if dialer is None:
        raise HTTPException(status_code=503, detail=NO_DIALER)
    try:
        return dialer.start(callback_id, user.name)
    except ValueError as exc:
        raise HTTPException(status_code=getattr(exc, "status", 409), detail=str(exc)) from exc


def reminders(tasks: list[CallbackTask], now: datetime, before_min: float) -> dict[str, list[CallbackTask]]:
    """Open callbacks due within ``before_min`` minutes (not yet overdue), and overdue ones."""
    now_key = utc_key(now)
    soon_key = utc_key(now + timedelta(minutes=before_min))
    due_soon = [t for t in tasks if t.state == "due" and t.due_at and utc_key(t.due_at) <= soon_key
                and utc_key(t.due_at) >= now_key]
    return {"due_soon": due_soon, "overdue": [t for t in tasks if t.state == "overdue"]}


def remind_before_min(request: Request) -> float:
    return float(getattr(request.app.state, "callback_remind_before_min", 30.0))


def page_context(request: Request, tasks: list[CallbackTask]) -> dict[str, Any]:
    """What the callbacks page and /me show besides the tasks: attempts, dialling, reminders."""
    store = _store(request)
    dialer = dialer_of(request)
    return {
        "attempts": {t.id: store.callback_attempts(t.id) for t in tasks},
        "can_dial": dialer is not None,
        "dialling": dialer.dialling() if dialer is not None else {},
        "reminders": reminders(tasks, datetime.now(UTC), remind_before_min(request)),
        "OUTCOME_CN": OUTCOME_CN,
    }


def overdue_count(request: Request) -> int:
    """For the supervisor's menu badge."""
    return len(_store(request).callbacks(state="overdue"))


def _task_out(task: CallbackTask) -> dict[str, Any]:
    out = plain(task)
    return {**out, "text": mask_text(out["text"])}


# ---- JSON API ------------------------------------------------------------------------


@api_router.post("/callbacks/{callback_id}/dial", status_code=202, responses={
    503: {"model": ErrorOut, "description": "No hotline node in this process, or no [outbound] trunk"}})
def dial(request: Request, callback_id: RecordIdPath,
         user: Annotated[Principal, Depends(api_person)]) -> dict[str, Any]:
    """Ring the owning engineer's phone, then the customer (the node's outbound trunk)."""
    attempt_id = start_dial(request, callback_id, user)
    return {"callback_id": callback_id, "attempt_id": attempt_id, "outcome": "dialling"}


@api_router.get("/callbacks/{callback_id}/attempts")
def attempts(request: Request, callback_id: RecordIdPath,
             user: Annotated[Principal, Depends(api_person)]) -> list[dict[str, Any]]:
    _owned_task(request, callback_id, user)
    return _store(request).callback_attempts(callback_id)


@api_router.get("/callbacks/reminders")
def reminder_list(request: Request, user: Annotated[Principal, Depends(api_person)]) -> dict[str, Any]:
    """Engineers: their callbacks due soon and overdue; supervisors: everyone's overdue."""
    engineer = None if user.is_supervisor else user.name
    found = reminders(_store(request).callbacks(engineer=engineer, status="open"), datetime.now(UTC),
                      remind_before_min(request))
    if user.is_supervisor:
        found["due_soon"] = []
    return {key: [_task_out(t) for t in tasks] for key, tasks in found.items()}


# ---- page form -------------------------------------------------------------------------


@page_router.post("/callbacks/{callback_id}/dial")
def dial_form(request: Request, callback_id: RecordIdPath, user: Annotated[Principal, Depends(page_user)],
              csrf_token: FormToken = "") -> Response:
    from web.pages import back_to, require_csrf  # web.pages imports this module for its pages

    require_csrf(request, csrf_token)
    start_dial(request, callback_id, user)
    return back_to(f"/callbacks#cb-{callback_id}")
