"""A hand-driven SIP peer for regression tests: sends exactly the bytes a scenario needs.

Used to run the same scenario against unpatched pyVoIP and against our agent, which a
scripted sipp cannot do for the odd cases (unanswered 200 OK, re-INVITE, garbage).
"""

from __future__ import annotations

import re
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field

from .peers import LOOPBACK, RtpReceiver


@dataclass
class Received:
    data: bytes
    source: tuple[str, int]
    at: float

    @property
    def first_line(self) -> str:
        return self.data.split(b"\r\n", 1)[0].decode(errors="replace")

    def header(self, name: str) -> str:
        match = re.search(
            rf"^{name}:\s*(.*)$", self.data.decode(errors="replace"), re.MULTILINE | re.IGNORECASE
        )
        return match.group(1).strip() if match else ""

    @property
    def cseq_method(self) -> str:
        return self.header("CSeq").split()[-1] if self.header("CSeq") else ""


@dataclass
class RawSipPeer:
    messages: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((LOOPBACK, 0))
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.media = RtpReceiver()
        self.call_id = f"{uuid.uuid4().hex}@raw"
        self.tag = uuid.uuid4().hex[:8]
        self._running = True
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while self._running:
            try:
                data, source = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            self.messages.append(Received(data, source, time.monotonic()))

    def close(self) -> None:
        self._running = False
        self._thread.join(timeout=1)
        self.sock.close()
        self.media.close()

    def send(self, data: bytes | str, port: int) -> None:
        self.sock.sendto(data.encode() if isinstance(data, str) else data, (LOOPBACK, port))

    def sdp(self, pt: int = 0, codec: str = "PCMU") -> str:
        return (
            f"v=0\r\no=raw 1 1 IN IP4 {LOOPBACK}\r\ns=-\r\nc=IN IP4 {LOOPBACK}\r\nt=0 0\r\n"
            f"m=audio {self.media.port} RTP/AVP {pt} 101\r\na=rtpmap:{pt} {codec}/8000\r\n"
            f"a=rtpmap:101 telephone-event/8000\r\n"
        )

    def request(
        self,
        method: str,
        target_port: int,
        cseq: int,
        body: str = "",
        to_tag: str = "",
        drop: tuple[str, ...] = (),
        extra: str = "",
        branch: str | None = None,
    ) -> str:
        headers = {
            "Via": f"SIP/2.0/UDP {LOOPBACK}:{self.port};branch={branch or 'z9hG4bK' + uuid.uuid4().hex[:12]}",
            "From": f"<sip:caller@{LOOPBACK}:{self.port}>;tag={self.tag}",
            "To": f"<sip:hotline@{LOOPBACK}:{target_port}>" + (f";tag={to_tag}" if to_tag else ""),
            "Call-ID": self.call_id,
            "CSeq": f"{cseq} {method}",
            "Contact": f"<sip:caller@{LOOPBACK}:{self.port}>",
            "Max-Forwards": "70",
        }
        lines = [f"{method} sip:hotline@{LOOPBACK}:{target_port} SIP/2.0"]
        lines += [f"{k}: {v}" for k, v in headers.items() if k not in drop]
        if extra:
            lines.append(extra)
        if body:
            lines.append("Content-Type: application/sdp")
        lines.append(f"Content-Length: {len(body)}")
        return "\r\n".join(lines) + "\r\n\r\n" + body

    def invite(self, target_port: int, cseq: int = 1, **kwargs) -> None:  # noqa: ANN003
        self.send(self.request("INVITE", target_port, cseq, body=self.sdp(), **kwargs), target_port)

    def wait_for(
        self, first_line_part: str, method: str | None = None, timeout: float = 3.0, after: float = 0.0
    ) -> Received | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for m in list(self.messages):
                if (
                    m.at >= after
                    and first_line_part in m.first_line
                    and (method is None or m.cseq_method == method)
                ):
                    return m
            time.sleep(0.02)
        return None

    def count(self, first_line_part: str, method: str | None = None) -> int:
        return sum(
            1
            for m in self.messages
            if first_line_part in m.first_line and (method is None or m.cseq_method == method)
        )

    def to_tag_of(self, response: Received) -> str:
        match = re.search(r";tag=([^;\s>]+)", response.header("To"))
        return match.group(1) if match else ""


def register_request(registrar_port: int, user: str, contact_port: int, expires: int = 60) -> bytes:
    """A REGISTER for ``user`` at a loopback registrar, its contact on ``contact_port``."""
    return (
        f"REGISTER sip:127.0.0.1:{registrar_port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{contact_port};branch=z9hG4bK{uuid.uuid4().hex[:10]};rport\r\n"
        f"From: <sip:{user}@127.0.0.1:{registrar_port}>;tag={uuid.uuid4().hex[:6]}\r\n"
        f"To: <sip:{user}@127.0.0.1:{registrar_port}>\r\nCall-ID: {uuid.uuid4().hex}\r\nCSeq: 1 REGISTER\r\n"
        f"Contact: <sip:{user}@127.0.0.1:{contact_port}>\r\nExpires: {expires}\r\nMax-Forwards: 70\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()
