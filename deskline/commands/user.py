"""``deskline user add NAME --role supervisor|engineer``: a console account."""

from __future__ import annotations

import argparse
import getpass

from deskline.config import load_config
from deskline.errors import UserError, user_errors


def run(args: argparse.Namespace) -> int:
    from models.store import Store
    from web.users import add_user

    with user_errors():
        cfg = load_config(args.config)
    if args.role == "engineer" and cfg.roster and args.name not in cfg.roster.names():
        raise UserError(f"{args.name!r} is not in the roster of {cfg.source}: an engineer's user name "
                        f"is their roster name ({', '.join(cfg.roster.names())})")
    password = args.password or getpass.getpass(f"Password for {args.name}: ")
    if len(password) < 8:
        raise UserError("the password must have at least 8 characters")
    add_user(Store(args.db or cfg.store_path), args.name, args.role, password)
    print(f"User {args.name} ({args.role}) added.")
    return 0
