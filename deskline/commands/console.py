"""``deskline console``: the web console alone, on a store."""

from __future__ import annotations

import argparse
import os

from deskline.config import load_config
from deskline.console_runtime import PortBusy, build_app, check_port_free, uvicorn_config
from deskline.errors import UserError, user_errors


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from models.store import Store

    os.umask(0o077)  # the store and its key file: this account only
    with user_errors():
        cfg = load_config(args.config)
    if args.db:
        from pathlib import Path

        cfg.store_path = Path(args.db)
    host, port = args.host or cfg.console.host, args.port or cfg.console.port
    try:
        check_port_free(host, port)
    except PortBusy as exc:
        raise UserError(str(exc)) from None
    app = build_app(cfg, Store(cfg.store_path))
    print(f"Console on http://{host}:{port}/ (store {cfg.store_path})")
    config = uvicorn_config(app, host, port, cfg.console.trusted_proxies,
                            log_level="info" if args.verbose else "warning")
    uvicorn.Server(config).run()
    return 0
