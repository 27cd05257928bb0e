"""Issue 14: starting a callback from the console (API and the 回电 button), its attempts,
and reminders: the owner's due-soon callbacks on /me, overdue ones to supervisors."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from models.records import Promise
from models.store import CallbackTask, Store
from tests.web.conftest import zhangwei_call
from web.callbacks import reminders


class FakeDialer:
    """Stands in for the node's CallbackDialer: records what it was asked, refuses on cue."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.started: list[tuple[int, str]] = []
        self.refuse = ""

    def start(self, callback_id: int, requested_by: str) -> int:
        if self.refuse:
            error = ValueError(self.refuse)
            error.status = 409  # type: ignore[attr-defined]
            raise error
        self.started.append((callback_id, requested_by))
        return self.store.add_callback_attempt(callback_id, requested_by=requested_by, engineer="张伟")

    def dialling(self) -> dict[int, int]:
        return {}


@pytest.fixture
def dialer(app, store: Store) -> FakeDialer:  # noqa: ANN001
    fake = FakeDialer(store)
    app.state.callback_dialer = fake
    return fake


def hdr(token: str) -> dict[str, str]:
    return {"X-CSRF-Token": token}


def test_owner_and_supervisor_may_dial_others_may_not(as_user, dialer: FakeDialer) -> None:  # noqa: ANN001
    client, token = as_user("张伟")
    task_id = client.get("/api/callbacks").json()[0]["id"]
    r = client.post(f"/api/callbacks/{task_id}/dial", headers=hdr(token))
    assert r.status_code == 202 and r.json()["outcome"] == "dialling"
    assert client.post(f"/api/callbacks/{task_id}/dial").status_code == 403  # no CSRF header
    lina, lina_token = as_user("李娜")
    assert lina.post(f"/api/callbacks/{task_id}/dial", headers=hdr(lina_token)).status_code == 404
    sup, sup_token = as_user("王主管")
    assert sup.post(f"/api/callbacks/{task_id}/dial", headers=hdr(sup_token)).status_code == 202
    assert dialer.started == [(task_id, "张伟"), (task_id, "王主管")]
    attempts = client.get(f"/api/callbacks/{task_id}/attempts").json()
    assert [a["requested_by"] for a in attempts] == ["王主管", "张伟"]
    assert lina.get(f"/api/callbacks/{task_id}/attempts").status_code == 404


def test_refusals_are_clear(app, as_user, dialer: FakeDialer) -> None:  # noqa: ANN001
    client, token = as_user("张伟")
    task_id = client.get("/api/callbacks").json()[0]["id"]
    dialer.refuse = "号码 'x' 不能外呼（需 3–20 位数字）"
    r = client.post(f"/api/callbacks/{task_id}/dial", headers=hdr(token))
    assert r.status_code == 409 and "不能外呼" in r.json()["detail"]
    assert client.post("/api/callbacks/999/dial", headers=hdr(token)).status_code == 404
    app.state.callback_dialer = None  # a console on its own: no node to dial through
    r = client.post(f"/api/callbacks/{task_id}/dial", headers=hdr(token))
    assert r.status_code == 503 and "没有连接话务节点" in r.json()["detail"]


def test_dial_button_and_attempt_history_on_the_page(as_user, dialer: FakeDialer, store: Store) -> None:  # noqa: ANN001
    client, _ = as_user("张伟")
    page = client.get("/callbacks").text
    task_id = int(re.search(r'action="/callbacks/(\d+)/dial"', page).group(1))
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    r = client.post(f"/callbacks/{task_id}/dial", data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/callbacks#cb-{task_id}"
    attempt = store.callback_attempts(task_id)[0]["id"]
    store.finish_callback_attempt(attempt, outcome="customer_no_answer", detail="customer cancelled")
    page = client.get("/callbacks").text
    assert "客户未接听" in page and "张伟 发起" in page
    assert client.post(f"/callbacks/{task_id}/dial", data={}).status_code == 403  # no CSRF token
    dialer.refuse = "该回电正在呼叫中"
    refused = client.post(f"/callbacks/{task_id}/dial", data={"csrf_token": token})
    assert refused.status_code == 409 and "该回电正在呼叫中" in refused.text


def test_no_dial_button_without_a_node(as_user) -> None:  # noqa: ANN001
    client, _ = as_user("张伟")
    assert "/dial" not in client.get("/callbacks").text


def task(due: datetime | None, state: str) -> CallbackTask:
    return CallbackTask(1, "c", "张伟", "138", "t", due.isoformat() if due else None, None, "", None, state)


def test_reminders_are_due_soon_or_overdue() -> None:
    now = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
    soon, later = task(now + timedelta(minutes=20), "due"), task(now + timedelta(hours=3), "due")
    late, vague = task(now - timedelta(minutes=5), "overdue"), task(None, "open_vague")
    found = reminders([soon, later, late, vague], now, 30.0)
    assert found == {"due_soon": [soon], "overdue": [late]}


def test_owner_sees_the_reminder_and_supervisor_the_overdue_badge(app, as_user, store: Store,  # noqa: ANN001
                                                                  call_wav) -> None:  # noqa: ANN001
    due = (datetime.now(UTC) + timedelta(minutes=10)).astimezone().isoformat(timespec="seconds")
    store.save_call(zhangwei_call(call_wav, "call-zw-2").__class__(
        **{**zhangwei_call(call_wav, "call-zw-2").__dict__, "caller": "13700003333",
           "promises": [Promise("十分钟后给您回电", 1.0, 2.0, True, due, "十分钟后")]}))
    client, _ = as_user("张伟")
    me = client.get("/me").text
    assert "即将到期" in me and "13700003333" in me
    assert "已超时" in me  # the fixture's promise of 2026-03-02 15:00 is long overdue
    api = client.get("/api/callbacks/reminders").json()
    assert [t["caller"] for t in api["due_soon"]] == ["13700003333"]
    assert [t["caller"] for t in api["overdue"]] == ["13800001111"]
    sup, _ = as_user("王主管")
    assert re.search(r'class="badge"[^>]*>1<', sup.get("/calls").text)
    sup_api = sup.get("/api/callbacks/reminders").json()
    assert sup_api["due_soon"] == [] and [t["caller"] for t in sup_api["overdue"]] == ["13800001111"]
