"""REGISTER with RFC 2617 digest credentials, as an engineer's phone does at the Kamailio front.

Only what the tests need: qop=auth (or none), MD5, over UDP on loopback. The parts are
separate so attack tests can replay or tamper with a request.
"""

from __future__ import annotations

import hashlib
import re
import socket
import uuid
from dataclasses import dataclass, field


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()  # noqa: S324 - SIP digest is MD5 by definition


def challenge_params(reply: bytes) -> dict[str, str]:
    """The parameters of a 401's WWW-Authenticate: Digest header (realm, nonce, qop...)."""
    match = re.search(rb"^WWW-Authenticate:\s*Digest\s+(.*)$", reply, re.MULTILINE | re.IGNORECASE)
    if not match:
        raise ValueError("no digest challenge in: " + reply.decode(errors="replace")[:300])
    return {k: v.strip('"') for k, v in re.findall(r'(\w+)=("[^"]*"|[^,\s]+)', match.group(1).decode())}


def authorization(challenge: dict[str, str], method: str, uri: str, user: str, password: str,
                  nc: int = 1) -> str:
    """The Authorization header value answering ``challenge``."""
    realm, nonce = challenge["realm"], challenge["nonce"]
    ha1 = _md5(f"{user}:{realm}:{password}")
    ha2 = _md5(f"{method}:{uri}")
    fields = [f'username="{user}"', f'realm="{realm}"', f'nonce="{nonce}"',
              f'uri="{uri}"', "algorithm=MD5"]
    if "auth" in challenge.get("qop", "").split(","):
        cnonce, count = uuid.uuid4().hex[:16], f"{nc:08x}"
        response = _md5(f"{ha1}:{nonce}:{count}:{cnonce}:auth:{ha2}")
        fields += [f'response="{response}"', "qop=auth", f"nc={count}", f'cnonce="{cnonce}"']
    else:
        fields.append(f'response="{_md5(f"{ha1}:{nonce}:{ha2}")}"')
    return "Digest " + ", ".join(fields)


@dataclass
class Registration:
    """One phone's REGISTER dialog (same Call-ID, rising CSeq) towards a loopback registrar."""

    registrar_port: int
    user: str
    contact: str  # "<sip:zhangwei@127.0.0.1:5080>" or "*"
    expires: int = 60
    from_user: str = ""  # defaults to ``user``
    call_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    cseq: int = 0

    @property
    def uri(self) -> str:
        return f"sip:127.0.0.1:{self.registrar_port}"

    def request(self, via_port: int, authorization_value: str = "") -> bytes:
        self.cseq += 1
        aor = f"sip:{self.user}@127.0.0.1:{self.registrar_port}"
        lines = [
            f"REGISTER {self.uri} SIP/2.0",
            f"Via: SIP/2.0/UDP 127.0.0.1:{via_port};branch=z9hG4bK{uuid.uuid4().hex[:12]};rport",
            f"From: <sip:{self.from_user or self.user}@127.0.0.1:{self.registrar_port}>"
            f";tag={uuid.uuid4().hex[:6]}",
            f"To: <{aor}>",
            f"Call-ID: {self.call_id}",
            f"CSeq: {self.cseq} REGISTER",
            f"Contact: {self.contact}",
            f"Expires: {self.expires}",
            "Max-Forwards: 70",
        ]
        if authorization_value:
            lines.append(f"Authorization: {authorization_value}")
        return ("\r\n".join(lines) + "\r\nContent-Length: 0\r\n\r\n").encode()


def exchange(sock: socket.socket, port: int, message: bytes, timeout: float = 5.0) -> bytes:
    """Send ``message`` to the loopback ``port`` and return the first final reply ("" if none)."""
    sock.settimeout(timeout)
    sock.sendto(message, ("127.0.0.1", port))
    try:
        while True:
            reply = sock.recv(65535)
            if not reply.startswith(b"SIP/2.0 1"):
                return reply
    except TimeoutError:
        return b""


def register(registration: Registration, password: str | None, source: str = "127.0.0.1",
             auth_user: str = "") -> bytes:
    """REGISTER; on a 401 answer the challenge with ``password`` (None: do not) as ``auth_user``
    (default: the registered user). The final reply."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((source, 0))
        via_port = sock.getsockname()[1]
        reply = exchange(sock, registration.registrar_port, registration.request(via_port))
        if password is None or not reply.startswith(b"SIP/2.0 401"):
            return reply
        value = authorization(challenge_params(reply), "REGISTER", registration.uri,
                              auth_user or registration.user, password)
        return exchange(sock, registration.registrar_port, registration.request(via_port, value))


def status(reply: bytes) -> int:
    """The status code of a SIP reply (0 for none)."""
    match = re.match(rb"SIP/2\.0 (\d{3})", reply)
    return int(match.group(1)) if match else 0
