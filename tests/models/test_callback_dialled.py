"""Issue 14: a callback the node dials keeps exactly its own promise, and only when the
customer answered before the due time and the conversation lasted callback_min_talk_s;
an inbound call keeps a promise only when its owner talked in it (3.3(5)). Attempts are kept."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from models.store import NotFound, Store

from .test_store import CST, make_call

AFTER_DUE = datetime(2026, 3, 3, 11, 0, tzinfo=CST)  # the promise in make_call is due 03-03 10:00


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "deskline.db")
    s.callback_min_talk_s = 30.0
    s.save_call(make_call())
    yield s
    s.close()


def dialled(callback_id: int, answered_at: str | None, talk_s: float, outcome: str = "connected", **kw):  # noqa: ANN003, ANN201
    timings = {"direction": "outbound", "callback_id": callback_id, "outcome": outcome,
               "customer_answered_at": answered_at, "talk_s": talk_s}
    return make_call("cb1", started_at="2026-03-03T09:00:00+08:00", promises=[], sip_timings=timings, **kw)


def test_a_connected_callback_before_the_due_time_keeps_its_promise(store: Store) -> None:
    task = store.callbacks()[0]
    store.save_call(dialled(task.id, "2026-03-03T09:59:00+08:00", 45.0))
    kept = store.get_callback(task.id, now=AFTER_DUE)
    assert kept.state == "kept" and kept.kept_by_call_id == "cb1" and kept.done_by == "张伟"
    assert kept.done_at == "2026-03-03T09:59:00+08:00"  # when the customer answered


@pytest.mark.parametrize(("what", "answered_at", "talk_s", "outcome"), [
    ("answered after the due time", "2026-03-03T10:01:00+08:00", 45.0, "connected"),
    ("a conversation too short", "2026-03-03T09:30:00+08:00", 10.0, "connected"),
    ("the customer did not answer", None, 0.0, "customer_no_answer"),
    ("nonsense answer time", "yesterday", 45.0, "connected"),
])
def test_callbacks_that_do_not_keep_the_promise(store: Store, what: str, answered_at: str | None,
                                                 talk_s: float, outcome: str) -> None:
    task = store.callbacks()[0]
    store.save_call(dialled(task.id, answered_at, talk_s, outcome))
    assert store.get_callback(task.id, now=AFTER_DUE).state == "overdue", what


def test_a_dialled_callback_keeps_no_other_promise_of_the_caller(store: Store) -> None:
    store.save_call(make_call("c0", started_at="2026-03-02T08:00:00+08:00"))  # a second open promise
    first, second = store.callbacks()
    store.save_call(dialled(second.id, "2026-03-03T09:30:00+08:00", 45.0))
    assert store.get_callback(second.id).state == "kept"
    assert store.get_callback(first.id, now=AFTER_DUE).state == "overdue"


def test_an_inbound_call_keeps_only_the_promises_its_engineer_owns(store: Store) -> None:
    colleague = make_call("c2", engineer="李娜", started_at="2026-03-03T09:40:00+08:00", promises=[],
                          sip_timings={"talk_s": 60.0})
    store.save_call(colleague)
    assert store.callbacks(now=AFTER_DUE)[0].state == "overdue"
    owner = make_call("c3", started_at="2026-03-03T09:45:00+08:00", promises=[], sip_timings={"talk_s": 60.0})
    store.save_call(owner)
    assert store.callbacks(now=AFTER_DUE)[0].kept_by_call_id == "c3"


def test_attempts_are_kept_newest_first(store: Store) -> None:
    task = store.callbacks()[0]
    first = store.add_callback_attempt(task.id, requested_by="张伟", engineer="张伟",
                                       started_at="2026-03-03T09:00:00+08:00")
    store.finish_callback_attempt(first, outcome="customer_no_answer", detail="customer cancelled")
    second = store.add_callback_attempt(task.id, requested_by="主管", engineer="张伟")
    attempts = store.callback_attempts(task.id)
    assert [a["id"] for a in attempts] == [second, first]
    assert attempts[1]["outcome"] == "customer_no_answer" and attempts[1]["ended_at"]
    assert attempts[0]["outcome"] == "dialling" and attempts[0]["requested_by"] == "主管"
    with pytest.raises(NotFound):
        store.add_callback_attempt(999, requested_by="x", engineer="x")
