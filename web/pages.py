"""Server-rendered pages (Jinja2) for supervisors and engineers.

Pages read through the same helpers as the JSON API (``web.api``), so what a page
shows and what the API returns cannot drift apart. Every form POST checks the
session's CSRF token and answers with a redirect (post/redirect/get).
"""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, ValidationError

from models.masking import mask_text
from models.store import Conflict
from web import callbacks
from web.api import (
    CallFilters,
    WrittenReplyIn,
    call_payload,
    call_url,
    client_address,
    list_visible_calls,
    score_written_reply,
    trend_window,
    visible_call,
    visible_finding,
)
from web.auth import (
    Principal,
    csrf_ok,
    csrf_token,
    page_supervisor,
    page_user,
    session_principal,
    sign_in,
    sign_out,
)
from web.console import Console, plain
from web.inputs import MAX_NAME, MAX_TEXT, CallIdPath, Day, RecordIdPath
from web.masking import mask_call, mask_live_event
from web.throttle import LoginThrottle, Throttled
from web.users import authenticate

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")

VERDICT_CN = {"fail": "不合格", "pass": "合格", "warn": "提醒"}
CALLBACK_STATE_CN = {"due": "待回电", "overdue": "已超时", "kept": "已完成", "open_vague": "无确切时间"}
WEEKDAY_CN = ["", "周一", "周二", "周三", "周四", "周五", "周六", "周日"]
templates.env.filters["seg"] = lambda value: quote(str(value), safe="")
templates.env.filters["mask"] = lambda value: mask_text(str(value or ""))
templates.env.globals.update(
    overdue_callbacks=callbacks.overdue_count,
    VERDICT_CN=VERDICT_CN, CALLBACK_STATE_CN=CALLBACK_STATE_CN, WEEKDAY_CN=WEEKDAY_CN
)


def console_of(request: Request) -> Console:
    return request.app.state.console


def render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    context.update(user=session_principal(request), csrf=csrf_token(request))
    return templates.TemplateResponse(request, name, context, status_code=status)


def error_page(request: Request, status: int, message: str) -> Response:
    return render(request, "error.html", status=status, status_code=status, message=message)


def require_csrf(request: Request, token: str) -> None:
    if not csrf_ok(request, token):
        raise HTTPException(
            status_code=403, detail="表单已过期，请刷新页面后重试 (CSRF token missing or wrong)"
        )


def script_json(value: Any) -> str:
    """JSON safe to place inside a <script> element (no "</script>" can close it early)."""
    return json.dumps(value, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e")


def back_to(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def local_day_start(day: date, zone: Any) -> datetime:
    return datetime.combine(day, time.min, tzinfo=zone)


# Form fields: one cap for names and passwords, one for free text (the API's, so a form
# cannot store what the API refuses).
FormName = Annotated[str, Form(max_length=MAX_NAME)]
FormText = Annotated[str, Form(max_length=MAX_TEXT)]
FormToken = Annotated[str, Form(max_length=200)]


class DayRange(BaseModel):
    since: Day | None = None
    until: Day | None = None


# ---- sign-in -----------------------------------------------------------------------


@router.get("/login")
def login_form(request: Request, next: str = "/") -> HTMLResponse:
    return render(request, "login.html", next=next, error="")


@router.post("/login")
def login(
    request: Request,
    name: FormName,
    password: Annotated[str, Form(max_length=1024)],
    csrf_token: FormToken = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    require_csrf(request, csrf_token)
    throttle: LoginThrottle = request.app.state.login_throttle
    try:
        # The client address is the socket's, or the one a configured proxy reports (see
        # ``[console] trusted_proxies``); a client cannot claim one with X-Forwarded-For.
        attempt = throttle.begin(name, client_address(request) or None)
    except Throttled as exc:
        page = render(
            request,
            "login.html",
            status=429,
            next=next,
            error=f"登录失败次数过多，请 {exc.retry_after} 秒后再试 (too many failed sign-ins)",
        )
        page.headers["Retry-After"] = str(exc.retry_after)
        return page
    user = authenticate(console_of(request).store, name, password)
    if user is None:
        return render(request, "login.html", status=401, next=next, error="用户名或密码不正确")
    throttle.succeeded(attempt)
    sign_in(request, user.name, user.role)
    # Only local paths, so the sign-in page cannot bounce a user to another site.
    return back_to(next if next.startswith("/") and not next.startswith("//") else "/")


@router.post("/logout")
def logout(request: Request, csrf_token: FormToken = "") -> Response:
    require_csrf(request, csrf_token)
    sign_out(request)
    return back_to("/login")


@router.get("/")
def home(user: Annotated[Principal, Depends(page_user)]) -> Response:
    return back_to("/calls" if user.is_supervisor else "/me")


# ---- calls -------------------------------------------------------------------------


@router.get("/calls")
def calls_page(request: Request, user: Annotated[Principal, Depends(page_supervisor)]) -> HTMLResponse:
    params: dict[str, Any] = {k: v for k, v in request.query_params.items() if v != ""}
    form = dict(params)
    error = ""
    page = None
    console = console_of(request)
    try:
        # Days are the line's days (the filtered line's, else the first line's time zone).
        zone = console.zone(params.get("line"))
        days = DayRange(**{k: params[k] for k in ("since", "until") if k in params})
        for key, shift in (("since", 0), ("until", 1)):
            day = getattr(days, key)
            if day is not None:
                params[key] = local_day_start(day + timedelta(days=shift), zone).isoformat()
        page = list_visible_calls(console, user, CallFilters(**params))
    except ValidationError as exc:
        error = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
    except ValueError as exc:
        error = str(exc)
    next_url = None
    if page and page.next_cursor:
        next_url = "/calls?" + urlencode({**form, "after": page.next_cursor})
    store = console_of(request).store
    return render(
        request,
        "calls.html",
        status=422 if error else 200,
        page=page,
        form=form,
        error=error,
        next_url=next_url,
        engineers=store.engineer_names(),
        lines=store.line_names(),
    )


@router.get("/calls/{call_id}")
def call_page(
    request: Request, call_id: CallIdPath, user: Annotated[Principal, Depends(page_user)]
) -> HTMLResponse:
    console = console_of(request)
    call = visible_call(console, user, call_id)
    console.store.audit(user.name, "open", call.id, client_address(request))
    data = call_payload(console, call, user)
    call = mask_call(call)
    findings_by_id = {f["id"]: f for f in data["findings"]}
    return render(
        request,
        "call.html",
        call=call,
        data=data,
        findings_by_id=findings_by_id,
        timeline=script_json(
            {"findings": data["findings"], "duration": call.duration_s, "peaks_url": data["peaks_url"]}
        ),
    )


@router.post("/calls/{call_id}/findings/{finding_id}/review")
def review_form(
    request: Request,
    call_id: CallIdPath,
    finding_id: RecordIdPath,
    verdict: Annotated[str, Form(max_length=10)],
    user: Annotated[Principal, Depends(page_supervisor)],
    comment: FormText = "",
    csrf_token: FormToken = "",
) -> Response:
    require_csrf(request, csrf_token)
    console = console_of(request)
    sf = visible_finding(console, user, finding_id)
    if sf.call_id != call_id:
        raise HTTPException(status_code=404, detail=f"finding {finding_id} not found in call {call_id}")
    if verdict not in VERDICT_CN:
        raise HTTPException(
            status_code=422, detail=f"verdict must be one of fail, pass, warn, got {verdict!r}"
        )
    console.review(finding_id, reviewer=user.name, verdict=verdict, comment=comment.strip())
    return back_to(f"{call_url(call_id)}#finding-{finding_id}")


@router.post("/findings/{finding_id}/acknowledge")
def acknowledge_form(
    request: Request,
    finding_id: RecordIdPath,
    user: Annotated[Principal, Depends(page_user)],
    csrf_token: FormToken = "",
) -> Response:
    require_csrf(request, csrf_token)
    console = console_of(request)
    sf = visible_finding(console, user, finding_id)
    console.store.acknowledge_finding(finding_id, engineer=user.name)
    return back_to(f"{call_url(sf.call_id)}#finding-{finding_id}")


@router.post("/findings/{finding_id}/dispute")
def dispute_form(
    request: Request,
    finding_id: RecordIdPath,
    user: Annotated[Principal, Depends(page_user)],
    reason: FormText = "",
    csrf_token: FormToken = "",
) -> Response:
    require_csrf(request, csrf_token)
    console = console_of(request)
    sf = visible_finding(console, user, finding_id)
    if not reason.strip():
        raise HTTPException(status_code=422, detail="申诉需要填写理由 (a dispute needs a reason)")
    try:
        console.store.dispute_finding(finding_id, engineer=user.name, reason=reason)
    except Conflict as exc:
        raise HTTPException(status_code=409, detail=f"已申诉过 ({exc})") from exc
    return back_to(f"{call_url(sf.call_id)}#finding-{finding_id}")


# ---- engineer's own page -------------------------------------------------------------


@router.get("/me")
def my_page(request: Request, user: Annotated[Principal, Depends(page_user)]) -> HTMLResponse:
    console = console_of(request)
    page = console.store.list_calls(engineer=user.name, limit=20)
    latest = None
    if page.items:
        call = console.store.get_call(page.items[0].id)
        latest = {"call": call, "findings": console.store.findings(call.id)} if call else None
    mine = console.store.callbacks(engineer=user.name)
    return render(request, "me.html", page=page, latest=latest, callbacks=mine,
                  **callbacks.page_context(request, mine))


# ---- supervisor queues -----------------------------------------------------------------


@router.get("/disputes")
def disputes_page(request: Request, user: Annotated[Principal, Depends(page_supervisor)]) -> HTMLResponse:
    store = console_of(request).store
    items = [(d, store.get_finding(d.finding_id)) for d in store.disputes()]
    return render(request, "disputes.html", items=items)


@router.post("/disputes/{dispute_id}/resolve")
def resolve_form(
    request: Request,
    dispute_id: RecordIdPath,
    user: Annotated[Principal, Depends(page_supervisor)],
    resolution: FormText = "",
    csrf_token: FormToken = "",
) -> Response:
    require_csrf(request, csrf_token)
    try:
        console_of(request).store.resolve_dispute(dispute_id, by=user.name, resolution=resolution.strip())
    except Conflict as exc:
        raise HTTPException(status_code=409, detail=f"该申诉已处理 ({exc})") from exc
    return back_to("/disputes")


@router.get("/callbacks")
def callbacks_page(request: Request, user: Annotated[Principal, Depends(page_user)]) -> HTMLResponse:
    engineer = None if user.is_supervisor else user.name
    tasks = console_of(request).store.callbacks(engineer=engineer)
    return render(request, "callbacks.html", tasks=tasks, **callbacks.page_context(request, tasks))


@router.post("/callbacks/{callback_id}/done")
def callback_done_form(
    request: Request,
    callback_id: RecordIdPath,
    user: Annotated[Principal, Depends(page_user)],
    csrf_token: FormToken = "",
) -> Response:
    require_csrf(request, csrf_token)
    store = console_of(request).store
    task = store.get_callback(callback_id)
    if task is None or not (user.is_supervisor or task.engineer == user.name):
        raise HTTPException(status_code=404, detail=f"callback {callback_id} not found")
    store.mark_callback_done(callback_id, by=user.name)
    return back_to("/callbacks")


@router.get("/rules")
def rules_page(request: Request, user: Annotated[Principal, Depends(page_supervisor)]) -> HTMLResponse:
    store = console_of(request).store
    return render(
        request, "rules.html", precision=store.rule_precision(), reviews=store.reviews()[-50:][::-1]
    )


@router.get("/trends")
def trends_page(
    request: Request, user: Annotated[Principal, Depends(page_supervisor)], days: int = 30
) -> HTMLResponse:
    console = console_of(request)
    since, until = trend_window(max(1, min(days, 366)), console.zone())
    data = console.trends(since, until)
    return render(request, "trends.html", days=days, trends=data, trends_json=script_json(data))


@router.get("/live")
def live_page(request: Request, user: Annotated[Principal, Depends(page_supervisor)]) -> HTMLResponse:
    calls = [mask_live_event(c) for c in console_of(request).hub.live_calls()]
    return render(request, "live.html", calls_json=script_json(plain(calls)))


@router.get("/hours")
def hours_page(
    request: Request, user: Annotated[Principal, Depends(page_user)], weeks: int = 4
) -> HTMLResponse:
    today = console_of(request).today()
    start = today - timedelta(days=today.weekday())
    error = ""
    try:
        lines = console_of(request).hours(start, 7 * max(1, min(weeks, 12)))
    except Exception as exc:  # a calendar that cannot answer is shown, never hidden
        lines, error = [], f"日历不可用 (calendar unavailable): {exc}"
    return render(request, "hours.html", lines=lines, error=error, today=today.isoformat())


@router.get("/written")
def written_page(request: Request, user: Annotated[Principal, Depends(page_user)]) -> HTMLResponse:
    author = None if user.is_supervisor else user.name
    return render(
        request,
        "written.html",
        result=None,
        text="",
        error="",
        history=console_of(request).store.written_replies(author=author, limit=20),
    )


@router.post("/written")
def written_submit(
    request: Request,
    user: Annotated[Principal, Depends(page_user)],
    text: Annotated[str, Form(max_length=20000)] = "",
    channel: Annotated[str, Form(max_length=10)] = "web",
    csrf_token: FormToken = "",
) -> HTMLResponse:
    require_csrf(request, csrf_token)
    console = console_of(request)
    author = None if user.is_supervisor else user.name
    try:
        body = WrittenReplyIn(text=text, channel=channel)
    except ValidationError:
        return render(
            request,
            "written.html",
            status=422,
            result=None,
            text=text,
            error="请粘贴回复内容 (paste the reply text; channel is web or email)",
            history=console.store.written_replies(author=author, limit=20),
        )
    result = score_written_reply(console, user, body)
    return render(
        request,
        "written.html",
        result=result,
        text=text,
        error="",
        history=console.store.written_replies(author=author, limit=20),
    )
