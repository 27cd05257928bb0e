"""``deskline serve``: the hotline (SIP user agent) and, unless told otherwise, the console.

A node with ``[console] url`` set also reports to that console: live events for its live
board and every finished call (``deskline.console_uplink``).
"""

from __future__ import annotations

import argparse
import signal
import threading
from typing import Any

from deskline.config import load_config
from deskline.errors import user_errors


def run(args: argparse.Namespace) -> int:
    from deskline.console_runtime import ConsoleServer, build_app
    from deskline.console_uplink import ConsoleUplink
    from deskline.hotline_runtime import start_hotline
    from models.store import Store
    from web.live import LiveHub

    # Installed first: a SIGTERM while the node is still starting (loading models, closing
    # interrupted calls) stops it cleanly once it is up, instead of killing it half-started.
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with user_errors():
        cfg = load_config(args.config)
        store = Store(cfg.store_path)
        hub = LiveHub()
        uplink = ConsoleUplink(cfg.console.url, cfg.console.api_token, store) if cfg.console.url else None

        def publish(event: dict[str, Any]) -> None:
            hub.publish(event)
            if uplink is not None:
                uplink.publish(event)

        node = start_hotline(cfg, store, publish=publish, on_call_done=uplink.call_done if uplink else None)
    console = None
    if not args.no_console:
        console = ConsoleServer(build_app(cfg, store, hub), cfg.console.host, cfg.console.port)
        console.start()
    lines = ", ".join(f"{line.id} (dial {line.number})" for line in cfg.lines)
    print(f"Hotline on sip:{cfg.hotline.bind_ip}:{node.agent.port}: lines {lines}", flush=True)
    if console:
        print(f"Console on {console.url}", flush=True)
    if uplink:
        print(f"Reporting calls and live events to {uplink.base}", flush=True)
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    node.stop()
    if uplink:
        uplink.stop()
    if console:
        console.stop()
    return 0
