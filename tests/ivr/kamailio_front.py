"""Debian's kamailio running the shipped front config (docker/kamailio/kamailio.cfg) on loopback.

The dispatcher list holds the nodes' loopback ports, the accounts table the engineers'
credentials (ENGINEER_PASSWORDS), both written into the test's directory.
"""

from __future__ import annotations

import socket
import subprocess
import uuid
from pathlib import Path

import pytest

from .peers import free_udp_port

CONFIG = Path(__file__).parents[2] / "docker" / "kamailio" / "kamailio.cfg"
ENGINEER_PASSWORDS = {"zhangwei": "zw-Secret-42", "lina": "ln-Other-77"}


def options(port: int, local_port: int) -> bytes:
    return (
        f"OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{local_port};branch=z9hG4bK{uuid.uuid4().hex[:10]};rport\r\n"
        f"From: <sip:probe@127.0.0.1:{local_port}>;tag={uuid.uuid4().hex[:6]}\r\n"
        f"To: <sip:127.0.0.1:{port}>\r\nCall-ID: {uuid.uuid4().hex}\r\nCSeq: 1 OPTIONS\r\n"
        "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    ).encode()


def write_accounts(directory: Path, passwords: dict[str, str]) -> Path:
    """The db_text accounts table the front reads (README: one `user:password` line each)."""
    directory.mkdir(parents=True, exist_ok=True)
    rows = "".join(f"{user}:{password.replace(':', chr(92) + ':')}\n" for user, password in passwords.items())
    (directory / "engineers").write_text("username(str) password(str)\n" + rows)
    return directory


class KamailioFront:
    def __init__(self, work: Path) -> None:
        self.work = work
        self.port = free_udp_port()
        self.log = work / "kamailio.log"
        self.accounts = write_accounts(work / "accounts", ENGINEER_PASSWORDS)
        self.process: subprocess.Popen | None = None

    def start(self, node_ports: list[int], defines: dict[str, str] | None = None) -> None:
        dispatcher = self.work / "dispatcher.list"
        dispatcher.write_text("".join(f"1 sip:127.0.0.1:{p} 0 0\n" for p in node_ports))
        run_dir = self.work / "run"
        run_dir.mkdir(exist_ok=True)
        settings = {"LISTEN": f"udp:127.0.0.1:{self.port}", "DISPATCHER_LIST": f'"{dispatcher}"',
                    "HOTLINE_NUMBERS": '"^(hq|web)$"', "ACCOUNTS_DB": f'"text://{self.accounts}"'}
        settings.update(defines or {})
        arguments = [a for name, value in settings.items() for a in ("-A", f"{name}={value}")]
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                ["kamailio", "-f", str(CONFIG), "-DD", "-E", "-Y", str(run_dir), "-w", str(self.work),
                 *arguments],
                stdout=log, stderr=subprocess.STDOUT)
        for _ in range(50):
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.bind(("127.0.0.1", 0))
                s.settimeout(0.2)
                s.sendto(options(self.port, s.getsockname()[1]), ("127.0.0.1", self.port))
                try:
                    if s.recv(4096).startswith(b"SIP/2.0 200"):
                        return
                except TimeoutError:
                    assert self.process.poll() is None, self.log_text()
        pytest.fail("kamailio did not start: " + self.log_text()[-2000:])

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)
