"""``deskline user add NAME --role supervisor|engineer``: a console account.
``deskline user token NODE``: a bearer token for a hotline node that reports to this console."""

from __future__ import annotations

import argparse
import getpass

from deskline.config import load_config
from deskline.errors import UserError, user_errors


def run(args: argparse.Namespace) -> int:
    from models.store import Store
    from web.users import add_user, create_api_token

    with user_errors():
        cfg = load_config(args.config)
    store = Store(args.db or cfg.store_path)
    if args.action == "token":
        token = create_api_token(store, args.name)
        print(f"API token for node {args.name} (shown once; put it in the node's [console] api_token):")
        print(token)
        return 0
    if args.role is None:
        raise UserError("--role supervisor|engineer is required to add a user")
    if args.role == "engineer" and cfg.roster and args.name not in cfg.roster.names():
        raise UserError(f"{args.name!r} is not in the roster of {cfg.source}: an engineer's user name "
                        f"is their roster name ({', '.join(cfg.roster.names())})")
    password = args.password or getpass.getpass(f"Password for {args.name}: ")
    if len(password) < 8:
        raise UserError("the password must have at least 8 characters")
    add_user(store, args.name, args.role, password)
    print(f"User {args.name} ({args.role}) added.")
    return 0
