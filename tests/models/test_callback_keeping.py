"""3.3(4): a promised callback is kept only by a real conversation (issue 9, item 6). A short,
unanswered or spoofed call from the customer's number keeps nothing; an engineer-answered
call of at least ``callback_min_talk_s``, or a recorded outbound callback, does."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from models.store import Store

from .test_store import CST, make_call

AFTER_DUE = datetime(2026, 3, 3, 11, 0, tzinfo=CST)
SAME_CALLER_BEFORE_DUE = "2026-03-03T09:40:00+08:00"  # the promise is due 2026-03-03 10:00


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "deskline.db")
    s.callback_min_talk_s = 30.0
    s.save_call(make_call())  # the call with the promise
    yield s
    s.close()


def later_call(**overrides: object):  # noqa: ANN201
    return make_call("c2", started_at=SAME_CALLER_BEFORE_DUE, promises=[], **overrides)


@pytest.mark.parametrize(("what", "overrides"), [
    ("a one-second unanswered call from the number (spoofed caller ID)",
     {"engineer": "", "ring_time_s": None, "rings": None, "duration_s": 1.0,
      "sip_timings": {"talk_s": 0.0, "end_reason": "no engineer answered"}}),
    ("an answered call hung up after 5 s",
     {"duration_s": 25.0, "sip_timings": {"talk_s": 5.0, "end_reason": "caller hung up"}}),
    ("a long call spent in the greeting and voicemail, no engineer",
     {"engineer": "", "duration_s": 90.0, "sip_timings": {"talk_s": 0.0, "end_reason": "voicemail"}}),
    ("an imported recording too short to be a conversation", {"duration_s": 10.0, "sip_timings": {}}),
])
def test_calls_that_do_not_keep_the_callback(store: Store, what: str, overrides: dict) -> None:
    store.save_call(later_call(**overrides))
    task = store.callbacks(now=AFTER_DUE)[0]
    assert task.state == "overdue", what
    assert task.kept_by_call_id is None


@pytest.mark.parametrize(("what", "overrides"), [
    ("an engineer-answered call of 45 s",
     {"duration_s": 60.0, "sip_timings": {"talk_s": 45.0, "end_reason": "caller hung up"}}),
    ("an outbound callback recorded and imported (whole length is conversation)",
     {"duration_s": 120.0, "sip_timings": {"direction": "outbound"}}),
])
def test_calls_that_keep_the_callback(store: Store, what: str, overrides: dict) -> None:
    store.save_call(later_call(**overrides))
    task = store.callbacks(now=AFTER_DUE)[0]
    assert task.state == "kept" and task.kept_by_call_id == "c2", what
    assert task.done_by == "张伟"


def test_the_minimum_is_the_configured_one(store: Store) -> None:
    store.callback_min_talk_s = 60.0
    store.save_call(later_call(duration_s=60.0, sip_timings={"talk_s": 45.0}))
    assert store.callbacks(now=AFTER_DUE)[0].state == "overdue"


def test_nonsense_talk_time_keeps_nothing(store: Store) -> None:
    store.save_call(later_call(sip_timings={"talk_s": "long"}))
    assert store.callbacks(now=AFTER_DUE)[0].state == "overdue"
