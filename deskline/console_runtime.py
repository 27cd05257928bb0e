"""Building and running the console app from a config: shared by ``console``, ``serve`` and ``demo``."""

from __future__ import annotations

import secrets
import threading
import time
from pathlib import Path
from typing import Any

from deskline.config import Config


def secret_key(cfg: Config) -> str:
    """The configured key, or one generated once and kept beside the database."""
    if cfg.console.secret_key:
        return cfg.console.secret_key
    key_file = Path(cfg.store_path).with_suffix(".secret")
    if key_file.exists():
        return key_file.read_text().strip()
    key_file.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(32)
    key_file.write_text(key)
    key_file.chmod(0o600)
    return key


def build_app(cfg: Config, store: Any, live_hub: Any = None, node_gauges: Any = None) -> Any:
    from routing.hours import LineCalendar
    from speech.qa.rulefile import load_rules
    from web.app import create_app

    calendars = {line.id: LineCalendar(line) for line in cfg.lines}
    # Always confined: calls arrive over the API, so a stored audio_path is not trusted.
    audio_roots = [cfg.hotline.recordings_dir, *cfg.console.audio_dirs]
    app = create_app(store, secret_key=secret_key(cfg), rules=load_rules(cfg.speech.rules or None),
                     live_events=live_hub, calendars=calendars, https_only=cfg.console.https_only,
                     audio_roots=audio_roots, metrics_token=cfg.console.metrics_token,
                     node_gauges=node_gauges)
    app.state.callback_remind_before_min = cfg.outbound.remind_before_min
    return app


def uvicorn_config(app: Any, host: str, port: int, trusted_proxies: list[str] | None = None,
                   log_level: str = "warning") -> Any:
    """uvicorn's settings for the console: X-Forwarded-For is read only from the configured
    proxies (uvicorn would otherwise believe any loopback client), never from anyone else."""
    import uvicorn

    proxies = [str(p) for p in trusted_proxies or []]
    return uvicorn.Config(app, host=host, port=port, log_level=log_level, proxy_headers=bool(proxies),
                          forwarded_allow_ips=proxies or [], server_header=False)


class PortBusy(RuntimeError):
    """The console's address is taken (another console, or another program)."""


def check_port_free(host: str, port: int) -> None:
    """Raise PortBusy with one line naming the address, before anything starts."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise PortBusy(f"the console cannot listen on {host}:{port}: {exc.strerror or exc} "
                           "(another console running? set [console] port)") from None


class ConsoleServer:
    """uvicorn in a background thread, stoppable (for ``serve`` and ``demo``)."""

    def __init__(self, app: Any, host: str, port: int, trusted_proxies: list[str] | None = None) -> None:
        import uvicorn

        self.host, self.port = host, port
        self.server = uvicorn.Server(uvicorn_config(app, host, port, trusted_proxies))
        self.thread = threading.Thread(target=self.server.run, name="console", daemon=True)
        self.url = f"http://{host}:{port}/"

    def start(self, timeout_s: float = 15.0) -> None:
        """Start serving; return once the port listens (callers print or test the address).
        PortBusy (one line) when the address is taken."""
        check_port_free(self.host, self.port)
        self.thread.start()
        deadline = time.monotonic() + timeout_s
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the console did not start on {self.url}")
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=5)
