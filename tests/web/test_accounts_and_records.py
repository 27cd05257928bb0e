"""Sessions the server can end, node tokens that own their calls, and an audit trail that
cannot be rewritten (issue 12, "Accounts, sessions, tokens")."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from models.store import Store
from tests.web.conftest import zhangwei_call
from web.users import create_api_token


def hdr(token: str) -> dict[str, str]:
    return {"X-CSRF-Token": token}


def test_logout_ends_the_session_for_a_copied_cookie(app, as_user) -> None:  # noqa: ANN001
    client, csrf = as_user("王主管")
    copied = TestClient(app)
    copied.cookies.set("deskline_session", client.cookies["deskline_session"])
    assert copied.get("/api/me").status_code == 200
    assert client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False).status_code == 303
    assert copied.get("/api/me").status_code == 401
    assert copied.get("/calls", follow_redirects=False).status_code == 303  # to the sign-in page


@pytest.mark.parametrize(
    "change",
    [
        lambda s: s.set_role("王主管", "engineer"),
        lambda s: s.set_disabled("王主管", True),
        lambda s: s.delete_user("王主管"),
    ],
    ids=["demoted", "disabled", "deleted"],
)
def test_role_change_disable_and_delete_end_sessions_at_once(as_user, store: Store, change) -> None:  # noqa: ANN001
    client, _ = as_user("王主管")
    assert client.get("/api/disputes").status_code == 200
    change(store)
    assert client.get("/api/disputes").status_code == 401
    assert client.get("/api/me").status_code == 401


def test_a_demoted_supervisor_signs_in_again_as_an_engineer(as_user, store: Store) -> None:  # noqa: ANN001
    store.set_role("王主管", "engineer")
    client, _ = as_user("王主管")
    assert client.get("/api/me").json()["role"] == "engineer"
    assert client.get("/api/disputes").status_code == 403


def node_client(app, store: Store, node: str) -> TestClient:  # noqa: ANN001
    client = TestClient(app)
    client.headers["Authorization"] = f"Bearer {create_api_token(store, node)}"
    return client


def test_a_node_cannot_overwrite_another_nodes_call(app, store: Store, call_wav: Path, as_user) -> None:  # noqa: ANN001
    call = zhangwei_call(call_wav, call_id="node-a-call-1")
    node_a, node_b = node_client(app, store, "node-a"), node_client(app, store, "node-b")
    assert node_a.post("/api/calls", json=call.to_dict()).status_code == 201
    hostile = dict(call.to_dict(), engineer="李娜", findings=[])
    r = node_b.post("/api/calls", json=hostile)
    assert r.status_code == 409 and "another node" in r.json()["detail"]
    assert store.get_call("node-a-call-1").engineer == "张伟"
    assert len(store.findings("node-a-call-1")) == 2
    # Calls written on this machine (analyze --save, the local hotline) are no node's to change.
    assert (
        node_b.post("/api/calls", json=dict(zhangwei_call(call_wav).to_dict(), findings=[])).status_code
        == 409
    )
    # The owning node may update its call.
    assert node_a.post("/api/calls", json=dict(call.to_dict(), feedback="更新")).status_code == 201
    assert store.get_call("node-a-call-1").feedback == "更新"


def test_a_repost_never_erases_reviewed_or_disputed_findings(
    app, store: Store, call_wav: Path, as_user
) -> None:  # noqa: ANN001
    call = zhangwei_call(call_wav, call_id="node-a-call-2")
    node_a = node_client(app, store, "node-a")
    assert node_a.post("/api/calls", json=call.to_dict()).status_code == 201
    greeting, refusal = store.findings("node-a-call-2")
    sup, sup_csrf = as_user("王主管")
    assert (
        sup.post(
            f"/api/findings/{refusal.id}/review",
            json={"verdict": "pass", "comment": "语境不同"},
            headers=hdr(sup_csrf),
        ).status_code
        == 200
    )
    eng, eng_csrf = as_user("张伟")
    assert (
        eng.post(
            f"/api/findings/{greeting.id}/dispute", json={"reason": "我报了姓名"}, headers=hdr(eng_csrf)
        ).status_code
        == 201
    )
    assert node_a.post("/api/calls", json=dict(call.to_dict(), findings=[])).status_code == 201
    kept = {f.id: f for f in store.findings("node-a-call-2")}
    assert set(kept) == {greeting.id, refusal.id}
    assert kept[refusal.id].reviewed and kept[refusal.id].finding.verdict == "pass"
    assert kept[greeting.id].engineer_response == "disputed"
    assert len(store.reviews(call_id="node-a-call-2")) == 1
    assert [d.finding_id for d in store.disputes()] == [greeting.id]


def test_a_finding_is_disputed_once_and_a_dispute_resolved_once(as_user, store: Store) -> None:  # noqa: ANN001
    eng, eng_csrf = as_user("张伟")
    fid = store.findings("call-zw-1")[1].id
    assert (
        eng.post(f"/api/findings/{fid}/dispute", json={"reason": "一"}, headers=hdr(eng_csrf)).status_code
        == 201
    )
    again = eng.post(f"/api/findings/{fid}/dispute", json={"reason": "二"}, headers=hdr(eng_csrf))
    assert again.status_code == 409 and "already been disputed" in again.json()["detail"]
    form = eng.post(f"/findings/{fid}/dispute", data={"reason": "三", "csrf_token": eng_csrf})
    assert form.status_code == 409
    assert len(store.disputes(status=None)) == 1
    sup, sup_csrf = as_user("王主管")
    did = store.disputes()[0].id
    first = sup.post(f"/api/disputes/{did}/resolve", json={"resolution": "维持"}, headers=hdr(sup_csrf))
    assert first.status_code == 200
    second = sup.post(f"/api/disputes/{did}/resolve", json={"resolution": "改判"}, headers=hdr(sup_csrf))
    assert second.status_code == 409
    assert (
        sup.post(f"/disputes/{did}/resolve", data={"resolution": "x", "csrf_token": sup_csrf}).status_code
        == 409
    )
    resolved = store.disputes(status="resolved")[0]
    assert (resolved.resolved_by, resolved.resolution) == ("王主管", "维持")


def test_reviews_and_disputes_cannot_be_rewritten_in_the_database(as_user, store: Store) -> None:  # noqa: ANN001
    sup, sup_csrf = as_user("王主管")
    fid = store.findings("call-zw-1")[1].id
    sup.post(f"/api/findings/{fid}/review", json={"verdict": "pass", "comment": "x"}, headers=hdr(sup_csrf))
    eng, eng_csrf = as_user("张伟")
    eng.post(
        f"/api/findings/{store.findings('call-zw-1')[0].id}/dispute",
        json={"reason": "r"},
        headers=hdr(eng_csrf),
    )
    assert eng.get("/api/calls/call-zw-1").status_code == 200  # an audit entry
    conn = sqlite3.connect(store.path)
    for sql in (
        "UPDATE reviews SET comment = 'forged'",
        "DELETE FROM reviews",
        "UPDATE disputes SET reason = 'forged'",
        "DELETE FROM disputes",
        "DELETE FROM audit_log",
    ):
        with pytest.raises(sqlite3.IntegrityError, match="append-only|resolved once"):
            conn.execute(sql)
    conn.close()


def test_engineers_do_not_get_internal_review_comments(as_user, store: Store) -> None:  # noqa: ANN001
    sup, sup_csrf = as_user("王主管")
    fid = store.findings("call-zw-1")[1].id
    sup.post(
        f"/api/findings/{fid}/review",
        json={"verdict": "pass", "comment": "内部：他态度一般"},
        headers=hdr(sup_csrf),
    )
    assert sup.get("/api/calls/call-zw-1").json()["reviews"][0]["comment"] == "内部：他态度一般"
    eng, _ = as_user("张伟")
    data = eng.get("/api/calls/call-zw-1").json()
    assert data["reviews"] and "comment" not in data["reviews"][0]
    assert (
        "内部" not in eng.get("/api/calls/call-zw-1").text and "内部" not in eng.get("/calls/call-zw-1").text
    )


def test_call_ids_are_url_encoded_in_links_and_forms(app, store: Store, call_wav: Path, as_user) -> None:  # noqa: ANN001
    odd = "call?x=1#frag &<b>"
    store.save_call(zhangwei_call(call_wav, call_id=odd))
    sup, _ = as_user("王主管")
    listing = sup.get("/calls").text
    assert 'href="/calls/call%3Fx%3D1%23frag%20%26%3Cb%3E"' in listing
    page = sup.get("/calls/call%3Fx%3D1%23frag%20%26%3Cb%3E")
    assert page.status_code == 200
    actions = re.findall(r'action="(/calls/[^"]+/review)"', page.text)
    assert actions and all(a.startswith("/calls/call%3Fx%3D1%23frag%20%26%3Cb%3E/findings/") for a in actions)
    assert sup.get("/api/calls/call%3Fx%3D1%23frag%20%26%3Cb%3E").json()["audio_url"] == (
        "/api/calls/call%3Fx%3D1%23frag%20%26%3Cb%3E/audio"
    )


def test_an_open_live_stream_ends_when_its_session_does(store: Store, monkeypatch) -> None:  # noqa: ANN001
    """Real uvicorn on loopback: the event stream a supervisor opened stops once they are disabled."""
    import httpx

    from deskline.console_runtime import ConsoleServer
    from ivr.sipp_peers import free_tcp_port
    from tests.web.conftest import PASSWORDS, SECRET, real_or_points_scorer
    from web import api
    from web.app import create_app
    from web.live import LiveHub

    monkeypatch.setattr(api, "SSE_RECHECK_S", 0.0)  # re-check at every event, not every 5 s
    hub = LiveHub()
    app = create_app(store, secret_key=SECRET, scorer=real_or_points_scorer(), live_events=hub)
    server = ConsoleServer(app, "127.0.0.1", free_tcp_port())
    server.start()
    try:
        with httpx.Client(base_url=server.url.rstrip("/"), timeout=60) as client:
            token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
            form = {"name": "王主管", "password": PASSWORDS["王主管"], "csrf_token": token}
            client.post("/login", data=form)
            with client.stream("GET", "/api/live/events") as stream:
                lines = (line for line in stream.iter_lines() if line)
                assert next(lines).startswith("retry:")
                import time

                deadline = time.monotonic() + 30
                while hub.subscriber_count() == 0:  # subscribes right after the first line
                    assert time.monotonic() < deadline
                    time.sleep(0.01)
                hub.publish({"type": "call_started", "call_id": "before"})
                seen = [next(lines) for _ in range(2)]
                assert seen[0] == "event: call_started" and '"before"' in seen[1]
                store.set_disabled("王主管", True)
                hub.publish({"type": "call_started", "call_id": "after"})
                rest = list(lines)  # ends: the server closed the stream
                assert not any('"after"' in line for line in rest)
    finally:
        server.stop()
