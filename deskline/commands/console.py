"""``deskline console``: the web console alone, on a store."""

from __future__ import annotations

import argparse

from deskline.config import load_config
from deskline.console_runtime import build_app
from deskline.errors import user_errors


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from models.store import Store

    with user_errors():
        cfg = load_config(args.config)
    if args.db:
        from pathlib import Path

        cfg.store_path = Path(args.db)
    app = build_app(cfg, Store(cfg.store_path))
    host, port = args.host or cfg.console.host, args.port or cfg.console.port
    print(f"Console on http://{host}:{port}/ (store {cfg.store_path})")
    uvicorn.run(app, host=host, port=port, log_level="info" if args.verbose else "warning")
    return 0
