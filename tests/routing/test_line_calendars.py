"""Line calendars (3.1): weekly schedules, lunch gap, 2026 holidays and 调休, zones, no-data years."""

from __future__ import annotations

import logging
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from routing import hours
from routing.config import RoutingConfigError, parse_holidays, parse_lines
from routing.hours import LineCalendar

SH = ZoneInfo("Asia/Shanghai")
LINES = {line.id: line for line in parse_lines(
    [{"id": "hq", "calendar": "hq", "web_url": "https://desk.example.com"},
     {"id": "regional", "calendar": "regional"},
     {"id": "web", "calendar": "web"},
     {"id": "custom", "calendar": "hq", "closed": {"dates": ["2026-12-31"]},
      "special_hours": {"2026-12-24": ["09:00-12:00"]}, "weekly": {"sat": ["10:00-12:00"]}}],
    "test.toml")}


def at(text: str, zone: ZoneInfo = SH) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=zone)


OPEN_CASES = [
    # line, local time, open?  (2026-11-24 is a Tuesday)
    ("hq", "2026-11-24 08:29", False),
    ("hq", "2026-11-24 08:30", True),
    ("hq", "2026-11-24 12:45", True),
    ("hq", "2026-11-24 18:29", True),
    ("hq", "2026-11-24 18:30", False),
    ("hq", "2026-11-28 10:00", False),  # Saturday
    ("hq", "2026-11-29 10:00", False),  # Sunday
    ("regional", "2026-11-24 08:59", False),
    ("regional", "2026-11-24 09:00", True),
    ("regional", "2026-11-24 12:29", True),
    ("regional", "2026-11-24 12:30", False),  # lunch gap
    ("regional", "2026-11-24 13:29", False),
    ("regional", "2026-11-24 13:30", True),
    ("regional", "2026-11-24 17:59", True),
    ("regional", "2026-11-24 18:00", False),
    ("web", "2026-11-29 03:00", True),
    ("web", "2026-10-01 12:00", True),  # 7×24 ignores holidays
    # 2026 statutory holidays (weekdays)
    ("hq", "2026-01-01 10:00", False),  # 元旦
    ("hq", "2026-02-17 10:00", False),  # 春节
    ("hq", "2026-04-06 10:00", False),  # 清明 (observed Monday)
    ("hq", "2026-05-01 10:00", False),  # 劳动节
    ("hq", "2026-05-05 10:00", False),  # 劳动节 (Tuesday)
    ("hq", "2026-06-19 10:00", False),  # 端午
    ("hq", "2026-09-25 10:00", False),  # 中秋
    ("hq", "2026-10-01 09:00", False),  # 国庆
    ("regional", "2026-10-07 10:00", False),
    # 2026 调休 make-up workdays on weekends: open with weekday hours
    ("hq", "2026-01-04 09:00", True),  # Sunday
    ("hq", "2026-02-14 09:00", True),  # Saturday
    ("hq", "2026-02-28 18:29", True),
    ("regional", "2026-05-09 12:45", False),  # lunch gap on a 调休 Saturday too
    ("regional", "2026-09-20 13:30", True),  # Sunday
    ("hq", "2026-10-10 08:30", True),  # Saturday
    # company closed day, special hours, custom weekly Saturday
    ("custom", "2026-12-31 10:00", False),
    ("custom", "2026-12-24 11:59", True),
    ("custom", "2026-12-24 12:00", False),
    ("custom", "2026-12-24 14:00", False),
    ("custom", "2026-11-28 11:00", True),
]


@pytest.mark.parametrize(("line", "local", "expected"), OPEN_CASES)
def test_is_open(line: str, local: str, expected: bool) -> None:
    assert LineCalendar(LINES[line]).is_open(at(local)) is expected


@pytest.mark.parametrize(("instant", "expected"), [
    # 2026-11-24 01:00 UTC = 09:00 Shanghai (open); 00:29 UTC = 08:29 (closed)
    (datetime(2026, 11, 24, 1, 0, tzinfo=ZoneInfo("UTC")), True),
    (datetime(2026, 11, 24, 0, 29, tzinfo=ZoneInfo("UTC")), False),
    # New York in summer time (EDT, UTC-4): 2026-07-06 20:30 EDT = 07-07 08:30 Shanghai
    (datetime(2026, 7, 6, 20, 30, tzinfo=ZoneInfo("America/New_York")), True),
    (datetime(2026, 7, 6, 20, 29, tzinfo=ZoneInfo("America/New_York")), False),
    # and in winter (EST, UTC-5): 2026-11-23 19:30 EST = 11-24 08:30 Shanghai
    (datetime(2026, 11, 23, 19, 30, tzinfo=ZoneInfo("America/New_York")), True),
])
def test_other_zones_are_converted(instant: datetime, expected: bool) -> None:
    assert LineCalendar(LINES["hq"]).is_open(instant) is expected


def test_naive_datetime_is_an_error() -> None:
    with pytest.raises(ValueError, match="no time zone"):
        LineCalendar(LINES["hq"]).is_open(datetime(2026, 11, 24, 10, 0))


@pytest.mark.parametrize(("line", "local", "expected"), [
    ("hq", "2026-09-30 18:31", "2026-10-08 08:30"),  # across the 国庆 week
    ("hq", "2026-11-24 07:00", "2026-11-24 08:30"),
    ("hq", "2026-11-27 19:00", "2026-11-30 08:30"),  # Friday evening → Monday
    ("regional", "2026-11-24 12:40", "2026-11-24 13:30"),  # lunch
    ("hq", "2026-02-13 19:00", "2026-02-14 08:30"),  # → 调休 Saturday
    ("hq", "2026-11-24 10:00", "2026-11-24 10:00"),  # open now: now
])
def test_next_opening(line: str, local: str, expected: str) -> None:
    assert LineCalendar(LINES[line]).next_opening(at(local)) == at(expected)


def test_web_line_never_closes_within_the_horizon() -> None:
    assert LineCalendar(LINES["web"]).next_closing(at("2026-11-24 10:00")) is None
    assert LineCalendar(LINES["hq"]).next_closing(at("2026-11-24 10:00")) == at("2026-11-24 18:30")


def test_day_schedule_reasons() -> None:
    cal = LineCalendar(LINES["hq"])
    assert cal.day_schedule(date(2026, 10, 1)).reason == "holiday"
    assert cal.day_schedule(date(2026, 10, 1)).holiday_name == "国庆节"
    assert cal.day_schedule(date(2026, 10, 10)).reason == "makeup_workday"
    assert cal.day_schedule(date(2026, 11, 28)).reason == "weekend"
    assert "调休" in cal.day_schedule(date(2026, 9, 20)).describe()


def test_year_without_data_warns_once_and_follows_weekly_schedule(caplog: pytest.LogCaptureFixture) -> None:
    year = hours.holiday_data_years().stop + 1
    hours._warned_years.discard(year)
    cal = LineCalendar(LINES["hq"])
    caplog.set_level(logging.WARNING, logger="deskline.routing.hours")
    # 10-01 of a future year on a weekday: no data → open by the weekly schedule, never a holiday
    day = next(date(year, 10, d) for d in range(1, 8) if date(year, 10, d).weekday() < 5)
    assert cal.is_open(datetime(day.year, day.month, day.day, 10, 0, tzinfo=SH))
    assert cal.day_schedule(day).reason == "no_data"
    cal.is_open(datetime(day.year, day.month, day.day, 11, 0, tzinfo=SH))
    warnings = [r for r in caplog.records if str(year) in r.getMessage()]
    assert len(warnings) == 1


def test_after_hours_text_says_when_and_where() -> None:
    text = hours.after_hours_text(LineCalendar(LINES["hq"]), at("2026-11-24 19:00"))
    assert "明天（星期三）上午8点30分" in text and "https://desk.example.com" in text


def test_describe_hours_for_the_cli() -> None:
    out = hours.describe_hours(LineCalendar(LINES["hq"]), at("2026-10-01 09:00"), days=2)
    assert "CLOSED" in out and "国庆节" in out and "2026-10-08 08:30" in out


# A site's own arrangement for a year the package does not cover (dates for illustration).
SITE_2027 = {"days_off": {"2027-02-06..2027-02-12": "春节"}, "workdays": {"2027-02-20": "春节"}}


def site_line(arrangement: dict, calendar: str = "hq") -> hours.LineConfig:
    return parse_lines([{"id": "hq", "calendar": calendar}], "t.toml",
                       parse_holidays(arrangement, "t.toml"))[0]


def test_site_arrangement_covers_a_year_the_package_lacks(caplog: pytest.LogCaptureFixture) -> None:
    assert 2027 not in hours.holiday_data_years(), "the package now covers 2027: pick a later year"
    hours._warned_years.discard(2027)
    caplog.set_level(logging.WARNING, logger="deskline.routing.hours")
    cal = LineCalendar(site_line(SITE_2027))
    feb8 = cal.day_schedule(date(2027, 2, 8))  # a Monday inside the span
    assert (feb8.reason, feb8.holiday_name, feb8.ranges) == ("holiday", "春节", [])
    assert not cal.is_open(at("2027-02-08 10:00"))
    assert cal.day_schedule(date(2027, 2, 20)).reason == "makeup_workday"
    assert cal.is_open(at("2027-02-20 10:00"))  # the 调休 Saturday keeps weekday hours
    assert cal.day_schedule(date(2027, 2, 15)).reason == "workday"
    assert cal.day_schedule(date(2027, 2, 14)).reason == "weekend"
    # Friday evening before the break: the week off, then the weekend, then Monday.
    assert cal.next_opening(at("2027-02-05 19:00")) == at("2027-02-15 08:30")
    assert not [r for r in caplog.records if "2027" in r.getMessage()], "a covered year must not warn"


def test_site_arrangement_wins_over_the_package() -> None:
    # A correction: the site declares 2026-11-24 (a Tuesday) a day off.
    cal = LineCalendar(site_line({"days_off": {"2026-11-24": "公司年会"}}))
    assert cal.day_schedule(date(2026, 11, 24)).describe().endswith("法定节假日（公司年会）：休息")
    assert cal.day_schedule(date(2026, 10, 1)).holiday_name == "国庆节"  # the package still applies


def test_site_arrangement_does_not_close_a_seven_day_line() -> None:
    assert LineCalendar(site_line(SITE_2027, "web")).is_open(at("2027-02-08 03:00"))


@pytest.mark.parametrize(("arrangement", "message"), [
    ({"workdays": {"2027-02-15": "春节"}}, r"holidays.workdays.2027-02-15: 2027-02-15 is a weekday"),
    ({"days_off": {"2027-02-12..2027-02-06": "春节"}}, "ends before it starts"),
    ({"days_off": {"2027-01-01..2027-12-31": "全年"}}, "longer than a month"),
    ({"days_off": {"2027-13-01": "x"}}, r"'2027-13-01' is not a date"),
    ({"days_off": {"2027-02-06": ""}}, "must be the holiday's name"),
    ({"days_off": {"2027-02-20": "春节"}, "workdays": {"2027-02-20": "春节"}},
     "both a day off and a workday"),
    ({"day_off": {}}, r"unknown table 'day_off' \(known: days_off, workdays\)"),
])
def test_broken_site_arrangement_is_a_clear_error(arrangement: dict, message: str) -> None:
    with pytest.raises(RoutingConfigError, match=message):
        parse_holidays(arrangement, "t.toml")
