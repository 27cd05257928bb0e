"""Is a line open? Each line's weekly schedule in its own time zone, China's statutory
holidays and 调休 make-up workdays (chinese-calendar, or the site's ``[holidays]`` for a
year the package does not cover yet), and per-line overrides.

Precedence for a date: special hours > company closed day > statutory holiday / 调休
workday (weekday-schedule lines only; the site's arrangement before the package's) > the
weekly schedule. A year with no holiday data at all is logged once as a warning and follows
the weekly schedule: never silently a holiday, never silently open on one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

import chinese_calendar

from routing.config import HolidayArrangement, LineConfig, Range

log = logging.getLogger("deskline.routing.hours")
_warned_years: set[int] = set()

HOLIDAY_NAMES_ZH = {
    "New Year's Day": "元旦", "Spring Festival": "春节", "Tomb-sweeping Day": "清明节",
    "Labour Day": "劳动节", "Dragon Boat Festival": "端午节", "Mid-autumn Festival": "中秋节",
    "National Day": "国庆节", "Anti-Fascist 70th Day": "抗战胜利纪念日",
}
WEEKDAY_ZH = "一二三四五六日"


def holiday_data_years() -> range:
    years = [d.year for d in chinese_calendar.holidays]
    return range(min(years), max(years) + 1)


@dataclass
class DaySchedule:
    day: date
    ranges: list[Range] = field(default_factory=list)
    reason: str = "workday"  # workday | weekend | holiday | makeup_workday | closed | special | no_data
    holiday_name: str = ""  # Chinese name of the statutory holiday / the 调休 it makes up for

    @property
    def is_open_day(self) -> bool:
        return bool(self.ranges)

    def describe(self) -> str:
        hours = "、".join(f"{a:%H:%M}-{b:%H:%M}" if b != time.max else f"{a:%H:%M}-24:00"
                         for a, b in self.ranges) or "休息"
        label = {
            "workday": "工作日", "weekend": "周末", "holiday": f"法定节假日（{self.holiday_name}）",
            "makeup_workday": f"调休工作日（{self.holiday_name}）", "closed": "公司停止服务日",
            "special": "特别安排", "every_day": "每日服务", "no_data": "无节假日数据，按每周安排",
        }[self.reason]
        return f"{self.day:%Y-%m-%d} 星期{WEEKDAY_ZH[self.day.weekday()]} {label}：{hours}"


def _holiday_status(day: date, site: HolidayArrangement) -> tuple[bool, bool, str] | None:
    """(is statutory holiday, is 调休 workday on a weekend, name) or None without data."""
    if day in site.days_off:
        return True, False, site.days_off[day]
    if day in site.workdays:
        return False, True, site.workdays[day]
    try:
        holiday, name = chinese_calendar.get_holiday_detail(day)
    except NotImplementedError:
        if day.year in site.years:
            return False, False, ""  # the site published this year: any other day is ordinary
        if day.year not in _warned_years:
            _warned_years.add(day.year)
            log.warning("chinese-calendar has no holiday data for %d: following the weekly schedule "
                        "(add the year's arrangement under [holidays] in the config, or update the "
                        "chinese-calendar package)", day.year)
        return None
    zh = HOLIDAY_NAMES_ZH.get(name or "", name or "")
    makeup = (not holiday) and day.weekday() >= 5 and bool(name)
    return bool(holiday and name), makeup, zh


class LineCalendar:
    def __init__(self, line: LineConfig) -> None:
        self.line = line
        self.zone = line.zone

    def _local(self, at: datetime) -> datetime:
        if at.tzinfo is None:
            raise ValueError(f"{at!r} has no time zone: pass an aware datetime")
        return at.astimezone(self.zone)

    def day_schedule(self, day: date) -> DaySchedule:
        line = self.line
        if day in line.special_hours:
            return DaySchedule(day, list(line.special_hours[day]), "special")
        if day in line.closed_dates:
            return DaySchedule(day, [], "closed")
        weekly = list(line.weekly[day.weekday()])
        if not line.follows_holidays:
            return DaySchedule(day, weekly, "every_day" if weekly else "weekend")
        status = _holiday_status(day, line.holidays)
        if status is None:
            return DaySchedule(day, weekly, "no_data")
        holiday, makeup, name = status
        if holiday:
            return DaySchedule(day, [], "holiday", name)
        if makeup:
            # A 调休 Saturday/Sunday keeps weekday hours (Monday's schedule stands for them).
            return DaySchedule(day, list(line.weekly[0]), "makeup_workday", name)
        return DaySchedule(day, weekly, "workday" if day.weekday() < 5 else "weekend")

    def is_open(self, at: datetime) -> bool:
        local = self._local(at)
        t = local.time().replace(tzinfo=None)
        return any(a <= t < b for a, b in self.day_schedule(local.date()).ranges)

    def next_opening(self, at: datetime, horizon_days: int = 60) -> datetime | None:
        """``at`` itself when open now; else the start of the next open range; None if none soon."""
        local = self._local(at)
        if self.is_open(local):
            return local
        for offset in range(horizon_days + 1):
            day = local.date() + timedelta(days=offset)
            for start, _end in self.day_schedule(day).ranges:
                candidate = datetime.combine(day, start, tzinfo=self.zone)
                if candidate > local:
                    return candidate
        return None

    def next_closing(self, at: datetime, horizon_days: int = 14) -> datetime | None:
        """When the open period around ``at`` ends; None when closed now or open beyond the horizon."""
        local = self._local(at)
        t = local.time().replace(tzinfo=None)
        day = local.date()
        for _ in range(horizon_days):
            current = next(((a, b) for a, b in self.day_schedule(day).ranges if a <= t < b), None)
            if current is None:
                return None
            if current[1] != time.max:
                return datetime.combine(day, current[1], tzinfo=self.zone)
            # Open until midnight: the period goes on if the next day opens at 00:00.
            day, t = day + timedelta(days=1), time(0)
            if not any(a == time(0) for a, _ in self.day_schedule(day).ranges):
                return datetime.combine(day, time(0), tzinfo=self.zone)
        return None

    def days(self, start: date, count: int) -> list[DaySchedule]:
        return [self.day_schedule(start + timedelta(days=i)) for i in range(count)]


def spoken_time(at: datetime, now: datetime) -> str:
    """"明天（星期二）上午8点30分" — how the after-hours prompt says an opening time."""
    days = (at.date() - now.date()).days
    when = {0: "今天", 1: "明天", 2: "后天"}.get(days, f"{at.month}月{at.day}日")
    part = "上午" if at.hour < 12 else ("中午" if at.hour < 13 else "下午")
    hour = at.hour if at.hour <= 12 else at.hour - 12
    minute = f"{at.minute}分" if at.minute else ""
    return f"{when}（星期{WEEKDAY_ZH[at.weekday()]}）{part}{hour}点{minute}"


def after_hours_text(calendar: LineCalendar, now: datetime) -> str:
    line = calendar.line
    opening = calendar.next_opening(now)
    parts = ["您好，现在是非服务时间。"]
    if opening is not None:
        parts.append(f"{line.name}将于{spoken_time(opening, calendar._local(now))}开放。")
    if line.web_url:
        parts.append(f"您也可以访问我们的7×24小时服务网站 {line.web_url}。")
    parts.append("您可以在提示音后留言。")
    return "".join(parts)


def describe_hours(calendar: LineCalendar, at: datetime, days: int = 0) -> str:
    local = calendar._local(at)
    line = calendar.line
    today = calendar.day_schedule(local.date())
    lines = [f"{line.id} ({line.name}) at {local:%Y-%m-%d %H:%M} {line.timezone}: "
             + ("OPEN" if calendar.is_open(local) else "CLOSED")]
    lines.append(f"  today: {today.describe()}")
    if calendar.is_open(local):
        closing = calendar.next_closing(local)
        if closing:
            lines.append(f"  closes at {closing:%Y-%m-%d %H:%M}")
    else:
        opening = calendar.next_opening(local)
        lines.append(f"  next opening: {opening:%Y-%m-%d %H:%M} (星期{WEEKDAY_ZH[opening.weekday()]})"
                     if opening else "  next opening: none within 60 days")
        if line.web_url:
            lines.append(f"  7×24 web service: {line.web_url}")
    if days:
        lines.append(f"  next {days} days:")
        lines.extend("    " + d.describe() for d in calendar.days(local.date(), days))
    return "\n".join(lines)
