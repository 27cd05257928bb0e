"""Lines and roster from the config file's ``[[lines]]`` and ``[[engineers]]`` tables, validated.

Every error names the source file, the entry and the field, e.g.
``deskline.toml: lines[1].weekly.mon: '8:30-25:00' is not a HH:MM-HH:MM range``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from routing.roster import Engineer, Roster

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Range = tuple[time, time]

# 3.1(a)–(c): the standard's three schedules, Monday first.
_HQ = [(time(8, 30), time(18, 30))]
_REGIONAL = [(time(9, 0), time(12, 30)), (time(13, 30), time(18, 0))]
_ALL_DAY = [(time(0, 0), time(23, 59, 59, 999999))]
PRESETS: dict[str, tuple[list[list[Range]], bool]] = {
    # name: (weekly ranges Mon..Sun, follows the statutory holiday calendar)
    "hq": ([_HQ] * 5 + [[], []], True),
    "regional": ([_REGIONAL] * 5 + [[], []], True),
    "web": ([_ALL_DAY] * 7, False),
}

_ID = re.compile(r"^[a-z0-9_-]+$")
_RANGE = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")


class RoutingConfigError(ValueError):
    pass


@dataclass
class HolidayArrangement:
    """The site's own statutory-holiday data (``[holidays]``): for a year chinese-calendar does
    not cover yet, or to correct it. Dates map to the holiday's name."""

    days_off: dict[date, str] = field(default_factory=dict)
    workdays: dict[date, str] = field(default_factory=dict)  # 调休: weekend days worked

    @property
    def years(self) -> set[int]:
        return {d.year for d in (*self.days_off, *self.workdays)}


@dataclass
class LineQueue:
    """``[lines.queue]``: how callers wait when no engineer is free (issue 14)."""

    enabled: bool = True
    max_wait_s: float = 300.0
    announce_every_s: float = 60.0
    max_length: int = 20
    menu_timeout_s: float = 8.0


def parse_queue(value: Any, where: str) -> LineQueue:
    if not isinstance(value, dict):
        raise RoutingConfigError(f"{where}: must be a table, e.g. queue = {{ max_wait_s = 300 }}")
    queue = LineQueue()
    known = list(vars(queue))
    for key, raw in value.items():
        if key not in known:
            raise RoutingConfigError(f"{where}: unknown field {key!r} (known: {', '.join(known)})")
        if key == "enabled":
            if not isinstance(raw, bool):
                raise RoutingConfigError(f"{where}.enabled: must be true or false, not {raw!r}")
            queue.enabled = raw
            continue
        kind = int if key == "max_length" else (int, float)
        if not isinstance(raw, kind) or isinstance(raw, bool):
            raise RoutingConfigError(f"{where}.{key}: must be a number, not {raw!r}")
        if raw <= 0:
            raise RoutingConfigError(f"{where}.{key}: must be more than 0, not {raw!r}")
        setattr(queue, key, raw if key == "max_length" else float(raw))
    if queue.announce_every_s < 10:
        raise RoutingConfigError(f"{where}.announce_every_s: {queue.announce_every_s:g} s is shorter than "
                                 "one announcement; use 10 s or more")
    return queue


@dataclass
class LineConfig:
    id: str
    name: str
    number: str
    calendar: str
    timezone: str = "Asia/Shanghai"
    web_url: str = ""
    ring_limit_s: float | None = None
    weekly: list[list[Range]] = field(default_factory=list)  # Mon..Sun
    follows_holidays: bool = True
    closed_dates: set[date] = field(default_factory=set)
    special_hours: dict[date, list[Range]] = field(default_factory=dict)
    holidays: HolidayArrangement = field(default_factory=HolidayArrangement)
    queue: LineQueue = field(default_factory=LineQueue)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def parse_range(text: Any, where: str) -> Range:
    m = _RANGE.match(text) if isinstance(text, str) else None
    if m:
        h1, m1, h2, m2 = (int(g) for g in m.groups())
        if h1 < 24 and m1 < 60 and m2 < 60 and (h2 < 24 or (h2 == 24 and m2 == 0)):
            start = time(h1, m1)
            end = time(23, 59, 59, 999999) if h2 == 24 else time(h2, m2)
            if start < end:
                return start, end
            raise RoutingConfigError(f"{where}: {text!r} ends before it starts")
    raise RoutingConfigError(f"{where}: {text!r} is not a HH:MM-HH:MM range")


def _ranges(value: Any, where: str) -> list[Range]:
    if not isinstance(value, list):
        raise RoutingConfigError(f"{where}: must be a list of \"HH:MM-HH:MM\" ranges")
    return sorted(parse_range(v, f"{where}[{i}]") for i, v in enumerate(value))


def _date(value: Any, where: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise RoutingConfigError(f"{where}: {value!r} is not a date (YYYY-MM-DD)") from None


def _get(
    entry: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str, default: Any = None
) -> Any:
    if key not in entry:
        if default is None:
            raise RoutingConfigError(f"{where}: missing required field {key!r}")
        return default
    value = entry[key]
    if not isinstance(value, kind) or (kind in (int, float, (int, float)) and isinstance(value, bool)):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise RoutingConfigError(f"{where}.{key}: must be {names}, not {type(value).__name__}")
    return value


def _date_span(key: str, where: str) -> list[date]:
    """``"2027-02-06"`` or an inclusive span ``"2027-02-06..2027-02-12"``."""
    first, _, last = key.partition("..")
    start = _date(first.strip(), where)
    end = _date(last.strip(), where) if last else start
    if end < start:
        raise RoutingConfigError(f"{where}: {key!r} ends before it starts")
    if (end - start).days > 31:
        raise RoutingConfigError(f"{where}: {key!r} is longer than a month; is a year mistyped?")
    return [date.fromordinal(n) for n in range(start.toordinal(), end.toordinal() + 1)]


def parse_holidays(data: Any, source: str) -> HolidayArrangement:
    """``[holidays.days_off]`` and ``[holidays.workdays]``: date or span → holiday name."""
    where = f"{source}: [holidays]"
    if not isinstance(data, dict):
        raise RoutingConfigError(f"{where}: must be a table")
    for key in data:
        if key not in ("days_off", "workdays"):
            raise RoutingConfigError(f"{where}: unknown table {key!r} (known: days_off, workdays)")
    arrangement = HolidayArrangement()
    for part in ("days_off", "workdays"):
        table = _get(data, part, dict, where, {})
        for key, name in table.items():
            here = f"{source}: holidays.{part}.{key}"
            if not isinstance(name, str) or not name.strip():
                raise RoutingConfigError(f"{here}: must be the holiday's name, e.g. \"春节\"")
            for day in _date_span(str(key), here):
                if part == "workdays" and day.weekday() < 5:
                    raise RoutingConfigError(
                        f"{here}: {day} is a weekday; 调休 workdays are the Saturdays and Sundays worked")
                getattr(arrangement, part)[day] = name.strip()
    both = sorted(set(arrangement.days_off) & set(arrangement.workdays))
    if both:
        raise RoutingConfigError(f"{where}: {both[0]} is both a day off and a workday")
    return arrangement


def parse_lines(data: Any, source: str, holidays: HolidayArrangement | None = None) -> list[LineConfig]:
    if not isinstance(data, list):
        raise RoutingConfigError(f"{source}: [[lines]] must be an array of tables")
    lines: list[LineConfig] = []
    known = {"id", "name", "number", "calendar", "timezone", "web_url", "ring_limit_s", "weekly",
             "closed", "special_hours", "queue"}
    for i, entry in enumerate(data):
        where = f"{source}: lines[{i}]"
        if not isinstance(entry, dict):
            raise RoutingConfigError(f"{where}: must be a table")
        for key in entry:
            if key not in known:
                raise RoutingConfigError(
                    f"{where}: unknown field {key!r} (known: {', '.join(sorted(known))})"
                )
        line_id = _get(entry, "id", str, where)
        if not _ID.match(line_id):
            raise RoutingConfigError(f"{where}.id: {line_id!r} must be lower-case letters, digits, - or _")
        where = f"{source}: lines[{i}] ({line_id})"
        calendar = _get(entry, "calendar", str, where, "hq")
        if calendar not in PRESETS:
            raise RoutingConfigError(f"{where}.calendar: {calendar!r} is not one of {', '.join(PRESETS)}")
        weekly, follows = PRESETS[calendar]
        weekly = [list(day) for day in weekly]
        tz = _get(entry, "timezone", str, where, "Asia/Shanghai")
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise RoutingConfigError(f"{where}.timezone: unknown time zone {tz!r}") from None
        if "weekly" in entry:
            table = _get(entry, "weekly", dict, where)
            for key in table:
                if key not in WEEKDAYS:
                    raise RoutingConfigError(
                        f"{where}.weekly: {key!r} is not a weekday ({', '.join(WEEKDAYS)})"
                    )
            for d, key in enumerate(WEEKDAYS):
                if key in table:
                    weekly[d] = _ranges(table[key], f"{where}.weekly.{key}")
        closed: set[date] = set()
        if "closed" in entry:
            dates = _get(_get(entry, "closed", dict, where), "dates", list, f"{where}.closed")
            closed = {_date(v, f"{where}.closed.dates[{j}]") for j, v in enumerate(dates)}
        special: dict[date, list[Range]] = {}
        for key, value in _get(entry, "special_hours", dict, where, {}).items():
            special[_date(key, f"{where}.special_hours")] = _ranges(value, f"{where}.special_hours.{key}")
        ring_limit = entry.get("ring_limit_s")
        if ring_limit is not None:
            ring_limit = float(_get(entry, "ring_limit_s", (int, float), where))
            if ring_limit <= 0:
                raise RoutingConfigError(f"{where}.ring_limit_s: must be positive")
        if any(line.id == line_id for line in lines):
            raise RoutingConfigError(f"{where}.id: duplicate line id {line_id!r}")
        lines.append(LineConfig(
            id=line_id, name=_get(entry, "name", str, where, line_id),
            number=_get(entry, "number", str, where, line_id), calendar=calendar, timezone=tz,
            web_url=_get(entry, "web_url", str, where, ""), ring_limit_s=ring_limit, weekly=weekly,
            follows_holidays=follows, closed_dates=closed, special_hours=special,
            holidays=holidays or HolidayArrangement(),
            queue=parse_queue(entry["queue"], f"{where}.queue") if "queue" in entry else LineQueue()))
    return lines


SIP_VALUE = re.compile(r"^(?:sips?:[^@\s;]+@[A-Za-z0-9.\-\[\]:]+(?::\d{1,5})?(?:;\S*)?|[A-Za-z0-9._\-+]+)$")


def parse_roster(data: Any, source: str, line_ids: tuple[str, ...] | None = None) -> Roster:
    """The [[engineers]] tables; with ``line_ids``, every engineer's lines must be among them."""
    if not isinstance(data, list):
        raise RoutingConfigError(f"{source}: [[engineers]] must be an array of tables")
    engineers: list[Engineer] = []
    known = {"name", "sip", "certified", "available", "lines"}
    for i, entry in enumerate(data):
        where = f"{source}: engineers[{i}]"
        if not isinstance(entry, dict):
            raise RoutingConfigError(f"{where}: must be a table")
        for key in entry:
            if key not in known:
                raise RoutingConfigError(
                    f"{where}: unknown field {key!r} (known: {', '.join(sorted(known))})"
                )
        name = _get(entry, "name", str, where).strip()
        if not name:
            raise RoutingConfigError(f"{where}.name: must not be empty")
        where = f"{source}: engineers[{i}] ({name})"
        lines = _get(entry, "lines", list, where, [])
        if not all(isinstance(v, str) for v in lines):
            raise RoutingConfigError(f"{where}.lines: must be a list of line ids")
        if line_ids is not None:
            unknown = [v for v in lines if v not in line_ids]
            if unknown:
                raise RoutingConfigError(
                    f"{where}.lines: unknown line id(s) {', '.join(map(repr, unknown))} "
                    f"(the [[lines]] ids are {', '.join(line_ids)})"
                )
        if any(e.name == name for e in engineers):
            raise RoutingConfigError(f"{where}.name: duplicate engineer {name!r}")
        sip = _get(entry, "sip", str, where).strip()
        if not SIP_VALUE.match(sip):
            raise RoutingConfigError(
                f"{where}.sip: {sip!r} is neither a SIP URI such as \"sip:zhangwei@10.0.0.21:5060\" "
                "nor a user name at the registrar such as \"zhangwei\""
            )
        engineers.append(Engineer(
            name=name, sip=sip,
            certified=_get(entry, "certified", bool, where, False) is True,
            available=_get(entry, "available", bool, where, True) is True,
            lines=tuple(lines)))
    return Roster(engineers)
