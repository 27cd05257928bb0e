"""``deskline hours``: is a line open at a time, why, and when it opens next."""

from __future__ import annotations

import argparse
from datetime import datetime
from zoneinfo import ZoneInfo

from deskline.config import load_config
from deskline.errors import UserError, user_errors


def run(args: argparse.Namespace) -> int:
    from routing.hours import LineCalendar, describe_hours

    with user_errors():
        cfg = load_config(args.config)
        line = cfg.line(args.line)
    zone = ZoneInfo(line.timezone)
    if args.at:
        try:
            at = datetime.strptime(args.at, "%Y-%m-%d %H:%M").replace(tzinfo=zone)
        except ValueError:
            raise UserError(f'--at {args.at!r}: expected "YYYY-MM-DD HH:MM"') from None
    else:
        at = datetime.now(zone)
    calendar = LineCalendar(line)
    print(describe_hours(calendar, at, days=args.days))
    return 0
