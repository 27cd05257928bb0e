"""Call legs: one SIP dialog plus its RTP stream, as the rest of Deskline sees a call.

pyVoIP's ``VoIPCall`` is replaced here because its signalling paths carry defects 2, 4, 6
and 10: ``answer()`` sends to the configured server instead of the caller (2), a
cancelled call can still be answered (4), ``renegotiate()`` restarts RTP (6), the 200 OK
is sent once and never retransmitted and ``hangup()`` sends a BYE with the caller's Via
(10). Media stays pyVoIP's RTPClient (see ``media.py``).

Audio crosses this boundary as numpy int16 at 8 kHz in 20 ms frames.
"""

from __future__ import annotations

import enum
import logging
import queue
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from .addresses import AddressPolicy
from .media import FRAME_BYTES, FRAME_SAMPLES, PacedRTPClient, bind_media_socket, codecs_from_sdp
from .messages import (
    Dialog,
    MalformedSipError,
    TolerantSIPMessage,
    build_response,
    host_port_of,
    media_of,
    new_branch,
    new_tag,
    sdp_offer_or_answer,
    uri_of,
    user_of,
)

log = logging.getLogger(__name__)

T1 = 0.5  # RFC 3261 timer T1
T2 = 4.0
TRANSACTION_TIMEOUT = 64 * T1


class LegState(enum.Enum):
    DIALING = "dialing"  # outbound INVITE sent, no provisional response yet
    RINGING = "ringing"  # inbound not answered yet, or outbound got 180/183
    ANSWERED = "answered"
    ENDED = "ended"


class LegStateError(RuntimeError):
    """The leg is not in a state where that action makes sense (e.g. answering a cancelled call)."""


class Transport(Protocol):
    local_host: str
    local_port: int
    policy: AddressPolicy
    session_expires_s: int
    min_session_expires_s: int

    def send(self, data: bytes, addr: tuple[str, int]) -> None: ...


MIN_SE_S = 90  # RFC 4028 4: the smallest session interval anyone may ask for


def session_interval_refusal(invite: TolerantSIPMessage, min_se_s: int = MIN_SE_S) -> str:
    """Why an INVITE's Session-Expires cannot be accepted ("" if it can, or if it has none)."""
    value = invite.raw_headers.get("Session-Expires", "")
    if not value:
        return ""
    interval = value.split(";")[0].strip()
    if not interval.isdigit() or len(interval) > 9:
        return f"Session-Expires is not a number of seconds: {value[:30]!r}"
    if int(interval) < min_se_s:
        return f"Session-Expires {interval} is below Min-SE {min_se_s}"
    return ""


@dataclass
class Retransmission:
    data: bytes
    addr: tuple[str, int]
    due: float
    interval: float
    deadline: float
    cap: float = T2


class Leg:
    """One side of a call. Thread-safe; signalling arrives on the agent's receive thread."""

    direction = "?"

    def __init__(self, transport: Transport, dialog: Dialog, remote_uri: str, max_latency_s: float):
        self.transport = transport
        self.dialog = dialog
        self.call_id = dialog.call_id
        self.remote_uri = remote_uri
        self.state = LegState.DIALING
        self.end_reason = ""
        self.final_status: int | None = None
        self.timings: dict[str, float] = {}  # event name -> time.monotonic()
        self.ended = threading.Event()
        self.answered = threading.Event()
        self.dtmf: queue.Queue[str] = queue.Queue()
        self._dtmf_listeners: list[Callable[[str], None]] = []
        self._end_listeners: list[Callable[[Leg], None]] = []
        self.rtp: PacedRTPClient | None = None
        self.max_latency_s = max_latency_s
        self.session_id = random.randint(1000, 10**9)
        self.sdp_version = 1
        self._lock = threading.RLock()
        self._retransmissions: dict[str, Retransmission] = {}
        # Where in-dialog requests go (``in_dialog_destination``): fixed when the dialog is
        # set up, from validated addresses only.
        self.peer_addr: tuple[str, int] = ("", 0)
        self.session_interval_s: int | None = None  # RFC 4028, when the peer refreshes
        self._session_deadline: float | None = None
        self._mark("created")

    # -- what the rest of Deskline uses ------------------------------------------------
    @property
    def codec(self) -> str:
        return self.rtp.codec_name if self.rtp else ""

    @property
    def remote_user(self) -> str:
        return user_of(self.remote_uri)

    def on_dtmf(self, listener: Callable[[str], None]) -> None:
        self._dtmf_listeners.append(listener)

    def on_end(self, listener: Callable[[Leg], None]) -> None:
        self._end_listeners.append(listener)
        if self.ended.is_set():
            listener(self)

    def read_frame(self) -> np.ndarray | None:
        """The next 20 ms received (silence if nothing arrived), or None once the leg ended."""
        if self.state == LegState.ENDED:
            return None
        if self.rtp is None or self.state != LegState.ANSWERED:
            return np.zeros(FRAME_SAMPLES, dtype=np.int16)
        return np.frombuffer(self.rtp.read(FRAME_BYTES), dtype=np.int16).copy()

    def write(self, pcm: np.ndarray) -> None:
        """Queue int16 8 kHz mono audio to send; ignored unless the leg is answered."""
        samples = np.asarray(pcm)
        if samples.dtype != np.int16 or samples.ndim != 1:
            raise ValueError(
                f"write() wants 1-D int16 samples, got {samples.dtype} with shape {samples.shape}"
            )
        if self.rtp is not None and self.state == LegState.ANSWERED:
            self.rtp.write(samples.tobytes())

    def queued_output_s(self) -> float:
        return self.rtp.pmout.pending() / 2 / 8000 if self.rtp else 0.0

    def flush_output(self) -> float:
        """Drop audio queued but not yet sent (barge-in); returns the seconds dropped."""
        return self.rtp.pmout.discard_pending() / 2 / 8000 if self.rtp else 0.0

    def send_dtmf(self, digit: str) -> None:
        if self.rtp is None or self.state != LegState.ANSWERED:
            raise LegStateError("DTMF needs an answered leg")
        self.rtp.send_dtmf(digit)

    def wait_answered(self, timeout: float) -> bool:
        """True once answered; False on timeout or when the leg ended first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.answered.wait(0.02):
                return True
            if self.ended.is_set():
                return False
        return self.answered.is_set()

    def hangup(self, reason: str = "local hangup") -> None:
        raise NotImplementedError

    def force_end(self, reason: str) -> None:
        """End the leg without signalling (its signalling failed): media stops, listeners run."""
        with self._lock:
            self._retransmissions.clear()
        self._end(reason)

    def media_ports(self) -> set[int]:
        """Local UDP ports of this leg's media (never a destination for anything we send)."""
        return {self.rtp.inPort} if self.rtp is not None else set()

    @property
    def last_rtp_at(self) -> float | None:
        """time.monotonic() of the last RTP packet accepted from the peer (None: none yet)."""
        return self.rtp.last_packet_at if self.rtp is not None else None

    # -- shared machinery ------------------------------------------------------------
    def _mark(self, event: str) -> None:
        self.timings.setdefault(event, time.monotonic())

    def _request_addr(self) -> tuple[str, int]:
        return self.peer_addr

    def _allowed(self, target: tuple[str, int], fallback: tuple[str, int]) -> tuple[str, int]:
        """``target`` if we may send there (an IP literal the policy accepts), else ``fallback``."""
        try:
            return self.transport.policy.check(*target, "in-dialog destination")
        except ValueError as e:
            log.info("leg %s: %s; in-dialog requests go to %s:%s", self.call_id, e, *fallback)
            return fallback

    def _schedule(self, key: str, data: bytes, addr: tuple[str, int], cap: float = T2) -> None:
        now = time.monotonic()
        self._retransmissions[key] = Retransmission(data, addr, now + T1, T1, now + TRANSACTION_TIMEOUT, cap)

    def tick(self, now: float) -> None:
        """Called every ~50 ms by the agent: retransmit what is still unanswered over UDP."""
        if (
            self._session_deadline is not None
            and now >= self._session_deadline
            and self.state == LegState.ANSWERED
        ):
            # RFC 4028 10: no refresh in time, the session is over; say so to the peer.
            log.warning(
                "leg %s: session timer (%s s) expired without a refresh",
                self.call_id,
                self.session_interval_s,
            )
            self._session_deadline = None
            self.hangup("session timer expired")
            return
        with self._lock:
            for key, r in list(self._retransmissions.items()):
                if now >= r.deadline:
                    del self._retransmissions[key]
                    self._on_timeout(key)
                elif now >= r.due:
                    self.transport.send(r.data, r.addr)
                    r.interval = min(r.interval * 2, r.cap)
                    r.due = now + r.interval

    def _on_timeout(self, key: str) -> None:
        log.info("leg %s: %s timed out", self.call_id, key)

    def _on_dtmf(self, digit: str) -> None:
        self.dtmf.put(digit)
        for listener in self._dtmf_listeners:
            listener(digit)

    def _start_media(self, remote_ip: str, remote_port: int, offer: dict[int, str], sock=None) -> None:  # noqa: ANN001 - a socket.socket or None
        remote_ip, remote_port = self.transport.policy.check(remote_ip, remote_port, "SDP media address")
        self.rtp = PacedRTPClient(
            codecs_from_sdp(offer),
            self.transport.local_host,
            remote_ip,
            remote_port,
            dtmf=self._on_dtmf,
            max_latency_s=self.max_latency_s,
            sock=sock,
        )

    def _our_sdp(self) -> str:
        assert self.rtp is not None
        return sdp_offer_or_answer(
            self.session_id,
            self.sdp_version,
            self.transport.local_host,
            self.rtp.inPort,
            {self.rtp.preference_pt: self.rtp.codec_name},
            self.rtp.event_pt,
        )

    def _end(self, reason: str, status: int | None = None) -> None:
        with self._lock:
            if self.state == LegState.ENDED:
                return
            self.state = LegState.ENDED
            self.end_reason = reason
            if status is not None:
                self.final_status = status
            self._mark("ended")
        if self.rtp is not None:
            self.rtp.stop()
        self.ended.set()
        log.info("leg %s (%s %s) ended: %s", self.call_id, self.direction, self.remote_uri, reason)
        for listener in self._end_listeners:
            try:
                listener(self)
            except Exception:  # a listener must not stop the others
                log.exception("end listener failed for %s", self.call_id)

    def _send_bye(self) -> None:
        bye = self.dialog.request("BYE")
        addr = self._request_addr()
        self.transport.send(bye, addr)
        self._schedule("BYE", bye, addr)

    def handle_request(self, request: TolerantSIPMessage, source: tuple[str, int]) -> None:
        """In-dialog requests common to both directions: BYE, re-INVITE, ACK."""
        method = request.method
        if method == "BYE":
            self.transport.send(build_response(request, 200, "OK"), source)
            self._end("remote hangup")
        elif method == "INVITE":
            self._handle_reinvite(request, source)
        elif method == "ACK":
            self._retransmissions.pop("200", None)
            self._mark("acked")
            if self.rtp is not None:
                self.rtp.allow_sending()
        elif method == "CANCEL":  # too late to cancel: the INVITE already got its final answer
            self.transport.send(build_response(request, 200, "OK"), source)
        elif method == "UPDATE" and self.state == LegState.ANSWERED and not request.has_sdp:
            # RFC 4028 session refresh without a new offer (we do not renegotiate by UPDATE).
            self._refresh_session(request)
            self.transport.send(
                build_response(
                    request,
                    200,
                    "OK",
                    to_tag=self.dialog.local_tag,
                    extra=[self._contact(), *self._session_headers()],
                ),
                source,
            )
        elif method == "UPDATE":
            self.transport.send(
                build_response(
                    request,
                    488 if request.has_sdp else 481,
                    "Not Acceptable Here" if request.has_sdp else "Call/Transaction Does Not Exist",
                ),
                source,
            )
        else:
            self.transport.send(build_response(request, 501, "Not Implemented"), source)

    # -- RFC 4028 session timers: the peer refreshes, we answer and watch the deadline --
    def _negotiate_session(self, request: TolerantSIPMessage) -> None:
        value = request.raw_headers.get("Session-Expires", "")
        supported = request.raw_headers.get("Supported", "") + "," + request.raw_headers.get("Require", "")
        if not value or "timer" not in [s.strip() for s in supported.split(",")]:
            return  # no timer offered, or a UAC that cannot refresh: inactivity limits cover it
        asked = int(value.split(";")[0].strip())
        min_se = request.raw_headers.get("Min-Se", "").split(";")[0].strip()
        floor = max(int(min_se) if min_se.isdigit() else 0, self.transport.min_session_expires_s)
        # We may shorten the interval (RFC 4028 9), never below what the request allows.
        self.session_interval_s = min(asked, max(self.transport.session_expires_s, floor))

    def _refresh_session(self, request: TolerantSIPMessage | None = None) -> None:
        if request is not None and request.raw_headers.get("Session-Expires"):
            interval = request.raw_headers["Session-Expires"].split(";")[0].strip()
            if interval.isdigit() and self.session_interval_s is not None:
                self.session_interval_s = max(int(interval), 1)
        if self.session_interval_s is not None:
            interval = self.session_interval_s
            self._session_deadline = time.monotonic() + interval - min(32, interval / 3)

    def _session_headers(self) -> list[str]:
        if self.session_interval_s is None:
            return []
        return [f"Session-Expires: {self.session_interval_s};refresher=uac", "Require: timer"]

    def _handle_reinvite(self, request: TolerantSIPMessage, source: tuple[str, int]) -> None:
        # Defect 6: pyVoIP restarts RTP here and a second sender doubles the packet rate.
        # We only follow a changed remote address and answer with our unchanged session.
        if self.state != LegState.ANSWERED or self.rtp is None:
            self.transport.send(build_response(request, 491, "Request Pending"), source)
            return
        if request.has_sdp:
            try:
                ip, port, _ = media_of(request)
                self.rtp.retarget(*self.transport.policy.check(ip, port, "SDP media address"))
            except (MalformedSipError, ValueError) as e:
                self.transport.send(build_response(request, 488, "Not Acceptable Here"), source)
                log.info("re-INVITE on %s refused: %s", self.call_id, e)
                return
        self._refresh_session(request)
        self.sdp_version += 1
        ok = build_response(
            request,
            200,
            "OK",
            to_tag=self.dialog.local_tag,
            extra=[self._contact(), *self._session_headers()],
            body=self._our_sdp(),
        )
        self.transport.send(ok, source)
        self._schedule("200", ok, source)

    def _contact(self) -> str:
        return f"Contact: <sip:deskline@{self.transport.local_host}:{self.transport.local_port}>"


class InboundLeg(Leg):
    """A call someone placed to us. Created on INVITE; the app answers or hangs up."""

    direction = "inbound"

    def __init__(
        self,
        transport: Transport,
        invite: TolerantSIPMessage,
        source: tuple[str, int],
        max_latency_s: float = 0.2,
    ):
        local_tag = new_tag()
        dialog = Dialog(
            call_id=invite.headers["Call-ID"],
            local_uri=invite.raw_headers["To"].split(";tag=")[0],
            local_tag=local_tag,
            remote_uri=invite.raw_headers["From"].split(";tag=")[0],
            remote_tag=invite.headers["From"]["tag"],
            remote_target=uri_of(invite.headers["Contact"]),
            local_host=transport.local_host,
            local_port=transport.local_port,
            local_cseq=random.randint(1, 10000),
            route_set=invite_record_routes(invite),
        )
        super().__init__(transport, dialog, uri_of(invite.raw_headers["From"]), max_latency_s)
        self.invite = invite
        self.source = source  # defect 2: every response goes back where the INVITE came from
        self.caller = user_of(self.remote_uri)
        self.called = user_of(invite.request_uri)
        self.state = LegState.RINGING
        ip, port, offer = media_of(invite)
        self._start_media(ip, port, offer)
        self._negotiate_session(invite)
        target = host_port_of(dialog.route_set[0] if dialog.route_set else dialog.remote_target)
        # A Contact elsewhere than the INVITE's source is NAT or an attempt to aim our BYE at a
        # third party: either way the source is where the caller is. With a route set the
        # first hop is the proxy the INVITE came from.
        self.peer_addr = (
            source if dialog.route_set or target[0] != source[0] else self._allowed(target, source)
        )
        self._last_final: bytes | None = None
        self._provisional = build_response(invite, 180, "Ringing", to_tag=local_tag, extra=[self._contact()])
        transport.send(build_response(invite, 100, "Trying"), source)
        transport.send(self._provisional, source)
        self._mark("ringing")

    def answer(self) -> None:
        with self._lock:
            if self.state != LegState.RINGING:  # defect 4: never a late 200 after CANCEL
                raise LegStateError(f"cannot answer a call that is {self.state.value} ({self.end_reason})")
            assert self.rtp is not None
            # Media flows once the caller ACKs: a spoofed INVITE that never completes its
            # handshake does not make us stream at whatever address its SDP named.
            self.rtp.hold_sending_until_allowed()
            self.rtp.start()
            ok = build_response(
                self.invite,
                200,
                "OK",
                to_tag=self.dialog.local_tag,
                extra=[self._contact(), *self._session_headers()],
                body=self._our_sdp(),
            )
            self._last_final = ok
            self.transport.send(ok, self.source)
            self._schedule("200", ok, self.source)  # defect 10: retransmit until ACK
            self.state = LegState.ANSWERED
            self._mark("answered")
            self._refresh_session()
        self.answered.set()

    def hangup(self, reason: str = "local hangup") -> None:
        with self._lock:
            if self.state == LegState.RINGING:
                reply = build_response(
                    self.invite, 480, "Temporarily Unavailable", to_tag=self.dialog.local_tag
                )
                self._last_final = reply
                self.transport.send(reply, self.source)
            elif self.state == LegState.ANSWERED:
                self._send_bye()
            else:
                return
        self._end(reason)

    def handle_request(self, request: TolerantSIPMessage, source: tuple[str, int]) -> None:
        with self._lock:
            if request.method == "INVITE" and request.cseq_number == self.invite.cseq_number:
                # A retransmitted INVITE: repeat our last answer, change nothing (defect 6).
                self.transport.send(self._last_final or self._provisional, source)
                return
            if request.method == "CANCEL":
                self._handle_cancel(request, source)
                return
            if (
                request.method == "ACK"
                and request.cseq_number == self.invite.cseq_number
                and self.state == LegState.ENDED
            ):
                return  # the ACK for our 487/480
        super().handle_request(request, source)

    def _handle_cancel(self, cancel: TolerantSIPMessage, source: tuple[str, int]) -> None:
        self.transport.send(build_response(cancel, 200, "OK"), source)
        if self.state != LegState.RINGING:
            return
        # Defect 4: pyVoIP answers the CANCEL but never ends the INVITE with 487.
        terminated = build_response(self.invite, 487, "Request Terminated", to_tag=self.dialog.local_tag)
        self._last_final = terminated
        self.transport.send(terminated, self.source)
        self._end("caller cancelled", 487)

    def _on_timeout(self, key: str) -> None:
        if key == "BYE":
            log.info("leg %s: no answer to our BYE", self.call_id)
            return
        if key == "200" and self.state == LegState.ANSWERED and "acked" not in self.timings:
            log.warning(
                "no ACK for our 200 OK on %s within %.0f s: hanging up", self.call_id, TRANSACTION_TIMEOUT
            )
            self._send_bye()
            self._end("no ACK")


class OutboundLeg(Leg):
    """A call we place (to an engineer's phone), ringing until answered, refused or cancelled."""

    direction = "outbound"

    def __init__(
        self,
        transport: Transport,
        target_uri: str,
        call_id: str,
        from_user: str = "hotline",
        destination: tuple[str, int] | None = None,
        max_latency_s: float = 0.2,
        display_name: str = "",
    ):
        local_uri = (
            f'"{display_name}" <sip:{from_user}@{transport.local_host}>'
            if display_name
            else f"<sip:{from_user}@{transport.local_host}>"
        )
        dialog = Dialog(
            call_id=call_id,
            local_uri=local_uri,
            local_tag=new_tag(),
            remote_uri=f"<{target_uri}>",
            remote_tag="",
            remote_target=target_uri,
            local_host=transport.local_host,
            local_port=transport.local_port,
            local_cseq=random.randint(1, 10000),
        )
        super().__init__(transport, dialog, target_uri, max_latency_s)
        self.destination = transport.policy.check(
            *(destination or host_port_of(target_uri)), "engineer address"
        )
        self.peer_addr = self.destination
        self._media_socket = bind_media_socket(transport.local_host)
        self._offer_codecs = {0: "PCMU", 8: "PCMA"}
        self._branch = new_branch()
        self._cseq = self.dialog.next_cseq()
        offer = sdp_offer_or_answer(
            self.session_id,
            self.sdp_version,
            transport.local_host,
            self._media_socket.getsockname()[1],
            self._offer_codecs,
            101,
        )
        self._invite = self.dialog.request("INVITE", cseq=self._cseq, branch=self._branch, body=offer)
        self._cancelling = False

    def send_invite(self) -> None:
        self.transport.send(self._invite, self.destination)
        self._mark("invite_sent")
        self._schedule(
            "INVITE", self._invite, self.destination, cap=TRANSACTION_TIMEOUT
        )  # Timer A doubles uncapped

    @property
    def ring_time_s(self) -> float | None:
        """INVITE sent -> 200 OK received, in seconds."""
        if "answered" not in self.timings or "invite_sent" not in self.timings:
            return None
        return self.timings["answered"] - self.timings["invite_sent"]

    def hangup(self, reason: str = "local hangup") -> None:
        with self._lock:
            if self.state in (LegState.DIALING, LegState.RINGING):
                self._cancelling = True
                cancel = self._cancel_request()
                self.transport.send(cancel, self.destination)
                self._schedule("CANCEL", cancel, self.destination)
            elif self.state == LegState.ANSWERED:
                self._send_bye()
            else:
                return
        self._end(reason)

    def _cancel_request(self) -> bytes:
        # RFC 3261 9.1: same Request-URI, Call-ID, From, To (no tag), CSeq number and Via branch.
        plain = Dialog(**{**self.dialog.__dict__, "remote_tag": ""})
        return plain.request("CANCEL", cseq=self._cseq, branch=self._branch)

    def _ack_for_error(self, response: TolerantSIPMessage) -> bytes:
        tagged = Dialog(**{**self.dialog.__dict__, "remote_tag": response.headers["To"]["tag"]})
        return tagged.request("ACK", cseq=self._cseq, branch=self._branch)

    def handle_response(self, response: TolerantSIPMessage, source: tuple[str, int]) -> None:
        code = response.status_code
        method = response.cseq_method
        if response.cseq_number != self._cseq and method in ("INVITE", "CANCEL"):
            return  # not an answer to our INVITE transaction
        with self._lock:
            if method == "BYE" or method == "CANCEL":
                self._retransmissions.pop(method, None)
                return
            if method != "INVITE":
                return
            self._retransmissions.pop("INVITE", None)
            if code < 200:
                self._mark("trying" if code == 100 else "ringing")
                if code in (180, 183) and self.state == LegState.DIALING:
                    self.state = LegState.RINGING
                return
            if code < 300:
                self._on_ok(response, source)
                return
            self.transport.send(self._ack_for_error(response), self.destination)
            self._retransmissions.pop("CANCEL", None)
        reason = "cancelled" if code == 487 and self._cancelling else f"refused {code}"
        self._end(reason, code)

    def _on_ok(self, ok: TolerantSIPMessage, source: tuple[str, int]) -> None:
        first = "answered" not in self.timings
        self._mark("answered")
        self.final_status = 200
        if first:
            self.dialog.remote_tag = ok.headers["To"]["tag"]
            self.dialog.remote_target = uri_of(ok.headers.get("Contact", self.remote_uri))
            self.dialog.route_set = list(reversed(invite_record_routes(ok)))
            hop = self.dialog.route_set[0] if self.dialog.route_set else self.dialog.remote_target
            self.peer_addr = self._allowed(host_port_of(hop), source)
        ack = self.dialog.request("ACK", cseq=self._cseq)
        self.transport.send(ack, self._request_addr())  # every 200 retransmission gets an ACK
        if not first:
            return
        if self._cancelling or self.state == LegState.ENDED:
            # The engineer answered as we cancelled: close the dialog they opened.
            self._send_bye()
            return
        try:
            ip, port, answer = media_of(ok)
            self._start_media(ip, port, answer, sock=self._media_socket)
        except (MalformedSipError, ValueError) as e:
            log.warning("answer on %s unusable (%s): hanging up", self.call_id, e)
            self._send_bye()
            self._end(f"bad SDP answer: {e}")
            return
        assert self.rtp is not None
        self.rtp.start()
        self.state = LegState.ANSWERED
        self.answered.set()

    def _on_timeout(self, key: str) -> None:
        if key == "INVITE" and self.state == LegState.DIALING:
            self._end("no response", 408)

    def _end(self, reason: str, status: int | None = None) -> None:
        super()._end(reason, status)
        if self.rtp is None:
            self._media_socket.close()


def invite_record_routes(message: TolerantSIPMessage) -> list[str]:
    return list(getattr(message, "record_routes", []))
