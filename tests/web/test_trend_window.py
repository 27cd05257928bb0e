"""The trends window is made of the line's days, not UTC days (issue 12)."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from web.api import trend_window


def test_the_window_ends_with_today_where_the_line_is() -> None:
    shanghai = ZoneInfo("Asia/Shanghai")
    since, until = trend_window(7, shanghai)
    today = datetime.now(shanghai).date()
    assert until == datetime.combine(today + timedelta(days=1), time.min, tzinfo=shanghai)
    assert until - since == timedelta(days=7)
    # A call at 07:30 this morning in Shanghai (23:30 UTC yesterday) is inside the window.
    morning = datetime.combine(today, time(7, 30), tzinfo=shanghai)
    assert since <= morning < until
