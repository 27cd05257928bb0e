"""Container health check (docker/compose.yaml): is this node's SIP user agent answering, or
this console's web server serving its login page? Exit 0 if so, 1 if not.

    python docker/healthcheck.py node /etc/deskline/node-a.toml
    python docker/healthcheck.py console /etc/deskline/console.toml
"""

from __future__ import annotations

import socket
import sys
import urllib.request
import uuid

from deskline.config import load_config

TIMEOUT_S = 3.0


def local(host: str) -> str:
    """Where to reach a server bound to ``host`` from the same host."""
    return "127.0.0.1" if host in ("", "0.0.0.0") else host


def node_answers_options(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((host, 0))
        sock.settimeout(TIMEOUT_S)
        own = sock.getsockname()[1]
        sock.sendto(
            (
                f"OPTIONS sip:{host}:{port} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP {host}:{own};branch=z9hG4bK{uuid.uuid4().hex[:12]};rport\r\n"
                f"From: <sip:health@{host}:{own}>;tag={uuid.uuid4().hex[:8]}\r\nTo: <sip:{host}:{port}>\r\n"
                f"Call-ID: {uuid.uuid4().hex}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
                "Content-Length: 0\r\n\r\n"
            ).encode(),
            (host, port),
        )
        try:
            return sock.recv(65535).startswith(b"SIP/2.0 200")
        except OSError:
            return False


def console_serves_login(host: str, port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/login", timeout=TIMEOUT_S) as response:  # noqa: S310
            return response.status == 200
    except OSError:
        return False


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("node", "console"):
        print(__doc__, file=sys.stderr)
        return 2
    cfg = load_config(argv[1])
    if argv[0] == "node":
        healthy = node_answers_options(local(cfg.hotline.bind_ip), cfg.hotline.sip_port)
    else:
        healthy = console_serves_login(local(cfg.console.host), cfg.console.port)
    print("healthy" if healthy else "not answering")
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
