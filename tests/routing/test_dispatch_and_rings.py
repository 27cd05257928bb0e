"""Dispatch order (2(1), 3.3(5), longest idle), ring counting (3.3(2)) and config errors."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from routing.config import RoutingConfigError, parse_lines, parse_roster
from routing.dispatch import DispatchState, candidates
from routing.rings import rings_for, within_limit

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
ROSTER = parse_roster([
    {"name": "张伟", "sip": "sip:a@127.0.0.1:5080", "certified": True, "lines": ["hq"]},
    {"name": "李娜", "sip": "sip:b@127.0.0.1:5082", "certified": True, "lines": ["hq", "regional"]},
    {"name": "王芳", "sip": "sip:c@127.0.0.1:5084", "certified": True, "lines": ["regional"]},
    {"name": "刘洋", "sip": "sip:d@127.0.0.1:5086", "certified": False, "lines": ["hq"]},
    {"name": "陈静", "sip": "sip:e@127.0.0.1:5088", "certified": True, "available": False, "lines": ["hq"]},
], "test.toml")


def names(line: str, caller: str = "", busy: tuple[str, ...] = (), ended: dict | None = None,
          tickets: dict | None = None) -> list[str]:
    state = DispatchState()
    for name, minutes_ago in (ended or {}).items():
        state.end(name, NOW - timedelta(minutes=minutes_ago))
    for name in busy:
        state.begin(name, NOW)
    return [e.name for e in candidates(ROSTER, line, caller, state, tickets or {}, NOW)]


@pytest.mark.parametrize(("kwargs", "expected"), [
    ({"line": "hq"}, ["张伟", "李娜"]),  # uncertified 刘洋 and unavailable 陈静 never rung
    ({"line": "regional"}, ["李娜", "王芳"]),
    ({"line": "hq", "busy": ("张伟",)}, ["李娜"]),
    ({"line": "hq", "busy": ("张伟", "李娜")}, []),
    ({"line": "hq", "ended": {"张伟": 5, "李娜": 30}}, ["李娜", "张伟"]),  # longest idle first
    ({"line": "hq", "ended": {"李娜": 1}}, ["张伟", "李娜"]),  # never called before: first
    ({"line": "hq", "caller": "1001", "tickets": {"1001": "李娜"}}, ["李娜", "张伟"]),  # owner first
    ({"line": "hq", "caller": "1001", "tickets": {"1001": "李娜"}, "busy": ("李娜",)}, ["张伟"]),
    ({"line": "hq", "caller": "1001", "tickets": {"1001": "刘洋"}}, ["张伟", "李娜"]),  # owner uncertified
    ({"line": "hq", "caller": "2002", "tickets": {"1001": "李娜"}}, ["张伟", "李娜"]),
    ({"line": "web"}, []),
])
def test_dispatch_order(kwargs: dict, expected: list[str]) -> None:
    assert names(**kwargs) == expected


def test_call_end_frees_the_engineer() -> None:
    state = DispatchState()
    state.begin("张伟", NOW)
    assert [e.name for e in candidates(ROSTER, "hq", "", state, {}, NOW)] == ["李娜"]
    state.end("张伟", NOW)
    assert [e.name for e in candidates(ROSTER, "hq", "", state, {}, NOW)] == ["李娜", "张伟"]


@pytest.mark.parametrize(("seconds", "rings", "ok"), [
    (0.0, 1, True), (0.9, 1, True), (4.99, 1, True), (5.0, 2, True), (9.9, 2, True),
    (10.0, 3, True), (14.99, 3, True), (15.0, 4, False), (20.0, 5, False), (60.0, 13, False),
])
def test_rings_with_china_cadence(seconds: float, rings: int, ok: bool) -> None:
    assert rings_for(seconds) == rings
    assert within_limit(seconds) is ok


def test_other_cadence_and_negative() -> None:
    assert rings_for(5.9, on_s=2.0, off_s=4.0) == 1 and rings_for(6.0, on_s=2.0, off_s=4.0) == 2
    with pytest.raises(ValueError):
        rings_for(-1)


@pytest.mark.parametrize(("lines", "message"), [
    ([{"id": "HQ"}], "lines[0].id: 'HQ' must be lower-case"),
    ([{"name": "x"}], "missing required field 'id'"),
    ([{"id": "hq", "calendar": "night"}], "calendar: 'night' is not one of"),
    ([{"id": "hq", "weekly": {"mon": ["8:30-25:00"]}}], "weekly.mon[0]: '8:30-25:00' is not a HH:MM-HH:MM"),
    ([{"id": "hq", "weekly": {"mon": ["18:00-09:00"]}}], "ends before it starts"),
    ([{"id": "hq", "weekly": {"monday": []}}], "'monday' is not a weekday"),
    ([{"id": "hq", "timezone": "Mars/Olympus"}], "unknown time zone"),
    ([{"id": "hq", "closed": {"dates": ["2026-13-01"]}}], "is not a date"),
    ([{"id": "hq"}, {"id": "hq"}], "duplicate line id"),
    ([{"id": "hq", "colour": "red"}], "unknown field 'colour'"),
    ([{"id": "hq", "ring_limit_s": "15"}], "ring_limit_s: must be int or float"),
])
def test_line_config_errors(lines: list, message: str) -> None:
    with pytest.raises(RoutingConfigError, match=message.replace("[", r"\[").replace("(", r"\(")):
        parse_lines(lines, "deskline.toml")


@pytest.mark.parametrize(("engineers", "message"), [
    ([{"name": "张伟"}], "missing required field 'sip'"),
    ([{"name": "张伟", "sip": "x", "certified": "yes"}], "certified: must be bool"),
    ([{"name": "张伟", "sip": "x"}, {"name": "张伟", "sip": "y"}], "duplicate engineer"),
    ([{"name": " ", "sip": "x"}], "name: must not be empty"),
])
def test_roster_config_errors(engineers: list, message: str) -> None:
    with pytest.raises(RoutingConfigError, match=message):
        parse_roster(engineers, "deskline.toml")


def test_reserve_is_atomic_and_release_frees_for_the_next_call() -> None:
    import threading

    state = DispatchState()
    results: list[bool] = []
    start = threading.Barrier(20)

    def grab() -> None:
        start.wait()
        results.append(state.reserve("张伟"))

    threads = [threading.Thread(target=grab) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert results.count(True) == 1 and len(results) == 20
    assert "张伟" in state.snapshot()[0]  # candidates() leaves them out while reserved
    state.release("张伟", NOW, talked=False)  # rung, no answer: not counted as a call
    assert state.snapshot() == (set(), {})
    assert state.reserve("张伟")
    state.release("张伟", NOW, talked=True)
    assert state.snapshot() == (set(), {"张伟": NOW})
