"""``deskline serve``: the hotline (SIP user agent) and, unless told otherwise, the console.

A node with ``[console] url`` set also reports to that console: live events for its live
board and every finished call (``deskline.console_uplink``).
"""

from __future__ import annotations

import argparse
import os
import signal
import threading
from typing import Any

from deskline.config import load_config
from deskline.errors import UserError, user_errors


def run(args: argparse.Namespace) -> int:
    from deskline.console_runtime import ConsoleServer, PortBusy, build_app, check_port_free
    from deskline.console_uplink import ConsoleUplink
    from deskline.hotline_runtime import SipPortBusy, check_sip_port_free, start_hotline
    from models.store import Store
    from models.store_lock import StoreLock, StoreLocked
    from web.live import LiveHub

    # Installed first: a SIGTERM while the node is still starting (loading models, closing
    # interrupted calls) stops it cleanly once it is up, instead of killing it half-started.
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    # Store, recordings and keys: readable by this account only (0600 files, 0700 folders).
    os.umask(0o077)
    with user_errors():
        cfg = load_config(args.config)
    # Before anything touches the store (call recovery would close the running node's live
    # calls) or a port: one node per store, and the console's port free.
    lock = None
    try:
        lock = StoreLock(cfg.store_path).acquire()
        check_sip_port_free(cfg)
        if not args.no_console:
            check_port_free(cfg.console.host, cfg.console.port)
    except (StoreLocked, PortBusy, SipPortBusy) as exc:
        if lock is not None:
            lock.release()
        raise UserError(str(exc)) from None
    cfg.hotline.recordings_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        cfg.hotline.recordings_dir.chmod(0o700)  # also a folder an older version made 0755
    except OSError:
        pass
    with user_errors():
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
        app = build_app(cfg, store, hub, node_gauges=node.gauges)
        app.state.callback_dialer = node.dialer  # the console's 回电 button dials through this node
        console = ConsoleServer(app, cfg.console.host, cfg.console.port,
                                trusted_proxies=cfg.console.trusted_proxies)
        try:
            console.start()
        except PortBusy as exc:
            node.stop()
            raise UserError(str(exc)) from None
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
    lock.release()
    return 0
