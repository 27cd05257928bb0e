"""The ``deskline`` command: a thin layer over the libraries, one function per command.

Exit status: 0 done, 2 bad input (file, config, rules, arguments), 1 anything else.
Errors are one line on stderr naming what is wrong; nothing is written on error.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from deskline.errors import UserError


def _add_config(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="deskline.toml (default: ./deskline.toml, $DESKLINE_CONFIG, "
                   "or the shipped demo config)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="deskline", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = parser.add_subparsers(dest="command", required=True)

    a = sub.add_parser("analyze", help="score a recorded call against the service standard")
    a.add_argument("wav", help="stereo WAV (left caller, right engineer) or mono WAV; 8/16 kHz; "
                   "PCM16, μ-law, A-law or 8-bit")
    a.add_argument("--engineer", required=True, help="the engineer's roster name, e.g. 张伟")
    a.add_argument("--line", default="hq", help="line the call came in on (default: hq)")
    a.add_argument("--format", choices=["text", "json"], default="text")
    a.add_argument("--engine", choices=["vosk", "whisper"], help="recogniser (default: best installed)")
    a.add_argument("--model", help="model directory for the chosen engine")
    a.add_argument("--rules", help="rule file (TOML); default: config's, else the shipped rules")
    a.add_argument("--engineer-channel", choices=["left", "right", "mono"],
                   help="which channel is the engineer (default: right for stereo, the whole file for mono)")
    a.add_argument("--started-at", help="when the call started, ISO 8601 (default: file time)")
    a.add_argument("--save", action="store_true", help="store the scored call for the console")
    a.add_argument("--db", help="SQLite store (default: the config's [store] path)")
    _add_config(a)

    h = sub.add_parser("hours", help="is a line open, and when does it open next")
    h.add_argument("--line", default="hq")
    h.add_argument("--at", help='"YYYY-MM-DD HH:MM" in the line\'s time zone (default: now)')
    h.add_argument("--days", type=int, default=0, help="also list the calendar for N days")
    _add_config(h)

    s = sub.add_parser("serve", help="run the hotline (SIP user agent) and the console")
    _add_config(s)
    s.add_argument("--no-console", action="store_true", help="hotline only")

    c = sub.add_parser("console", help="run the web console alone, on a store")
    _add_config(c)
    c.add_argument("--db", help="SQLite store (default: the config's [store] path)")
    c.add_argument("--host")
    c.add_argument("--port", type=int)

    from deskline.commands.user import add_parsers as add_account_parsers

    add_account_parsers(sub, _add_config)

    p = sub.add_parser("push", help="send this node's stored calls to its console ([console] url)")
    p.add_argument("--since", help="only calls from this date on (YYYY-MM-DD; default: all)")
    p.add_argument("--db", help="SQLite store (default: the config's [store] path)")
    _add_config(p)

    d = sub.add_parser("demo", help="start the hotline on loopback, place a scripted call, "
                       "print the scored call")
    d.add_argument("--keep-running", action="store_true", help="keep the console up afterwards")
    d.add_argument("--scenario", choices=["good", "bad"], default="good",
                   help="good: a call that meets the standard; bad: the same call with a 3.5(1) refusal")
    d.add_argument("--workdir", help="where the demo keeps its store and recordings (default: ./var/demo)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "analyze":
            from deskline.commands.analyze import run
        elif args.command == "hours":
            from deskline.commands.hours import run
        elif args.command == "serve":
            from deskline.commands.serve import run
        elif args.command == "console":
            from deskline.commands.console import run
        elif args.command in ("user", "token"):
            from deskline.commands.user import run
        elif args.command == "push":
            from deskline.commands.push import run
        else:
            from deskline.commands.demo import run
        return run(args)
    except UserError as e:
        print(f"deskline {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
