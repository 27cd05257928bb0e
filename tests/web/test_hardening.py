"""Headers, docs, stored peaks, the line's time zone, masking, the audit log and the live
board's resilience (issue 12: security headers, privacy, operations)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from deskline.config import DEFAULT_CONFIG, load_config
from models.records import CallRecord, Finding, Utterance
from models.store import Store
from routing.hours import LineCalendar
from tests.web.conftest import SECRET, real_or_points_scorer, zhangwei_call
from web import peaks
from web.app import create_app
from web.live import LiveHub
from web.users import create_api_token


def test_pages_carry_security_headers_and_transcripts_are_not_cached(as_user) -> None:  # noqa: ANN001
    client, _ = as_user("王主管")
    for path in ("/calls/call-zw-1", "/api/calls/call-zw-1", "/login"):
        r = client.get(path)
        assert r.status_code == 200
        csp = r.headers["content-security-policy"]
        assert (
            "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "'unsafe-inline'" not in csp
        )
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["cache-control"] == "no-store"
    assert "no-store" not in client.get("/static/call.js").headers.get("cache-control", "")


def test_api_docs_need_sign_in_and_load_nothing_from_a_cdn(app, as_user) -> None:  # noqa: ANN001
    anonymous = TestClient(app)
    for path in ("/docs", "/redoc", "/openapi.json"):
        r = anonymous.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login")
    client, _ = as_user("张伟")
    for path, asset in (
        ("/docs", "/docs-assets/swagger-ui-bundle.js"),
        ("/redoc", "/docs-assets/redoc.standalone.js"),
    ):
        page = client.get(path)
        assert page.status_code == 200 and asset in page.text
        assert "cdn" not in page.text.lower() and "https://" not in page.text
        js = client.get(asset)
        assert js.status_code == 200 and len(js.content) > 100_000
    assert client.get("/openapi.json").json()["info"]["title"] == "Deskline console"


def test_peaks_are_computed_once_and_again_when_the_file_changes(
    as_user, monkeypatch, call_wav: Path
) -> None:  # noqa: ANN001
    calls: list[str] = []
    real = peaks.compute_peaks
    monkeypatch.setattr(
        peaks, "compute_peaks", lambda path, buckets: calls.append(str(path)) or real(path, buckets)
    )
    client, _ = as_user("王主管")
    first = client.get("/api/calls/call-zw-1/peaks").json()
    second = client.get("/api/calls/call-zw-1/peaks").json()
    assert first == second and len(calls) == 1
    client.get("/api/calls/call-zw-1/peaks?buckets=100")
    assert len(calls) == 2  # another resolution is another computation, once
    stat = call_wav.stat()
    os.utime(call_wav, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    client.get("/api/calls/call-zw-1/peaks")
    assert len(calls) == 3


def test_peaks_read_in_blocks_match_a_whole_file_read(tmp_path: Path) -> None:
    import numpy as np
    import soundfile as sf

    rng = np.random.default_rng(7)
    data = rng.uniform(-1, 1, size=(peaks.BLOCK_FRAMES * 3 + 123, 2)).astype(np.float32)
    path = tmp_path / "long.wav"
    sf.write(path, data, 8000, subtype="FLOAT")
    got = peaks.compute_peaks(path, 50)
    edges = np.linspace(0, len(data), 51).astype(int)
    for i, name in enumerate(("caller", "engineer")):
        want = [
            [round(float(data[a:b, i].min()), 4), round(float(data[a:b, i].max()), 4)]
            for a, b in zip(edges[:-1], edges[1:], strict=True)
        ]
        assert got["channels"][name] == want


@pytest.fixture
def utc_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_day_filters_use_the_lines_time_zone_on_a_utc_host(store: Store, call_wav: Path, utc_host) -> None:  # noqa: ANN001
    cfg = load_config(DEFAULT_CONFIG)
    calendars = {line.id: LineCalendar(line) for line in cfg.lines}
    assert str(calendars["hq"].zone) == "Asia/Shanghai"
    morning = zhangwei_call(call_wav, call_id="morning-1-dec")
    morning.started_at = "2026-12-01T07:30:00+08:00"  # 30 November, 23:30 UTC
    evening = zhangwei_call(call_wav, call_id="evening-30-nov")
    evening.started_at = "2026-11-30T23:30:00+08:00"
    store.save_call(morning)
    store.save_call(evening)
    app = create_app(store, secret_key=SECRET, scorer=real_or_points_scorer(), calendars=calendars)
    from tests.web.conftest import sign_in

    client = TestClient(app)
    sign_in(client, "王主管")
    page = client.get("/calls?since=2026-12-01&until=2026-12-01").text
    assert "morning-1-dec" in page and "evening-30-nov" not in page
    page = client.get("/calls?since=2026-11-30&until=2026-11-30&line=hq").text
    assert "evening-30-nov" in page and "morning-1-dec" not in page


SECRET_CALL = CallRecord(
    id="call-secrets",
    started_at="2026-03-02T11:00:00+08:00",
    engineer="张伟",
    utterances=[
        Utterance("engineer", 1.0, 3.0, "您的新密码是Xk29pq，登录后请修改"),
        Utterance("caller", 4.0, 8.0, "我的身份证号是一一零一零五一九九零零三零七一二三四"),
        Utterance("caller", 9.0, 12.0, "手机号13912345678，工号是八八六六"),
        Utterance("caller", 13.0, 15.0, "银行卡 6222 0212 3456 7890"),
    ],
    findings=[Finding("3.4(a)", "r", "k", "warn", 1.0, 3.0, heard="新密码是Xk29pq")],
)


def test_spoken_secrets_are_masked_in_api_page_and_search(as_user, store: Store) -> None:  # noqa: ANN001
    store.save_call(SECRET_CALL)
    for who in ("王主管", "张伟"):
        client, _ = as_user(who)
        api = client.get("/api/calls/call-secrets").text
        page = client.get("/calls/call-secrets").text
        for secret in (
            "Xk29pq",
            "一一零一零五一九九零零三零七一二三四",
            "13912345678",
            "6222 0212 3456 7890",
            "7890",
        ):
            assert secret not in api and secret not in page, (who, secret)
        assert "新密码是＊＊＊＊＊＊" in api and "登录后请修改" in api
        assert "工号是八八六六" in api  # four digits are no personal number
    sup, _ = as_user("王主管")
    for term in ("Xk29pq", "13912345678", "一一零一零五"):
        assert sup.get("/api/calls", params={"text": term}).json()["items"] == [], term
    assert [c["id"] for c in sup.get("/api/calls", params={"text": "登录后请修改"}).json()["items"]] == [
        "call-secrets"
    ]


def test_who_opened_and_played_a_call_is_audited(as_user) -> None:  # noqa: ANN001
    eng, _ = as_user("张伟")
    assert eng.get("/calls/call-zw-1").status_code == 200
    assert eng.get("/api/calls/call-zw-1/audio", headers={"Range": "bytes=0-99"}).status_code == 206
    assert eng.get("/api/audit").status_code == 403
    sup, _ = as_user("王主管")
    entries = sup.get("/api/audit", params={"call_id": "call-zw-1"}).json()
    assert [(e["actor"], e["action"]) for e in entries][:2] == [("张伟", "play"), ("张伟", "open")]
    assert entries[0]["client"] == "testclient"


def test_a_malformed_live_event_is_refused_and_the_board_keeps_working(app, store: Store) -> None:  # noqa: ANN001
    node = TestClient(app)
    node.headers["Authorization"] = f"Bearer {create_api_token(store, 'node-1')}"
    assert node.post("/api/live/events", json={"type": "call_started", "call_id": "c1"}).status_code == 202
    for bad in (
        {"type": "finding", "call_id": "c1", "finding": None},
        {"type": "finding", "call_id": "c1", "finding": "oops"},
        {"type": "finding", "call_id": "c1"},
        {"type": "call_started", "call_id": ""},
        {"type": "finding", "call_id": "c1", "finding": {"x": float("inf")}},
    ):
        import json as _json

        r = node.post(
            "/api/live/events", content=_json.dumps(bad), headers={"Content-Type": "application/json"}
        )
        assert r.status_code == 422, bad
    calls = app.state.console.hub.live_calls()
    assert [c["call_id"] for c in calls] == ["c1"] and calls[0]["findings"] == []


def test_live_calls_that_never_end_age_out() -> None:
    now = [1000.0]
    hub = LiveHub(max_live_s=3600, clock=lambda: now[0])
    hub.publish({"type": "call_started", "call_id": "stuck"})
    now[0] += 1800
    hub.publish({"type": "call_started", "call_id": "recent"})
    assert {c["call_id"] for c in hub.live_calls()} == {"stuck", "recent"}
    now[0] += 1801
    assert [c["call_id"] for c in hub.live_calls()] == ["recent"]


def test_secrets_are_masked_on_the_queues_and_the_engineers_page(as_user, store: Store) -> None:  # noqa: ANN001
    from models.records import Promise

    call = CallRecord(
        **{**SECRET_CALL.__dict__, "id": "call-secrets-2", "started_at": "2026-03-03T11:00:00+08:00"}
    )
    call.caller = "13800001111"
    call.promises = [
        Promise("回电告诉您新密码是Pw77zz", 2.0, 3.0, True, "2026-03-03T15:00:00+08:00", "下午三点")
    ]
    store.save_call(call)
    fid = store.findings("call-secrets-2")[0].id
    eng, csrf = as_user("张伟")
    ack = eng.post(f"/api/findings/{fid}/acknowledge", headers={"X-CSRF-Token": csrf})
    assert ack.status_code == 200 and "Xk29pq" not in ack.text
    store.dispute_finding(fid, engineer="张伟", reason="不是我说的")
    shown = [eng.get("/me").text, eng.get("/callbacks").text, eng.get("/api/callbacks").text]
    sup, _ = as_user("王主管")
    shown += [sup.get("/disputes").text, sup.get("/callbacks").text]
    for text in shown:
        assert "Xk29pq" not in text and "Pw77zz" not in text
    assert "13800001111" in shown[-1]  # the caller's number stays: the engineer calls it back
