"""``deskline serve``: the hotline (SIP user agent) and, unless told otherwise, the console."""

from __future__ import annotations

import argparse
import signal
import threading

from deskline.config import load_config
from deskline.errors import user_errors


def run(args: argparse.Namespace) -> int:
    from deskline.console_runtime import ConsoleServer, build_app
    from deskline.hotline_runtime import start_hotline
    from models.store import Store
    from web.live import LiveHub

    with user_errors():
        cfg = load_config(args.config)
        store = Store(cfg.store_path)
        hub = LiveHub()
        node = start_hotline(cfg, store, publish=hub.publish)
    console = None
    if not args.no_console:
        console = ConsoleServer(build_app(cfg, store, hub), cfg.console.host, cfg.console.port)
        console.start()
    lines = ", ".join(f"{line.id} (dial {line.number})" for line in cfg.lines)
    print(f"Hotline on sip:{cfg.hotline.bind_ip}:{node.agent.port}: lines {lines}")
    if console:
        print(f"Console on {console.url}")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    node.stop()
    if console:
        console.stop()
    return 0
