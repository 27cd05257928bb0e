"""``deskline push``: send a node's stored calls to its console again.

For calls the node could not deliver while the console was away (the uplink retries for
ten minutes, then leaves them in the node's store), or to fill a new console. The console
stores a call it already has again without losing its reviews, so pushing twice is safe.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date, datetime, time

from deskline.config import load_config
from deskline.errors import UserError, user_errors


def _since(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise UserError(f"--since {text!r}: not a date (YYYY-MM-DD)") from None
    return datetime.combine(day, time.min).astimezone()


def run(args: argparse.Namespace) -> int:
    import httpx
    from tqdm import tqdm

    from deskline.console_uplink import ConsoleUplink, UplinkRejected
    from models.store import Store

    with user_errors():
        cfg = load_config(args.config)
    if not cfg.console.url:
        raise UserError(f"{cfg.source}: [console] url is not set: this node reports to no console")
    since = _since(args.since)
    store = Store(args.db or cfg.store_path)
    ids = [i for status in ("done", "failed") for i in store.call_ids(status=status, since=since)]
    uplink = ConsoleUplink(cfg.console.url, cfg.console.api_token, store)
    sent, refused = 0, []
    try:
        for call_id in tqdm(ids, desc="push", unit="call", disable=not sys.stderr.isatty()):
            call = store.get_call(call_id)
            if call is None:
                continue
            try:
                uplink.send_call(call)
                sent += 1
            except UplinkRejected as e:
                refused.append(f"{call_id}: {e}")
            except httpx.HTTPError as e:
                raise UserError(f"console {uplink.base} unreachable ({e}); {sent} of {len(ids)} calls "
                                "sent, run the same command again later") from None
    finally:
        uplink.stop(drain_s=0)
    print(f"{sent} of {len(ids)} calls sent to {uplink.base}")
    for line in refused:
        print(f"refused: {line}", file=sys.stderr)
    return 1 if refused else 0
