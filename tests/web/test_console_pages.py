"""Server-rendered pages: each role sees its pages, forms need the CSRF token, the
hours page shows the real line calendars with holidays and 调休 days."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from models.store import Store
from routing.config import parse_lines
from routing.hours import LineCalendar
from tests.web.conftest import SECRET, real_or_points_scorer
from web.app import create_app


def test_supervisor_pages_render(as_user) -> None:  # noqa: ANN001
    client, _ = as_user("王主管")
    assert client.get("/", follow_redirects=False).headers["location"] == "/calls"
    calls = client.get("/calls")
    assert calls.status_code == 200 and "call-zw-1" in calls.text and "3.5(1)" in calls.text
    filtered = client.get("/calls", params={"engineer": "李娜", "since": "2026-03-02", "until": "2026-03-02"})
    assert "call-ln-1" in filtered.text and "call-zw-1" not in filtered.text
    search = client.get("/calls", params={"text": "开不了机"})
    assert "call-zw-1" in search.text and "call-ln-1" not in search.text
    bad = client.get("/calls", params={"score_min": "abc"})
    assert bad.status_code == 422 and "score_min" in bad.text
    page = client.get("/calls/call-zw-1")
    assert page.status_code == 200
    for text in (
        "这种情况的确很特殊",
        "开始用语",
        "我们不管",
        "复核",
        'id="waveform"',
        "/api/calls/call-zw-1/audio",
    ):
        assert text in page.text, text
    for path in ("/live", "/disputes", "/callbacks", "/trends", "/rules", "/hours", "/written"):
        assert client.get(path).status_code == 200, path


def test_engineer_pages_and_isolation(as_user) -> None:  # noqa: ANN001
    client, _ = as_user("张伟")
    assert client.get("/", follow_redirects=False).headers["location"] == "/me"
    me = client.get("/me")
    assert me.status_code == 200 and "做得好的" in me.text and "建议话术" in me.text and "6.2 秒" in me.text
    assert client.get("/calls/call-zw-1").status_code == 200
    other = client.get("/calls/call-ln-1")
    assert other.status_code == 404 and "call-ln-1" in other.text
    for path in ("/calls", "/live", "/disputes", "/trends", "/rules"):
        assert client.get(path).status_code == 403, path


def test_forms_need_the_csrf_token(as_user, store: Store) -> None:  # noqa: ANN001
    client, token = as_user("王主管")
    fid = store.findings("call-zw-1")[1].id
    url = f"/calls/call-zw-1/findings/{fid}/review"
    assert client.post(url, data={"verdict": "pass"}).status_code == 403
    assert client.post(url, data={"verdict": "pass", "csrf_token": "forged"}).status_code == 403
    ok = client.post(
        url, data={"verdict": "pass", "comment": "误判", "csrf_token": token}, follow_redirects=False
    )
    assert ok.status_code == 303
    assert store.get_finding(fid).finding.verdict == "pass"
    page = client.get("/calls/call-zw-1")
    assert 'id="audit-trail"' in page.text and "误判" in page.text
    assert client.post(url, data={"verdict": "bogus", "csrf_token": token}).status_code == 422
    assert (
        client.post(
            f"/calls/call-ln-1/findings/{fid}/review", data={"verdict": "pass", "csrf_token": token}
        ).status_code
        == 404
    )


def test_engineer_dispute_form_reaches_the_queue(as_user, store: Store) -> None:  # noqa: ANN001
    client, token = as_user("张伟")
    fid = store.findings("call-zw-1")[1].id
    assert (
        client.post(f"/findings/{fid}/dispute", data={"reason": " ", "csrf_token": token}).status_code == 422
    )
    r = client.post(
        f"/findings/{fid}/dispute", data={"reason": "客户听错了", "csrf_token": token}, follow_redirects=False
    )
    assert r.status_code == 303
    sup, _ = as_user("王主管")
    queue = sup.get("/disputes").text
    assert "客户听错了" in queue and "张伟" in queue


def test_sign_out(as_user) -> None:  # noqa: ANN001
    client, token = as_user("张伟")
    assert client.post("/logout", data={"csrf_token": token}, follow_redirects=False).status_code == 303
    assert client.get("/api/me").status_code == 401


def test_login_does_not_redirect_off_site(app) -> None:  # noqa: ANN001
    client = TestClient(app)
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
    r = client.post(
        "/login",
        data={"name": "张伟", "password": "zhangwei-pass", "csrf_token": token, "next": "//evil.example/"},
        follow_redirects=False,
    )
    assert r.headers["location"] == "/"


def test_hours_page_shows_holidays_and_makeup_days(store: Store) -> None:
    lines = parse_lines(
        [
            {"id": "hq", "name": "总部热线", "calendar": "hq"},
            {"id": "web", "name": "服务网站", "calendar": "web"},
        ],
        "test",
    )
    app = create_app(
        store,
        secret_key=SECRET,
        scorer=real_or_points_scorer(),
        calendars={line.id: LineCalendar(line) for line in lines},
    )
    from tests.web.conftest import sign_in

    with TestClient(app) as client:
        sign_in(client, "张伟")
        days = client.get("/api/hours", params={"start": "2025-09-28", "days": 14}).json()
        hq = {d["date"]: d for d in days[0]["days"]}
        assert days[0]["name"] == "总部热线"
        assert hq["2025-09-28"]["reason"] == "makeup_workday" and hq["2025-09-28"]["ranges"] == [
            "08:30-18:30"
        ]
        assert hq["2025-10-01"]["reason"] == "holiday" and hq["2025-10-01"]["ranges"] == []
        assert hq["2025-10-01"]["holiday_name"] == "国庆节"
        web = {d["date"]: d for d in days[1]["days"]}
        assert web["2025-10-01"]["ranges"] == ["00:00-24:00"]
        page = client.get("/hours")
        assert page.status_code == 200 and "总部热线" in page.text and 'id="calendar-web"' in page.text
        assert client.get("/api/hours", params={"start": "not-a-date"}).status_code == 422


def test_a_call_interrupted_mid_call_says_so(as_user, store: Store) -> None:  # noqa: ANN001
    from deskline.call_recovery import INTERRUPTED

    call = store.get_call("call-zw-1")
    call.sip_timings = {"end_reason": INTERRUPTED}
    store.fail_call(call)
    client, _ = as_user("王主管")
    page = client.get("/calls/call-zw-1").text
    assert "分析未完成" in page and "热线在通话中停止" in page
    assert "我们不管" in page  # the live finding is still shown
    assert "分析未完成" in client.get("/calls").text
