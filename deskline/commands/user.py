"""``deskline user list|add|set-role|passwd|disable|enable|delete``: console accounts.
``deskline token list|create|revoke``: bearer tokens for the hotline nodes that report here.

Passwords are never taken from the command line (``ps`` and shell history would show
them): they are typed twice at a prompt, or read as one line from stdin when stdin is
not a terminal (``printf '%s\\n' "$PW" | deskline user passwd 张伟``). Every change that
takes a right away (role change, new password, disable, delete, token revoke) takes
effect on the user's or node's next request.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import TextIO

from deskline.config import Config, load_config
from deskline.errors import UserError, user_errors


def read_new_password(name: str, stdin: TextIO | None = None) -> str:
    """The new password: typed twice at a terminal, or the first line of a piped stdin."""
    stdin = stdin or sys.stdin
    if stdin.isatty():
        try:
            first = getpass.getpass(f"New password for {name}: ")
            second = getpass.getpass("Again: ")
        except EOFError:
            raise UserError("no password typed") from None
        if first != second:
            raise UserError("the two passwords differ; nothing changed")
        return first
    line = stdin.readline()
    if not line:
        raise UserError("no password: type it at the prompt, or give it as one line on stdin")
    return line.rstrip("\r\n")


def _store(args: argparse.Namespace) -> tuple[Config, object]:
    from models.store import Store

    with user_errors():
        cfg = load_config(args.config)
    return cfg, Store(args.db or cfg.store_path)


def _check_engineer(cfg: Config, name: str, role: str) -> None:
    if role == "engineer" and cfg.roster and name not in cfg.roster.names():
        raise UserError(
            f"{name!r} is not in the roster of {cfg.source}: an engineer's user name "
            f"is their roster name ({', '.join(cfg.roster.names())})"
        )


def run(args: argparse.Namespace) -> int:
    if args.command == "token" or args.action == "token":
        return run_token(args)
    from models.store import Conflict, NotFound
    from web.users import WeakPassword, change_password, create_user

    if getattr(args, "password", None) is not None:
        raise UserError(
            "passwords are not taken on the command line (ps and shell history show it): "
            "type it at the prompt, or give it as one line on stdin"
        )
    cfg, store = _store(args)
    action = args.action
    try:
        if action == "list":
            users = store.list_users()
            if not users:
                print("No users yet: deskline user add NAME --role supervisor|engineer")
            for u in users:
                state = "disabled" if u.disabled else "active"
                sessions = store.session_count(u.name)
                print(f"{u.name}\t{u.role}\t{state}\tcreated {u.created_at}\tsessions {sessions}")
            return 0
        if action == "add":
            _check_engineer(cfg, args.name, args.role)
            if store.get_user(args.name) is not None:
                raise UserError(
                    f"user {args.name!r} already exists; nothing changed "
                    "(deskline user set-role / passwd change an existing user)"
                )
            create_user(store, args.name, args.role, read_new_password(args.name))
            print(f"User {args.name} ({args.role}) added.")
        elif action == "set-role":
            _check_engineer(cfg, args.name, args.role)
            store.set_role(args.name, args.role)
            print(f"User {args.name} is now {args.role}; their open sessions have ended.")
        elif action == "passwd":
            if store.get_user(args.name) is None:
                raise UserError(f"no user {args.name!r}")
            change_password(store, args.name, read_new_password(args.name))
            print(f"Password of {args.name} changed; their open sessions have ended.")
        elif action in ("disable", "enable"):
            store.set_disabled(args.name, action == "disable")
            ended = " Their open sessions have ended." if action == "disable" else ""
            print(f"User {args.name} {action}d.{ended}")
        elif action == "delete":
            store.delete_user(args.name)
            print(f"User {args.name} deleted; their calls, reviews and disputes stay.")
    except (NotFound, Conflict, WeakPassword) as exc:
        raise UserError(str(exc.args[0]) if exc.args else str(exc)) from None
    return 0


def run_token(args: argparse.Namespace) -> int:
    from web.users import create_api_token

    _cfg, store = _store(args)
    action = "create" if args.command == "user" else args.action
    if action == "create":
        token = create_api_token(store, args.name)
        print(f"API token for node {args.name} (shown once; put it in the node's [console] api_token):")
        print(token)
        return 0
    if action == "list":
        tokens = store.api_tokens()
        if not tokens:
            print("No node tokens yet: deskline token create NODE-NAME")
        for t in tokens:
            state = f"revoked {t.revoked_at}" if t.revoked_at else "active"
            print(f"{t.token_sha256[:12]}\t{t.name}\t{state}\tcreated {t.created_at}")
        return 0
    if bool(args.name) == bool(args.id):
        raise UserError("revoke a node's tokens (deskline token revoke NODE) or one token (--id ID)")
    from models.store import Conflict

    try:
        n = store.revoke_api_tokens(node=args.name or None, digest_prefix=args.id or None)
    except Conflict as exc:
        raise UserError(str(exc)) from None
    if n == 0:
        raise UserError(f"no active token {'of node ' + repr(args.name) if args.name else repr(args.id)}")
    print(f"Revoked {n} token{'s' if n != 1 else ''}; the node is refused from its next request.")
    return 0


def add_parsers(sub: argparse._SubParsersAction, add_config) -> None:  # noqa: ANN001
    u = sub.add_parser("user", help="manage console users")
    usub = u.add_subparsers(dest="action", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", help="SQLite store (default: the config's [store] path)")
    add_config(common)
    usub.add_parser("list", parents=[common], help="users, roles, state")
    a = usub.add_parser("add", parents=[common], help="a new account (password at the prompt or on stdin)")
    a.add_argument("name", help="the user's name (an engineer's roster name)")
    a.add_argument("--role", choices=["supervisor", "engineer"], required=True)
    a.add_argument("--password", help=argparse.SUPPRESS)  # refused with a clear message
    r = usub.add_parser("set-role", parents=[common], help="change a user's role (ends their sessions)")
    r.add_argument("name")
    r.add_argument("role", choices=["supervisor", "engineer"])
    for action, text in (
        ("passwd", "a new password (ends their sessions)"),
        ("disable", "refuse sign-in and end their sessions"),
        ("enable", "allow sign-in again"),
        ("delete", "remove the account (their calls and reviews stay)"),
    ):
        p = usub.add_parser(action, parents=[common], help=text)
        p.add_argument("name")
        if action == "passwd":
            p.add_argument("--password", help=argparse.SUPPRESS)
    t = usub.add_parser("token", parents=[common], help="same as: deskline token create NODE")
    t.add_argument("name", help="the node's name")

    tok = sub.add_parser("token", help="bearer tokens for hotline nodes")
    tsub = tok.add_subparsers(dest="action", required=True)
    tsub.add_parser("list", parents=[common], help="tokens (id, node, state)")
    c = tsub.add_parser("create", parents=[common], help="a new token naming its node (shown once)")
    c.add_argument("name", help="the node's name; the node may post and update only its own calls")
    v = tsub.add_parser("revoke", parents=[common], help="revoke a node's tokens, or one by --id")
    v.add_argument("name", nargs="?", default="", help="the node whose tokens to revoke")
    v.add_argument("--id", default="", help="one token, by the id `deskline token list` shows")
