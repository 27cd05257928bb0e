"""The JSON API: every endpoint, role isolation, bad input (422), missing records (404)."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi.testclient import TestClient

from models.store import Store
from tests.web.conftest import lina_call, sign_in, zhangwei_call
from web.users import create_api_token


def hdr(token: str) -> dict[str, str]:
    return {"X-CSRF-Token": token}


def test_sign_in_required_and_wrong_password(app, store: Store) -> None:  # noqa: ANN001
    client = TestClient(app)
    assert client.get("/api/calls").status_code == 401
    r = client.get("/calls", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    page = client.get("/login")
    import re

    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    bad = client.post("/login", data={"name": "张伟", "password": "nope", "csrf_token": token})
    assert bad.status_code == 401 and "用户名或密码不正确" in bad.text
    no_csrf = client.post("/login", data={"name": "张伟", "password": "zhangwei-pass"})
    assert no_csrf.status_code == 403


def test_session_cookie_flags(app) -> None:  # noqa: ANN001
    client = TestClient(app)
    cookie = client.get("/login").headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie


def test_configured_https_only_marks_the_session_cookie_secure(tmp_path: Path, store: Store) -> None:
    from deskline.config import load_config
    from deskline.console_runtime import build_app

    for setting, secure in (("true", True), ("false", False)):
        config = tmp_path / f"{setting}.toml"
        config.write_text(f'[console]\nsecret_key = "{"k" * 16}"\nhttps_only = {setting}\n'
                          '[[lines]]\nid = "hq"\ncalendar = "hq"\n', encoding="utf-8")
        cookie = TestClient(build_app(load_config(config), store)).get("/login").headers["set-cookie"]
        assert ("; secure" in cookie.lower()) == secure, cookie


def test_password_is_stored_as_argon2(store: Store) -> None:
    assert store.get_user("张伟").password_hash.startswith("$argon2id$")


def test_calls_list_filters_and_paging(as_user) -> None:  # noqa: ANN001
    client, _ = as_user("王主管")
    r = client.get("/api/calls")
    assert r.status_code == 200
    assert [c["id"] for c in r.json()["items"]] == ["call-ln-1", "call-zw-1"]
    assert [c["id"] for c in client.get("/api/calls", params={"engineer": "张伟"}).json()["items"]] == [
        "call-zw-1"
    ]
    assert [c["id"] for c in client.get("/api/calls", params={"clause": "3.5(2)"}).json()["items"]] == [
        "call-ln-1"
    ]
    assert [c["id"] for c in client.get("/api/calls", params={"text": "我们不管"}).json()["items"]] == [
        "call-zw-1"
    ]
    assert [c["id"] for c in client.get("/api/calls", params={"score_min": 75}).json()["items"]] == [
        "call-zw-1"
    ]
    page1 = client.get("/api/calls", params={"limit": 1}).json()
    page2 = client.get("/api/calls", params={"limit": 1, "after": page1["next_cursor"]}).json()
    assert [c["id"] for c in page2["items"]] == ["call-zw-1"] and page2["next_cursor"] is None


def test_calls_list_bad_input_is_422_with_a_message(as_user) -> None:  # noqa: ANN001
    client, _ = as_user("王主管")
    r = client.get("/api/calls", params={"score_min": 150})
    assert r.status_code == 422 and "score_min" in r.json()["detail"]
    r = client.get("/api/calls", params={"since": "2026-03-01T00:00:00"})
    assert r.status_code == 422 and "timezone offset" in r.json()["detail"]
    r = client.get("/api/calls", params={"after": "not-a-cursor"})
    assert r.status_code == 422 and "not a cursor" in r.json()["detail"]
    r = client.get("/api/calls", params={"limit": 0})
    assert r.status_code == 422 and "limit" in r.json()["detail"]


def test_engineer_sees_only_their_own_calls(as_user) -> None:  # noqa: ANN001
    client, token = as_user("张伟")
    assert [c["id"] for c in client.get("/api/calls").json()["items"]] == ["call-zw-1"]
    # Asking for someone else's engineer filter still gives only their own.
    assert [c["id"] for c in client.get("/api/calls", params={"engineer": "李娜"}).json()["items"]] == [
        "call-zw-1"
    ]
    assert client.get("/api/calls/call-zw-1").status_code == 200
    assert client.get("/api/calls/call-ln-1").status_code == 404
    assert client.get("/calls/call-ln-1").status_code == 404
    assert client.get("/api/calls/call-ln-1/audio").status_code == 404
    assert client.get("/api/calls/call-ln-1/peaks").status_code == 404
    lina_finding = None
    sup, _ = as_user("王主管")
    lina_finding = sup.get("/api/calls/call-ln-1").json()["findings"][0]["id"]
    assert (
        client.post(
            f"/api/findings/{lina_finding}/dispute", json={"reason": "x"}, headers=hdr(token)
        ).status_code
        == 404
    )
    assert client.post(f"/api/findings/{lina_finding}/acknowledge", headers=hdr(token)).status_code == 404
    # Supervisor-only endpoints.
    for path in ("/api/disputes", "/api/reviews", "/api/rules/precision", "/api/live/calls", "/api/tickets"):
        assert client.get(path).status_code == 403, path
    assert client.get("/calls").status_code == 403
    assert (
        client.post(
            f"/api/findings/{lina_finding}/review", json={"verdict": "pass"}, headers=hdr(token)
        ).status_code
        == 403
    )


def test_call_detail_and_missing_call(as_user) -> None:  # noqa: ANN001
    client, _ = as_user("王主管")
    call = client.get("/api/calls/call-zw-1").json()
    assert call["engineer"] == "张伟" and call["audio_url"] == "/api/calls/call-zw-1/audio"
    assert [f["clause"] for f in call["findings"]] == ["3.4(a)", "3.5(1)"]
    assert all(isinstance(f["id"], int) for f in call["findings"])
    assert client.get("/api/calls/nope").status_code == 404
    assert client.get("/calls/nope").status_code == 404


def test_audio_supports_range_requests(as_user, call_wav: Path) -> None:  # noqa: ANN001
    client, _ = as_user("王主管")
    full = client.get("/api/calls/call-zw-1/audio")
    assert full.status_code == 200 and full.content == call_wav.read_bytes()
    part = client.get("/api/calls/call-zw-1/audio", headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == call_wav.read_bytes()[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{call_wav.stat().st_size}"


def test_peaks_show_each_speaker_on_their_channel(as_user) -> None:  # noqa: ANN001
    client, _ = as_user("王主管")
    peaks = client.get("/api/calls/call-zw-1/peaks", params={"buckets": 130}).json()
    assert set(peaks["channels"]) == {"caller", "engineer"} and len(peaks["channels"]["caller"]) == 130
    per_s = 130 / peaks["duration"]
    loud = lambda ch, t: max(abs(v) for v in peaks["channels"][ch][int(t * per_s)])  # noqa: E731
    assert loud("engineer", 2.0) > 0.05 and loud("caller", 2.0) == 0.0  # e01: engineer greets
    assert loud("caller", 7.0) > 0.05 and loud("engineer", 7.0) == 0.0  # c01: caller speaks
    assert client.get("/api/calls/call-zw-1/peaks", params={"buckets": 1}).status_code == 422


def test_review_recomputes_score_and_keeps_audit_trail(as_user) -> None:  # noqa: ANN001
    client, token = as_user("王主管")
    call = client.get("/api/calls/call-zw-1").json()
    fail = next(f for f in call["findings"] if f["verdict"] == "fail")
    assert (
        client.post(f"/api/findings/{fail['id']}/review", json={"verdict": "pass"}).status_code == 403
    )  # no CSRF
    r = client.post(
        f"/api/findings/{fail['id']}/review",
        json={"verdict": "pass", "comment": "客户原话"},
        headers=hdr(token),
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["review"]["before"] == "fail" and body["review"]["after"] == "pass"
    assert body["scorecard"]["overall"] > 80.0
    assert client.get("/api/calls/call-zw-1").json()["scorecard"]["overall"] == body["scorecard"]["overall"]
    trail = client.get("/api/reviews", params={"call_id": "call-zw-1"}).json()
    assert [(t["reviewer"], t["before"], t["after"], t["comment"]) for t in trail] == [
        ("王主管", "fail", "pass", "客户原话")
    ]
    precision = client.get("/api/rules/precision").json()
    assert precision == [
        {
            "rule_id": "forbidden.not_our_job",
            "clause": "3.5(1)",
            "reviewed": 1,
            "confirmed": 0,
            "overturned": 1,
            "precision": 0.0,
        }
    ]
    bad = client.post(f"/api/findings/{fail['id']}/review", json={"verdict": "maybe"}, headers=hdr(token))
    assert bad.status_code == 422 and "verdict" in bad.json()["detail"]
    assert (
        client.post("/api/findings/999999/review", json={"verdict": "pass"}, headers=hdr(token)).status_code
        == 404
    )


def test_engineer_acknowledges_and_disputes(as_user) -> None:  # noqa: ANN001
    client, token = as_user("张伟")
    findings = client.get("/api/calls/call-zw-1").json()["findings"]
    ack = client.post(f"/api/findings/{findings[0]['id']}/acknowledge", headers=hdr(token))
    assert ack.status_code == 200 and ack.json()["engineer_response"] == "acknowledged"
    empty = client.post(f"/api/findings/{findings[1]['id']}/dispute", json={"reason": ""}, headers=hdr(token))
    assert empty.status_code == 422 and "reason" in empty.json()["detail"]
    d = client.post(
        f"/api/findings/{findings[1]['id']}/dispute",
        json={"reason": "我说的是“我们不管这个价格”"},
        headers=hdr(token),
    )
    assert d.status_code == 201 and d.json()["status"] == "open"
    assert (
        client.post("/api/findings/424242/dispute", json={"reason": "x"}, headers=hdr(token)).status_code
        == 404
    )
    sup, sup_token = as_user("王主管")
    queue = sup.get("/api/disputes").json()
    assert [(q["engineer"], q["clause"]) for q in queue] == [("张伟", "3.5(1)")]
    assert (
        sup.post(
            f"/api/disputes/{queue[0]['id']}/resolve", json={"resolution": "改判"}, headers=hdr(sup_token)
        ).status_code
        == 200
    )
    assert sup.get("/api/disputes").json() == []
    assert sup.post("/api/disputes/999/resolve", json={}, headers=hdr(sup_token)).status_code == 404


def test_callbacks_listed_and_marked_done(as_user) -> None:  # noqa: ANN001
    client, token = as_user("张伟")
    tasks = client.get("/api/callbacks").json()
    assert [t["caller"] for t in tasks] == ["13800001111"]
    done = client.post(f"/api/callbacks/{tasks[0]['id']}/done", headers=hdr(token))
    assert done.status_code == 200 and done.json()["state"] == "kept" and done.json()["done_by"] == "张伟"
    assert client.get("/api/callbacks", params={"state": "kept"}).json()[0]["id"] == tasks[0]["id"]
    assert client.get("/api/callbacks", params={"state": "someday"}).status_code == 422
    lina, lina_token = as_user("李娜")
    assert lina.get("/api/callbacks").json() == []
    assert lina.post(f"/api/callbacks/{tasks[0]['id']}/done", headers=hdr(lina_token)).status_code == 404


def test_node_posts_a_finished_call_with_a_bearer_token(app, store: Store, call_wav: Path) -> None:  # noqa: ANN001
    token = create_api_token(store, "node-1")
    client = TestClient(app)
    call = zhangwei_call(call_wav, call_id="call-from-node")
    auth = {"Authorization": f"Bearer {token}"}
    r = client.post(
        "/api/calls",
        content=json.dumps(call.to_dict(), ensure_ascii=False),
        headers={**auth, "Content-Type": "application/json"},
    )
    assert r.status_code == 201, r.text
    assert store.get_call("call-from-node") == call
    assert client.get("/api/calls", headers=auth).status_code == 403  # a node token only posts
    wrong = client.post("/api/calls", json=call.to_dict(), headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    bad = dict(call.to_dict(), started_at="2026-03-02 09:15")
    r = client.post("/api/calls", json=bad, headers=auth)
    assert r.status_code == 422 and "timezone offset" in r.json()["detail"]
    bad = dict(call.to_dict(), findings=[{"clause": "3.5(1)"}])
    r = client.post("/api/calls", json=bad, headers=auth)
    assert r.status_code == 422 and "findings.0.rule_id" in r.json()["detail"]


def test_engineer_cannot_post_calls(as_user, call_wav: Path) -> None:  # noqa: ANN001
    client, token = as_user("张伟")
    r = client.post("/api/calls", json=lina_call(call_wav).to_dict(), headers=hdr(token))
    assert r.status_code == 403


def test_live_events_posted_by_a_node_reach_the_board(app, store: Store) -> None:  # noqa: ANN001
    token = create_api_token(store, "node-1")
    client = TestClient(app)
    auth = {"Authorization": f"Bearer {token}"}
    r = client.post(
        "/api/live/events",
        json={
            "type": "call_started",
            "call_id": "live-1",
            "line": "hq",
            "caller": "138",
            "started_at": "2026-03-02T09:00:00+08:00",
        },
        headers=auth,
    )
    assert r.status_code == 202
    assert client.post("/api/live/events", json={"type": "finding"}, headers=auth).status_code == 422
    assert [c["call_id"] for c in app.state.console.hub.live_calls()] == ["live-1"]


def test_trends_and_hours_and_tickets(as_user, store: Store) -> None:  # noqa: ANN001
    store.add_ticket(
        "voicemail", created_at="2026-03-02T20:00:00+08:00", line="hq", caller="138", text="语音留言"
    )
    client, _ = as_user("王主管")
    trends = client.get("/api/trends", params={"days": 3650 // 10}).json()
    assert set(trends) == {"since", "until", "score_by_engineer", "failures_by_clause", "ring_time_by_line"}
    assert client.get("/api/trends", params={"days": 0}).status_code == 422
    assert client.get("/api/hours", params={"days": 200}).status_code == 422
    assert client.get("/api/hours").json() == []  # this app has no calendars configured
    assert [t["kind"] for t in client.get("/api/tickets").json()] == ["voicemail"]


def test_openapi_lists_the_api(app, as_user) -> None:  # noqa: ANN001
    client, _ = as_user("王主管")
    paths = client.get("/openapi.json").json()["paths"]
    for path in (
        "/api/calls",
        "/api/calls/{call_id}",
        "/api/findings/{finding_id}/review",
        "/api/live/events",
        "/api/callbacks",
        "/api/trends",
        "/api/hours",
        "/api/written-replies",
        "/api/rules/precision",
    ):
        assert path in paths, path


def test_metrics(app) -> None:  # noqa: ANN001
    client = TestClient(app, client=("127.0.0.1", 50000))  # no metrics token: loopback scrapers only
    sign_in(client, "王主管")
    client.get("/api/calls")
    text = client.get("/metrics").text
    assert "deskline_calls_stored 2.0" in text
    assert 'deskline_findings_failed{clause="3.5(1)"} 1.0' in text
    assert "deskline_live_calls 0.0" in text
    assert 'deskline_http_request_seconds_count{method="GET",route="/api/calls",status="200"} 1.0' in text


def test_written_reply_without_a_checker_is_a_clear_503(as_user, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setitem(__import__("sys").modules, "speech.qa.checker", None)  # as if not installed
    client, token = as_user("张伟")
    r = client.post("/api/written-replies", json={"text": "这个问题我们不管。"}, headers=hdr(token))
    assert r.status_code == 503 and "written-reply checker is not available" in r.json()["detail"]
    assert client.post("/api/written-replies", json={"text": ""}, headers=hdr(token)).status_code == 422
    r = client.post("/api/written-replies", json={"text": "好", "channel": "fax"}, headers=hdr(token))
    assert r.status_code == 422 and "channel" in r.json()["detail"]


def test_written_reply_is_scored_with_the_phrase_rules(as_user) -> None:  # noqa: ANN001
    client, token = as_user("张伟")
    r = client.post(
        "/api/written-replies",
        headers=hdr(token),
        json={
            "text": "您好，这个问题我们不管。",
            "channel": "email",
            "written_at": "2026-03-02T10:00:00+08:00",
        },
    )
    assert r.status_code == 201, r.text
    fails = [f for f in r.json()["findings"] if f["verdict"] == "fail"]
    assert [f["clause"] for f in fails] == ["3.5(1)"] and fails[0]["recommended"]
    assert r.json()["scorecard"]["overall"] < 100
    history = client.get("/api/written-replies").json()
    assert [(h["author"], h["channel"]) for h in history] == [("张伟", "email")]
    page = client.post("/written", data={"text": "这个问题我们不管。", "channel": "web", "csrf_token": token})
    assert page.status_code == 200 and "3.5(1)" in page.text and "建议用语" in page.text
