"""The SIP user agent: one UDP socket, a receive thread, a retransmission tick, the legs.

Built on pyVoIP's ``SIPClient`` (tags, Call-IDs, the REGISTER request) with these fixes:

- Defect 1: ``start()`` always REGISTERed and blocked up to 30 s, swallowing INVITEs that
  arrived meanwhile, and stopped the phone after repeated failures. We register only when
  a registrar is configured, without holding the receive loop, and never stop on failure.
- Defect 2: every reply went to the configured server. Each response here goes to the
  source address of its request.
- Malformed datagrams (garbage, missing headers, huge) get a 400 when there is enough to
  answer, otherwise a rate-limited log line; either way calls in progress are untouched.

No packet can take the node out of service: every send is guarded, both long-lived loops
catch per message and per leg and run under a supervisor that restarts them, the call
table is bounded (``max_calls``, ``max_calls_per_source``: beyond it a 503 with
Retry-After and no thread, socket or leg spent), and destinations pass ``AddressPolicy``.
"""

from __future__ import annotations

import logging
import select
import socket
import threading
import time
import uuid
from collections.abc import Callable

from ._pyvoip import SIP
from .addresses import AddressPolicy, AddressRefused, parse_networks
from .legs import MIN_SE_S, InboundLeg, Leg, LegState, OutboundLeg, session_interval_refusal
from .log_limits import RateLimitedLog
from .messages import (
    MalformedSipError,
    TolerantSIPMessage,
    build_bad_request,
    build_response,
    describe,
    host_port_of,
    new_tag,
    parse_sip,
)

log = logging.getLogger(__name__)
limited = RateLimitedLog(log)

TICK_S = 0.05
ENDED_LEG_KEPT_S = 40.0  # long enough to absorb retransmissions after a call ended
REGISTER_EXPIRES_S = 120
AGENT_STOPPING = "agent stopping"  # the end reason of legs hung up because the node stops
RETRY_AFTER_S = 30  # what a refused caller (or the Kamailio front) is told to wait
SUPERVISOR_RESTART_DELAY_S = 0.2


class RegistrationError(RuntimeError):
    pass


class DesklineSIPClient(SIP.SIPClient):
    """pyVoIP's SIPClient with its socket loop and dispatch replaced (defects 1 and 2)."""

    def __init__(
        self, agent: SipUserAgent, bind_ip: str, port: int, registrar: tuple[str, int] | None, username: str
    ):
        server, server_port = registrar or (bind_ip, port)
        super().__init__(server, server_port, username, "", phone=None, myIP=bind_ip, myPort=port)
        self.agent = agent
        self.registrar = registrar
        self.register_call_id = ""
        self.registered = threading.Event()
        self.registration_error = ""
        self._next_register = 0.0
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        if self.NSD:
            raise RuntimeError("the SIP user agent is already started")
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.s.bind((self.myIP, self.myPort))
        self.myPort = self.s.getsockname()[1]
        self.out = self.s
        self.NSD = True
        for target, name in ((self.recv_loop, "SIP receive"), (self.tick_loop, "SIP timers")):
            thread = threading.Thread(
                target=self._supervise, args=(target, name), name=f"{name} :{self.myPort}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        if self.registrar:  # defect 1: only with a registrar, and without blocking the receive loop
            self.register()

    def stop(self) -> None:
        if not self.NSD:
            return
        self.NSD = False
        for thread in self._threads:
            thread.join(timeout=2)
        self._close_sockets()

    def _supervise(self, loop: Callable[[], None], name: str) -> None:
        """Run ``loop`` for as long as the agent runs; if it ever returns or raises, start it again."""
        while self.NSD:
            try:
                loop()
            except BaseException:  # noqa: BLE001 - this thread must outlive anything a packet causes
                log.exception("SIP %s loop failed: restarting it", name)
            if self.NSD:
                self.agent.stats["loop_restarts"] += 1
                time.sleep(SUPERVISOR_RESTART_DELAY_S)

    def register(self) -> bool:
        if self.registrar is not None:
            # Resolved at every REGISTER (a registrar named by DNS may move); responses are
            # accepted only from the address we sent to.
            host, port = self.registrar
            self.registrar = (socket.gethostbyname(host), port)
        request = self.gen_first_response()
        self.register_call_id = request.split("Call-ID: ", 1)[1].split("\r\n", 1)[0]
        self.send(request.encode(), self.registrar or (self.server, self.port))
        self._next_register = time.monotonic() + REGISTER_EXPIRES_S * 0.8
        return True

    def send(self, data: bytes, addr: tuple[str, int]) -> None:
        # Never raises: a destination that cannot be sent to costs a log line, not a thread.
        try:
            self.s.sendto(data, addr)
        except Exception as e:  # noqa: BLE001 - OSError, and OverflowError/TypeError for odd addresses
            self.agent.stats["send_failed"] += 1
            if self.NSD:
                limited.warning("send", "cannot send SIP to %r: %s", addr, e)

    def recv_loop(self) -> None:
        while self.NSD:
            try:
                ready, _, _ = select.select([self.s], [], [], 0.1)
                if not ready:
                    continue
                data, source = self.s.recvfrom(65535)
            except (OSError, ValueError):
                if self.NSD:
                    log.exception("SIP socket failed")
                return
            try:
                self.handle_datagram(data, source)
            except Exception:  # one bad message must never stop the loop that serves every call
                self.agent.stats["handler_errors"] += 1
                limited.warning("handler", "error handling a datagram from %s:%s", *source, exc_info=True)

    def tick_loop(self) -> None:
        while self.NSD:
            time.sleep(TICK_S)
            now = time.monotonic()
            self.agent.tick(now)
            if self.registrar and now >= self._next_register:
                try:
                    self.register()
                except Exception:  # noqa: BLE001 - a failed re-REGISTER is retried next period
                    limited.warning("register", "re-REGISTER failed", exc_info=True)

    def handle_datagram(self, data: bytes, source: tuple[str, int]) -> None:
        if not data.strip(b"\r\n\x00 "):
            return  # keep-alive
        if not self.agent.accepts_source(source):
            self.agent.stats["foreign_dropped"] += 1
            limited.info("foreign", "dropped SIP from %s:%s (own port or outside allowed networks)", *source)
            return
        try:
            message = parse_sip(data)
        except MalformedSipError as e:
            self.agent.stats["malformed"] += 1
            partial = e.message
            if partial is not None and partial.is_request and partial.method != "ACK":
                self.send(build_bad_request(partial, e.reason, e.status), source)
                self.agent.stats["bad_request_sent"] += 1
                limited.warning(
                    "malformed-answered", "%d to %s:%s: %s", e.status, source[0], source[1], e.reason
                )
            else:
                limited.warning(
                    "malformed-dropped",
                    "dropped a datagram of %d bytes from %s:%s: %s",
                    len(data),
                    source[0],
                    source[1],
                    e.reason,
                )
            return
        log.debug("%s from %s:%s", describe(message), *source)
        self.parse_message(message, source)

    def parse_message(self, message: TolerantSIPMessage, source: tuple[str, int]) -> None:  # type: ignore[override]
        if not message.is_request:
            if message.cseq_method == "REGISTER":
                # Only the registrar's answer to our own REGISTER counts (anyone can send "200 REGISTER").
                if (
                    self.registrar
                    and message.headers["Call-ID"] == self.register_call_id
                    and source == self.registrar
                ):
                    self._on_register_response(message)
                else:
                    limited.info("register-forged", "ignored a REGISTER response from %s:%s", *source)
            else:
                self.agent.route_response(message, source)
            return
        self.agent.route_request(message, source)

    def _on_register_response(self, response: TolerantSIPMessage) -> None:
        if response.status_code == 200:
            self.registered.set()
            self.registration_error = ""
        elif response.status_code >= 300:
            self.registration_error = f"{response.status_code} {response.heading.decode(errors='replace')}"
            log.error("registrar %s:%s refused REGISTER: %s", self.server, self.port, self.registration_error)


class SipUserAgent:
    """Answers incoming calls and places outgoing ones. Nothing else in Deskline sees pyVoIP.

    ``registrar`` is ``"host:port"`` of a registrar/proxy (e.g. Kamailio) to REGISTER with as
    ``user``; without it the agent works with static addresses only.
    """

    def __init__(
        self,
        bind_ip: str = "127.0.0.1",
        port: int = 5060,
        registrar: str | None = None,
        user: str = "hotline",
        max_latency_s: float = 0.2,
        max_calls: int = 50,
        max_calls_per_source: int = 10,
        trusted_sources: tuple[str, ...] = (),
        allowed_networks: tuple[str, ...] = (),
        session_expires_s: int = 1800,
        min_session_expires_s: int = MIN_SE_S,
    ):
        if bind_ip in ("0.0.0.0", ""):
            raise ValueError("bind_ip must be a real address: it goes into the SDP")
        if max_calls < 1 or max_calls_per_source < 1:
            raise ValueError("max_calls and max_calls_per_source must be at least 1")
        self.bind_ip = bind_ip
        self.user = user
        self.max_latency_s = max_latency_s
        self.max_calls = max_calls
        self.max_calls_per_source = max_calls_per_source
        # Sources that carry many callers' calls (the Kamailio front): exempt from the per-source cap.
        self.trusted_sources = set(trusted_sources)
        self.session_expires_s = session_expires_s
        self.min_session_expires_s = min_session_expires_s
        self.policy = AddressPolicy(bind_ip, self._own_ports, parse_networks(allowed_networks))
        registrar_addr = host_port_of(f"sip:{registrar}") if registrar else None
        self.sip = DesklineSIPClient(self, bind_ip, port, registrar_addr, user)
        self.legs: dict[str, Leg] = {}
        self._ended_at: dict[str, float] = {}
        self._legs_lock = threading.Lock()
        self._incoming_handler: Callable[[InboundLeg], None] | None = None
        self.stats = {
            "malformed": 0,
            "bad_request_sent": 0,
            "calls_in": 0,
            "calls_out": 0,
            "refused_busy": 0,
            "refused_address": 0,
            "send_failed": 0,
            "handler_errors": 0,
            "tick_errors": 0,
            "loop_restarts": 0,
            "foreign_dropped": 0,
        }

    # -- Transport for the legs ---------------------------------------------------------
    @property
    def local_host(self) -> str:
        return self.bind_ip

    @property
    def local_port(self) -> int:
        return self.sip.myPort

    @property
    def port(self) -> int:
        return self.sip.myPort

    def send(self, data: bytes, addr: tuple[str, int]) -> None:
        self.sip.send(data, addr)

    def _own_ports(self) -> set[int]:
        ports = {self.sip.myPort}
        for leg in list(self.legs.values()):
            ports |= leg.media_ports()
        return ports

    def accepts_source(self, source: tuple[str, int]) -> bool:
        """Datagrams from our own sockets (a spoofed loop) or outside ``allowed_networks`` are dropped."""
        if source[0] == self.bind_ip and source[1] in self._own_ports():
            return False
        return self.policy.permits_source(source[0])

    def live_inbound(self, source_ip: str | None = None) -> int:
        """Inbound calls not ended yet, in all or from one source address."""
        return sum(
            1
            for leg in list(self.legs.values())
            if isinstance(leg, InboundLeg)
            and leg.state != LegState.ENDED
            and (source_ip is None or leg.source[0] == source_ip)
        )

    # -- lifecycle ------------------------------------------------------------------------
    def start(self, registration_timeout_s: float = 5.0) -> None:
        self.sip.start()
        log.info("SIP user agent on %s:%s", self.bind_ip, self.port)
        if self.sip.registrar and not self.sip.registered.wait(registration_timeout_s):
            error = self.sip.registration_error or f"no answer in {registration_timeout_s:.0f} s"
            self.stop()
            raise RegistrationError(f"cannot register at {self.sip.server}:{self.sip.port}: {error}")

    def stop(self) -> None:
        for leg in list(self.legs.values()):
            if leg.state != LegState.ENDED:
                try:
                    leg.hangup(AGENT_STOPPING)
                except Exception:  # noqa: BLE001 - every other leg still gets its BYE
                    log.exception("hanging up %s at stop failed", leg.call_id)
        self.sip.stop()

    def __enter__(self) -> SipUserAgent:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def on_incoming_call(self, handler: Callable[[InboundLeg], None]) -> None:
        """``handler(leg)`` runs in its own thread for each new call, while the caller hears ringing."""
        self._incoming_handler = handler

    def place_call(self, uri: str, from_user: str | None = None, display_name: str = "") -> OutboundLeg:
        """Send an INVITE to ``uri`` (``sip:user@host:port``) and return the ringing leg at once."""
        host, port = host_port_of(uri)  # a clear ValueError for a bad address, before anything is sent
        try:
            # Resolved once, here in the caller's thread: the timer thread never waits on DNS.
            destination = (socket.gethostbyname(host), port)
        except (OSError, UnicodeError) as e:
            raise ValueError(f"cannot resolve {host!r} in {uri}: {e}") from None
        call_id = f"{uuid.uuid4().hex}@{self.bind_ip}"
        leg = OutboundLeg(
            self,
            uri,
            call_id,
            from_user=from_user or self.user,
            destination=destination,
            max_latency_s=self.max_latency_s,
            display_name=display_name,
        )
        with self._legs_lock:
            self.legs[call_id] = leg
        leg.on_end(self._leg_ended)
        self.stats["calls_out"] += 1
        leg.send_invite()
        return leg

    # -- dispatch from the receive thread ---------------------------------------------
    def route_request(self, request: TolerantSIPMessage, source: tuple[str, int]) -> None:
        leg = self.legs.get(request.headers["Call-ID"])
        if leg is not None:
            leg.handle_request(request, source)
        elif request.method == "INVITE" and not request.headers["To"]["tag"]:
            self._new_call(request, source)
        elif request.method == "OPTIONS":
            self.send(build_response(request, 200, "OK"), source)
        elif request.method == "ACK":
            return
        elif request.method in ("BYE", "CANCEL", "INVITE"):
            self.send(build_response(request, 481, "Call/Transaction Does Not Exist"), source)
        else:
            self.send(build_response(request, 501, "Not Implemented"), source)

    def route_response(self, response: TolerantSIPMessage, source: tuple[str, int]) -> None:
        leg = self.legs.get(response.headers["Call-ID"])
        if isinstance(leg, OutboundLeg):
            leg.handle_response(response, source)
        elif leg is not None and response.cseq_method == "BYE":
            leg._retransmissions.pop("BYE", None)
        else:
            log.debug("response for an unknown call %s", response.headers["Call-ID"])

    def _capacity_refusal(self, source: tuple[str, int]) -> str:
        """Why a new call from ``source`` cannot be taken now ("" if it can)."""
        if self.live_inbound() >= self.max_calls:
            return f"this node is at its limit of {self.max_calls} calls"
        if (
            source[0] not in self.trusted_sources
            and self.live_inbound(source[0]) >= self.max_calls_per_source
        ):
            return f"{source[0]} already has {self.max_calls_per_source} calls"
        return ""

    def _new_call(self, invite: TolerantSIPMessage, source: tuple[str, int]) -> None:
        if self._incoming_handler is None:
            self.send(build_response(invite, 486, "Busy Here"), source)
            return
        refusal = self._capacity_refusal(source)
        if refusal:
            # Before any leg, socket or thread exists: a flood costs one datagram each way.
            self.stats["refused_busy"] += 1
            self.send(
                build_response(
                    invite,
                    503,
                    "Service Unavailable",
                    to_tag=new_tag(),
                    extra=[f"Retry-After: {RETRY_AFTER_S}", f'Warning: 399 deskline "{refusal}"'],
                ),
                source,
            )
            limited.warning("busy", "INVITE from %s:%s refused with 503: %s", source[0], source[1], refusal)
            return
        if not invite.has_sdp:
            self.send(
                build_response(
                    invite,
                    488,
                    "Not Acceptable Here",
                    extra=['Warning: 399 deskline "an SDP offer is required"'],
                ),
                source,
            )
            return
        too_small = session_interval_refusal(invite, self.min_session_expires_s)
        if too_small:
            status, reason = (
                (422, "Session Interval Too Small") if "below" in too_small else (400, "Bad Request")
            )
            self.send(
                build_response(
                    invite,
                    status,
                    reason,
                    to_tag=new_tag(),
                    extra=[f"Min-SE: {self.min_session_expires_s}", f'Warning: 399 deskline "{too_small}"'],
                ),
                source,
            )
            return
        try:
            leg = InboundLeg(self, invite, source, max_latency_s=self.max_latency_s)
        except (MalformedSipError, ValueError) as e:
            if isinstance(e, AddressRefused):
                self.stats["refused_address"] += 1
            limited.warning("refused", "INVITE %s refused: %s", invite.headers["Call-ID"], e)
            self.send(
                build_response(
                    invite, 488, "Not Acceptable Here", extra=[f'Warning: 399 deskline "{str(e)[:80]}"']
                ),
                source,
            )
            return
        with self._legs_lock:
            self.legs[leg.call_id] = leg
        leg.on_end(self._leg_ended)
        self.stats["calls_in"] += 1
        thread = threading.Thread(
            target=self._run_handler, args=(leg,), name=f"call {leg.call_id[:12]}", daemon=True
        )
        thread.start()

    def _run_handler(self, leg: InboundLeg) -> None:
        assert self._incoming_handler is not None
        try:
            self._incoming_handler(leg)
        except Exception:
            log.exception("call handler failed for %s", leg.call_id)
        finally:
            if leg.state != LegState.ENDED:
                try:
                    leg.hangup("handler finished")
                except Exception:  # noqa: BLE001 - logged; the leg is ended below regardless
                    log.exception("hangup after the handler failed for %s", leg.call_id)
                    leg.force_end("handler finished")

    def _leg_ended(self, leg: Leg) -> None:
        self._ended_at[leg.call_id] = time.monotonic()

    def tick(self, now: float) -> None:
        for call_id, leg in list(self.legs.items()):
            try:
                leg.tick(now)
            except Exception:  # noqa: BLE001 - one leg's failure must not stop every other leg's timers
                self.stats["tick_errors"] += 1
                limited.warning("tick", "timer of leg %s failed: ending it", call_id, exc_info=True)
                leg.force_end("timer failed")
            ended = self._ended_at.get(call_id)
            if ended is not None and now - ended > ENDED_LEG_KEPT_S:
                with self._legs_lock:
                    self.legs.pop(call_id, None)
                    self._ended_at.pop(call_id, None)
