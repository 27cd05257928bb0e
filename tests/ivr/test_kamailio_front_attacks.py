"""Attacks on the shipped Kamailio front (issue 9, item 5), with Debian's kamailio on loopback.

- Registration hijack: without the engineer's password nobody (not even a node) can remove
  or replace the engineer's binding; the customer's next call still rings the real phone.
- Open relay: only the nodes (the dispatcher list's addresses) may call engineers; anyone
  else reaches only the hotline numbers, and a forged To-tag and Route set does not get
  an INVITE relayed to an arbitrary number.
- Flood: one source sending far beyond the rate is cut off (pike) while other callers and
  the nodes go on being served.

Attackers send from 127.0.0.2/127.0.0.3 where it matters: pike counts per source address.
"""

from __future__ import annotations

import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from .conftest import RecordingObserver, open_decision
from .kamailio_front import ENGINEER_PASSWORDS, KamailioFront
from .peers import (
    ENGINEER_SCENARIO,
    PROXIED_CALLER_SCENARIO,
    RtpReceiver,
    free_udp_port,
    free_udp_ports,
    start_sipp,
    stream_media,
)
from .sip_digest import Registration, authorization, challenge_params, exchange, register, status


@dataclass
class UdpPeer:
    """A loopback SIP endpoint that keeps what it receives; ``answer`` may reply to requests."""

    host: str = "127.0.0.1"
    answer: Callable[[bytes], bytes | None] | None = None
    received: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 21)
        self.sock.bind((self.host, 0))
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
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
            self.received.append(data)
            reply = self.answer(data) if self.answer else None
            if reply:
                self.sock.sendto(reply, source)

    def send(self, data: bytes, port: int) -> None:
        self.sock.sendto(data, ("127.0.0.1", port))

    def requests(self, method: str) -> list[bytes]:
        return [m for m in list(self.received) if m.startswith(method.encode() + b" ")]

    def replies_to(self, call_id: str) -> list[int]:
        return [status(m) for m in list(self.received)
                if m.startswith(b"SIP/2.0 ") and f"Call-ID: {call_id}\r\n".encode() in m]

    def wait_reply(self, call_id: str, timeout: float = 5.0) -> int:
        """The first final status code for ``call_id`` (0 if none within ``timeout``)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            final = [code for code in self.replies_to(call_id) if code >= 200]
            if final:
                return final[0]
            time.sleep(0.02)
        return 0

    def close(self) -> None:
        self._running = False
        self._thread.join(timeout=2)
        self.sock.close()


def call_id_of(message: bytes) -> str:
    match = re.search(rb"^Call-ID:\s*(\S+)", message, re.MULTILINE | re.IGNORECASE)
    return match.group(1).decode() if match else ""


def busy_answer(request: bytes) -> bytes | None:
    """A node that is busy: 486 to every INVITE (and 200 to the front's OPTIONS probes)."""
    if request.startswith(b"SIP/2.0") or request.startswith(b"ACK "):
        return None
    head = request.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    copied = [h for h in head[1:] if re.match(rb"(?i)(via|from|call-id|cseq):", h)]
    to = next(h for h in head if re.match(rb"(?i)to:", h))
    code = b"200 OK" if request.startswith(b"OPTIONS ") else b"486 Busy Here"
    return b"\r\n".join([b"SIP/2.0 " + code, *copied, to + b";tag=node1", b"Content-Length: 0", b"", b""])


def invite(front_port: int, ruri: str, from_port: int, from_host: str = "127.0.0.1",
           to_tag: str = "", routes: tuple[str, ...] = (), call_id: str = "") -> tuple[bytes, str]:
    """An INVITE (no body) to ``ruri`` sent to the front; returns it with its Call-ID."""
    call_id = call_id or uuid.uuid4().hex
    lines = [
        f"INVITE {ruri} SIP/2.0",
        f"Via: SIP/2.0/UDP {from_host}:{from_port};branch=z9hG4bK{uuid.uuid4().hex[:12]};rport",
        f"From: <sip:attacker@{from_host}:{from_port}>;tag={uuid.uuid4().hex[:6]}",
        f"To: <{ruri}>" + (f";tag={to_tag}" if to_tag else ""),
        f"Call-ID: {call_id}",
        "CSeq: 1 INVITE",
        f"Contact: <sip:attacker@{from_host}:{from_port}>",
        "Max-Forwards: 70",
        *(f"Route: {route}" for route in routes),
        "Content-Length: 0",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode(), call_id


@pytest.fixture
def front(tmp_path: Path) -> Iterator[KamailioFront]:
    front = KamailioFront(tmp_path)
    yield front
    front.stop()


@pytest.fixture
def peers() -> Iterator[Callable[..., UdpPeer]]:
    made: list[UdpPeer] = []

    def make(**kwargs) -> UdpPeer:  # noqa: ANN003
        made.append(UdpPeer(**kwargs))
        return made[-1]

    yield make
    for peer in made:
        peer.close()


def test_registration_hijack_is_refused_and_the_call_reaches_the_engineer(
        tmp_path: Path, make_hotline, speech: dict, front: KamailioFront, peers) -> None:
    attacker = peers(host="127.0.0.3")
    observer = RecordingObserver()
    hotline = make_hotline(open_decision(("张伟", f"sip:zhangwei@127.0.0.1:{front.port}")), observer)
    front.start([hotline.agent.port])

    engineer_rx = RtpReceiver()
    phone_port, phone_media = free_udp_port(), free_udp_ports(1)[0]
    phone = start_sipp(
        ENGINEER_SCENARIO.format(user="zhangwei", ring_ms=300, rx_port=engineer_rx.port, pt=0, codec="PCMU",
                                 media=stream_media(speech["e01.ulaw"], 0)),
        tmp_path / "phone", "phone", target=None, sip_port=phone_port, media_port=phone_media)
    try:
        # The engineer's phone registers with the engineer's password; keep the exchange for a replay.
        binding = Registration(front.port, "zhangwei", f"<sip:zhangwei@127.0.0.1:{phone_port}>")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind(("127.0.0.1", 0))
            via_port = sock.getsockname()[1]
            challenge = exchange(sock, front.port, binding.request(via_port))
            assert status(challenge) == 401, challenge
            credentials = authorization(challenge_params(challenge), "REGISTER", binding.uri, "zhangwei",
                                        ENGINEER_PASSWORDS["zhangwei"])
            authorized = binding.request(via_port, credentials)
            registered = exchange(sock, front.port, authorized)
            assert status(registered) == 200, registered

        attacker_contact = f"<sip:zhangwei@127.0.0.3:{attacker.port}>"
        attempts = {
            # Remove every binding, then put the attacker's address in: no credentials.
            "unregister all": register(Registration(front.port, "zhangwei", "*", expires=0), None,
                                       "127.0.0.3"),
            "attacker's contact": register(Registration(front.port, "zhangwei", attacker_contact), None,
                                           "127.0.0.3"),
            "wrong password": register(Registration(front.port, "zhangwei", attacker_contact), "123456",
                                       "127.0.0.3"),
            # Another engineer's valid credentials do not open zhangwei's account.
            "another engineer's password": register(
                Registration(front.port, "zhangwei", attacker_contact, from_user="lina"),
                ENGINEER_PASSWORDS["lina"], "127.0.0.3", auth_user="lina"),
            # The phone's captured Authorization header, replayed with the attacker's Contact.
            "replayed credentials": _replay(front.port, authorized, phone_port, attacker_contact),
        }
        refused = {name: status(reply) for name, reply in attempts.items()}
        assert refused == {"unregister all": 401, "attacker's contact": 401, "wrong password": 401,
                           "another engineer's password": 403, "replayed credentials": 401}, attempts

        # A customer calls: the node rings zhangwei through the front, and the real phone answers.
        caller_rx = RtpReceiver()
        caller_xml = PROXIED_CALLER_SCENARIO.format(
            called="hq", caller="13800138000", rx_port=caller_rx.port, pt=0, codec="PCMU",
            middle=stream_media(speech["c01.ulaw"], 0, 2500, 1500))
        caller = start_sipp(
            caller_xml,
            tmp_path / "caller", "caller", target=f"127.0.0.1:{front.port}", sip_port=free_udp_port(),
            media_port=free_udp_ports(1)[0])
        try:
            assert caller.wait(40) == 0, caller.output() + front.log_text()[-3000:]
        finally:
            caller.kill()
            caller_rx.close()
        assert phone.wait(15) == 0, phone.output()
        assert "engineer_answered" in observer.names(), observer.events
        assert attacker.requests("INVITE") == [], "the attacker's address must never be rung"
        assert engineer_rx.audio_packets(), "the real engineer's phone got the call's audio"
    finally:
        phone.kill()
        engineer_rx.close()


def _replay(front_port: int, authorized: bytes, phone_port: int, attacker_contact: str) -> bytes:
    """The phone's authorized REGISTER as a new request (new branch, so not a retransmission)
    with the attacker's Contact."""
    forged = authorized.replace(f"<sip:zhangwei@127.0.0.1:{phone_port}>".encode(), attacker_contact.encode())
    forged = re.sub(rb"branch=z9hG4bK\w+", b"branch=z9hG4bK" + uuid.uuid4().hex[:12].encode(), forged)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.3", 0))
        return exchange(sock, front_port, forged)


def test_only_nodes_call_engineers_and_nothing_is_relayed(front: KamailioFront, peers) -> None:
    node = peers(answer=busy_answer)
    phone = peers()
    gateway = peers()  # where a toll fraudster would like his INVITE to go
    outsider = peers(host="127.0.0.2")
    front.start([node.port])
    phone_binding = Registration(front.port, "zhangwei", f"<sip:zhangwei@127.0.0.1:{phone.port}>")
    assert status(register(phone_binding, ENGINEER_PASSWORDS["zhangwei"])) == 200
    # A node is trusted for its own user (what `[hotline] registrar` registers), never for an
    # engineer's account.
    for user, expected in (("zhangwei", 403), ("hotline", 200)):
        request = Registration(front.port, user, f"<sip:{user}@127.0.0.1:{node.port}>").request(node.port)
        node.send(request, front.port)
        assert node.wait_reply(call_id_of(request)) == expected, user

    front_route = f"<sip:127.0.0.1:{front.port};lr>"
    attempts = {
        "a registered engineer": (f"sip:zhangwei@127.0.0.1:{front.port}", "", ()),
        "an arbitrary number": ("sip:+8613900000000@127.0.0.1:" + str(front.port), "", ()),
        "an arbitrary domain": ("sip:+8613900000000@voip.example.net", "", ()),
        # The loose-route trick: a To-tag makes it look in-dialog, the Route set points on.
        "in-dialog to a gateway": (f"sip:+8613900000000@127.0.0.1:{gateway.port}", "forged", (front_route,)),
        "preloaded route to a gateway": (f"sip:+8613900000000@127.0.0.1:{front.port}", "forged",
                                         (f"<sip:127.0.0.1:{gateway.port};lr>",)),
        "in-dialog to the engineer's phone": (f"sip:zhangwei@127.0.0.1:{phone.port}", "forged",
                                              (front_route,)),
    }
    codes = {}
    for name, (ruri, to_tag, routes) in attempts.items():
        message, call_id = invite(front.port, ruri, outsider.port, "127.0.0.2", to_tag, routes)
        outsider.send(message, front.port)
        codes[name] = outsider.wait_reply(call_id)
    assert all(code in (403, 404) for code in codes.values()), codes
    assert gateway.received == [], "nothing may be relayed to the gateway"
    assert phone.requests("INVITE") == [], "an outsider must not ring an engineer"

    # What is allowed still works: the outsider's call to a hotline number reaches the node,
    # and the node's call to the engineer reaches the phone.
    message, call_id = invite(front.port, f"sip:hq@127.0.0.1:{front.port}", outsider.port, "127.0.0.2")
    outsider.send(message, front.port)
    assert outsider.wait_reply(call_id) == 486
    assert [call_id_of(m) for m in node.requests("INVITE")] == [call_id]
    message, call_id = invite(front.port, f"sip:zhangwei@127.0.0.1:{front.port}", node.port)
    node.send(message, front.port)
    deadline = time.monotonic() + 5
    while not phone.requests("INVITE") and time.monotonic() < deadline:
        time.sleep(0.02)
    assert [call_id_of(m) for m in phone.requests("INVITE")] == [call_id]


FLOOD = 300
FLOOD_REQUESTS = 20  # per FLOOD_WINDOW_S (2 s): pike blocks between 1 and 3 times that


def test_a_flood_from_one_source_is_cut_off_and_others_are_served(front: KamailioFront, peers) -> None:
    node = peers(answer=busy_answer)
    attacker = peers(host="127.0.0.2")
    front.start([node.port], {"FLOOD_REQUESTS": str(FLOOD_REQUESTS)})

    flood_ids = set()
    for _ in range(FLOOD):
        message, call_id = invite(front.port, f"sip:hq@127.0.0.1:{front.port}", attacker.port, "127.0.0.2")
        attacker.send(message, front.port)
        flood_ids.add(call_id)
    # A legitimate caller from another address is served during the flood.
    caller = peers()
    message, call_id = invite(front.port, f"sip:hq@127.0.0.1:{front.port}", caller.port)
    caller.send(message, front.port)
    assert caller.wait_reply(call_id, timeout=10) == 486, front.log_text()[-3000:]

    def reached_node() -> set[str]:
        return {call_id_of(m) for m in node.requests("INVITE")} & flood_ids

    # Wait until the front has dealt with the flood: the attacker's answered calls stop growing.
    settled, last, deadline = 0, -1, time.monotonic() + 30
    while time.monotonic() < deadline and settled < 10:
        count = len(reached_node())
        settled, last = (settled + 1 if count == last else 0), count
        time.sleep(0.1)
    passed = len(reached_node())
    assert 0 < passed <= 4 * FLOOD_REQUESTS, f"{passed} of {FLOOD} flood INVITEs reached the node"
    assert "PIKE - BLOCKing ip 127.0.0.2" in front.log_text()

    # The nodes are exempt: a node's burst beyond the limit is all answered (404: nobody registered).
    node_ids = []
    for _ in range(4 * FLOOD_REQUESTS):
        message, call_id = invite(front.port, f"sip:nobody@127.0.0.1:{front.port}", node.port)
        node.send(message, front.port)
        node_ids.append(call_id)
    assert [node.wait_reply(i) for i in node_ids] == [404] * len(node_ids)

    # Once the source slows down it is served again (pike unblocks after a quiet window).
    deadline, code = time.monotonic() + 30, 0
    while time.monotonic() < deadline and code != 486:
        message, call_id = invite(front.port, f"sip:hq@127.0.0.1:{front.port}", attacker.port, "127.0.0.2")
        attacker.send(message, front.port)
        code = attacker.wait_reply(call_id, timeout=1.5)
    assert code == 486, "the flooding address must be let in again once it is quiet"


def test_an_account_added_to_the_running_front_can_register(front: KamailioFront) -> None:
    front.start([free_udp_port()])
    newcomer = Registration(front.port, "wangfang", "<sip:wangfang@127.0.0.1:5999>")
    assert status(register(newcomer, "wf-New-31")) == 401
    table = front.accounts / "engineers"
    table.write_text(table.read_text() + "wangfang:wf-New-31\n")
    # db_text compares modification times in seconds: make the edit visibly newer.
    later = time.time() + 2
    os.utime(table, (later, later))
    assert status(register(newcomer, "wf-New-31")) == 200, front.log_text()[-2000:]
