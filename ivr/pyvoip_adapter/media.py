"""RTP media for one leg: pyVoIP's RTPClient with the media defects fixed.

- Defect 5: PCMA was encoded as μ-law; ``encode_packet`` encodes A-law for PCMA.
- Defect 6: ``start()`` on a running client (pyVoIP calls it again on every re-INVITE)
  opened a second socket and a second sender; ours starts once.
- Defect 7: gaps (lost packets) were zero bytes, full-scale negative in pyVoIP's unsigned
  8-bit audio: clicks. ``StreamBuffer`` fills gaps with silence.
- Defect 8: the receive buffer and its packet log grew for the whole call (~24 MB per 30
  minutes); ``StreamBuffer`` drops what has been read.
- Defect 9: queued outgoing audio could not be stopped; ``discard_pending()`` flushes it
  (barge-in over a prompt).

Hostile media: the receiver latches to the first source that sends (re-latching once to
the SDP-advertised address if that one speaks later) and drops packets from anyone else,
so a stream injected from another address never reaches the recording or the recogniser;
packets with a payload type that was not negotiated are dropped. The sender can be held
until the caller's ACK (``hold_sending_until_allowed``), and the leg knows when the last
packet arrived (``last_packet_at``) for the inactivity timeout. Every loop here survives
any single bad packet or destination.

We also keep audio as 16-bit linear PCM end to end instead of pyVoIP's unsigned 8-bit
(that API capped the caller's SNR at about 25 dB), pace the sender by a monotonic
deadline (no sleep drift), pick a free UDP port from the kernel (pyVoIP picks a random
port without checking it is free) and can send RFC 4733 DTMF events.
"""

from __future__ import annotations

import audioop
import logging
import queue
import select
import socket
import threading
import time
from collections.abc import Callable

from ._pyvoip import RTP

log = logging.getLogger(__name__)

SAMPLE_RATE = 8000
FRAME_SAMPLES = 160  # 20 ms
FRAME_BYTES = FRAME_SAMPLES * 2  # 16-bit linear
FRAME_S = FRAME_SAMPLES / SAMPLE_RATE
SUPPORTED_CODECS = {"PCMU": RTP.PayloadType.PCMU, "PCMA": RTP.PayloadType.PCMA}
DTMF_EVENTS = "0123456789*#ABCD"


class StreamBuffer(RTP.RTPPacketManager):
    """A byte stream addressed by absolute offset that forgets what has been read.

    Writes may arrive out of order or leave gaps; gaps read as ``silence``. Reading past
    the end returns silence without consuming time, so a late writer is not lost. With
    ``max_backlog`` set (receive side), a reader that fell behind skips ahead to keep
    latency bounded.
    """

    def __init__(
        self,
        silence: bytes = b"\x00\x00",
        max_backlog: int | None = None,
        reanchor_jump: int | None = 10 * SAMPLE_RATE * 2,
        playout_delay: int = 0,
    ):
        super().__init__()
        # After an underrun, wait until this much is queued before reading again: a late
        # packet then costs one short gap instead of a gap every frame while jitter lasts.
        self.playout_delay = playout_delay
        self._buffering = playout_delay > 0
        self._has_read = False
        self.underruns = 0
        self.silence = silence
        self.max_backlog = max_backlog
        self.reanchor_jump = reanchor_jump
        self._data = bytearray()
        self._base: int | None = None  # stream offset of _data[0]
        self._read = 0  # stream offset of the next byte to read
        self._lock = threading.Lock()
        self.discarded_bytes = 0

    def _fill(self, n: int) -> bytes:
        return (self.silence * (n // len(self.silence) + 1))[:n]

    def write(self, offset: int, data: bytes) -> None:
        with self._lock:
            jumped = self.reanchor_jump is not None and abs(offset - self._read) > self.reanchor_jump
            if self._base is None or jumped:
                # First packet, or the sender restarted its timestamps: re-anchor here.
                self._data = bytearray()
                self._base = self._read = offset
                self._has_read = False
            if offset < self._base and not self._has_read:
                # An earlier packet overtook the first one: nothing was read yet, extend backwards.
                gap = self._base - offset
                self._data[:0] = data[:gap] + self._fill(gap - min(gap, len(data)))
                self._base = self._read = offset
                return
            end = self._base + len(self._data)
            if offset < self._read:  # too late: only the part not yet read is useful
                data = data[self._read - offset :]
                offset = self._read
                if not data:
                    return
            if offset > end:
                self._data += self._fill(offset - end)  # defect 7: gaps are silence
            start = offset - self._base
            self._data[start : start + len(data)] = data

    def read(self, length: int = FRAME_BYTES) -> bytes:
        with self._lock:
            if self._base is None:
                return self._fill(length)
            end = self._base + len(self._data)
            if self.max_backlog is not None and end - self._read > self.max_backlog:
                skip = end - self._read - self.max_backlog // 2
                skip -= skip % 2
                self._read += skip
                self.discarded_bytes += skip
            pending = end - self._read
            if self._buffering:
                if pending < self.playout_delay:
                    return self._fill(length)
                self._buffering = False
            start = self._read - self._base
            chunk = bytes(self._data[start : start + length])
            self._has_read = self._has_read or bool(chunk)
            if len(chunk) < length and self.playout_delay:
                self.underruns += 1
                self._buffering = True
            self._read += len(chunk)
            consumed = self._read - self._base
            if consumed >= 16 * FRAME_BYTES:  # defect 8: forget what was read
                del self._data[:consumed]
                self._base = self._read
        return chunk + self._fill(length - len(chunk))

    def discard_pending(self) -> int:
        """Drop everything written but not yet read (defect 9); returns bytes dropped."""
        with self._lock:
            if self._base is None:
                return 0
            end = self._base + len(self._data)
            dropped = end - self._read
            self._buffering = self.playout_delay > 0
            self._data = bytearray()
            self._base = self._read = end
            return dropped

    def pending(self) -> int:
        with self._lock:
            return 0 if self._base is None else self._base + len(self._data) - self._read

    def retained_bytes(self) -> int:
        return len(self._data)


def codecs_from_sdp(offer: dict[int, str]) -> dict[int, RTP.PayloadType]:
    """{payload type: codec name} from SDP to pyVoIP payload types we can handle, in offer order."""
    known = {**SUPPORTED_CODECS, "TELEPHONE-EVENT": RTP.PayloadType.EVENT}
    return {pt: known[name.upper()] for pt, name in offer.items() if name.upper() in known}


def pcm16_to_payload(pcm: bytes, codec: RTP.PayloadType) -> bytes:
    if codec == RTP.PayloadType.PCMA:
        return audioop.lin2alaw(pcm, 2)
    if codec == RTP.PayloadType.PCMU:
        return audioop.lin2ulaw(pcm, 2)
    raise RTP.RTPParseError(f"Unsupported codec (encode): {codec}")


def bind_media_socket(local_ip: str) -> socket.socket:
    """A UDP socket on a port the kernel knows is free (pyVoIP picks a random port unchecked)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((local_ip, 0))
    return sock


class PacedRTPClient(RTP.RTPClient):
    """One audio stream: a socket, a receiver thread and a paced sender thread."""

    def __init__(
        self,
        assoc: dict[int, RTP.PayloadType],
        local_ip: str,
        remote_ip: str,
        remote_port: int,
        dtmf: Callable[[str], None] | None = None,
        max_latency_s: float = 0.2,
        sock: socket.socket | None = None,
    ):
        codecs = {
            pt: c for pt, c in assoc.items() if c in SUPPORTED_CODECS.values() or c == RTP.PayloadType.EVENT
        }
        if not any(c in SUPPORTED_CODECS.values() for c in codecs.values()):
            raise ValueError(f"no supported audio codec among {[str(c) for c in assoc.values()]}")
        self.sin = sock or bind_media_socket(local_ip)
        super().__init__(
            codecs,
            local_ip,
            self.sin.getsockname()[1],
            remote_ip,
            remote_port,
            RTP.TransmitType.SENDRECV,
            dtmf=dtmf,
        )
        self.sout = self.sin
        self.preference_pt = next(pt for pt, c in codecs.items() if c == self.preference)
        self.event_pt = next((pt for pt, c in codecs.items() if c == RTP.PayloadType.EVENT), None)
        self.pmin = StreamBuffer(
            max_backlog=int(max_latency_s * SAMPLE_RATE) * 2, playout_delay=3 * FRAME_BYTES
        )
        # Prompts may be queued far ahead; bridged audio arrives a frame at a time, so keep two in hand.
        self.pmout = StreamBuffer(reanchor_jump=None, playout_delay=2 * FRAME_BYTES)
        self._started = False
        self._stopped = False
        self._threads: list[threading.Thread] = []
        self._dtmf_out: queue.Queue[str] = queue.Queue()
        self._ts_ext: int | None = None  # extended (unwrapped) receive timestamp
        self.packets_sent = 0
        self.packets_received = 0
        self.packets_foreign = 0  # from another source than the latched one: dropped
        self.last_source: tuple[str, int] | None = None
        self.latched: tuple[str, int] | None = None
        self._relatched = False
        self.last_packet_at: float | None = None
        self._may_send = threading.Event()
        self._may_send.set()

    @property
    def codec_name(self) -> str:
        return str(self.preference)

    def start(self) -> None:
        if self._started:  # defect 6: a re-INVITE must not add a second sender
            return
        self._started = True
        self.NSD = True
        for target, name in ((self.recv, "RTP receive"), (self.trans, "RTP send")):
            thread = threading.Thread(target=target, name=f"{name} :{self.inPort}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self.NSD = False
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout=1)
        self.sin.close()

    def retarget(self, remote_ip: str, remote_port: int) -> None:
        self.outIP, self.outPort = remote_ip, remote_port
        self._relatched = False  # a new offer may move the peer's media: accept its new source once

    def hold_sending_until_allowed(self) -> None:
        self._may_send.clear()

    def allow_sending(self) -> None:
        self._may_send.set()

    def _accepts(self, source: tuple[str, int]) -> bool:
        """Symmetric-RTP latching: one peer per stream."""
        if self.latched is None:
            self.latched = source
            return True
        if source == self.latched:
            return True
        if not self._relatched and source[0] == self.outIP and self.latched[0] != self.outIP:
            # The advertised address speaks after someone else did: it is the real peer.
            self.latched = source
            self._relatched = True
            return True
        self.packets_foreign += 1
        return False

    def recv(self) -> None:
        while self.NSD:
            try:
                ready, _, _ = select.select([self.sin], [], [], 0.05)
                if not ready:
                    continue
                packet, source = self.sin.recvfrom(2048)
            except (OSError, ValueError):
                if self.NSD:
                    log.warning("RTP receive socket :%s failed", self.inPort)
                return
            if len(packet) < 12 or packet[0] >> 6 != 2 or (packet[1] & 0x7F) not in self.assoc:
                continue  # not RTP version 2, or a payload type that was not negotiated
            if not self._accepts(source):
                continue
            try:
                self.parse_packet(packet)
                self.packets_received += 1
                self.last_source = source
                self.last_packet_at = time.monotonic()
            except Exception as e:  # noqa: BLE001 - a bad packet is dropped, the stream goes on
                log.debug("RTP packet dropped on :%s: %s", self.inPort, e)

    def _offset_of(self, timestamp: int) -> int:
        # Unwrap the 32-bit timestamp so a stream that crosses 2**32 stays continuous.
        if self._ts_ext is None:
            self._ts_ext = timestamp
        else:
            delta = (timestamp - self._ts_ext) % 2**32
            if delta >= 2**31:
                delta -= 2**32
            self._ts_ext += delta
        return self._ts_ext * 2

    def parse_pcmu(self, packet: RTP.RTPMessage) -> None:
        self.pmin.write(self._offset_of(packet.timestamp), audioop.ulaw2lin(packet.payload, 2))

    def parse_pcma(self, packet: RTP.RTPMessage) -> None:
        self.pmin.write(self._offset_of(packet.timestamp), audioop.alaw2lin(packet.payload, 2))

    def encode_packet(self, payload: bytes) -> bytes:
        return pcm16_to_payload(payload, self.preference)  # defect 5: PCMA really A-law

    def read(self, length: int = FRAME_BYTES, blocking: bool = False) -> bytes:
        return self.pmin.read(length)

    def send_dtmf(self, digit: str) -> None:
        if digit.upper() not in DTMF_EVENTS:
            raise ValueError(f"not a DTMF digit: {digit!r}")
        if self.event_pt is None:
            raise ValueError("the peer did not offer telephone-event")
        self._dtmf_out.put(digit.upper())

    def _header(self, payload_type: int, marker: bool, timestamp: int) -> bytes:
        self.outSequence = (self.outSequence + 1) % 2**16
        return (
            bytes([0x80, (0x80 if marker else 0) | payload_type])
            + self.outSequence.to_bytes(2, "big")
            + (timestamp % 2**32).to_bytes(4, "big")
            + self.outSSRC.to_bytes(4, "big")
        )

    def _dtmf_packets(self, digit: str) -> list[tuple[bool, bytes]]:
        event = DTMF_EVENTS.index(digit)
        packets = [(i == 0, bytes([event, 10]) + (160 * (i + 1)).to_bytes(2, "big")) for i in range(5)]
        packets += [(False, bytes([event, 0x80 | 10]) + (800).to_bytes(2, "big"))] * 3
        return packets

    def trans(self) -> None:
        deadline = time.monotonic()
        first = True
        pending_event: list[tuple[bool, bytes]] = []
        event_ts = 0
        while self.NSD:
            if not self._may_send.is_set():
                # Not yet allowed to send (no ACK yet): keep the clock, keep the queue.
                self._may_send.wait(FRAME_S)
                deadline = time.monotonic()
                continue
            if not pending_event and not self._dtmf_out.empty():
                pending_event = self._dtmf_packets(self._dtmf_out.get_nowait())
                event_ts = self.outTimestamp
            if pending_event:
                marker, body = pending_event.pop(0)
                packet = self._header(self.event_pt or 101, marker, event_ts) + body
            else:
                payload = self.encode_packet(self.pmout.read(FRAME_BYTES))
                packet = self._header(self.preference_pt, first, self.outTimestamp) + payload
                first = False
            try:
                self.sout.sendto(packet, (self.outIP, self.outPort))
                self.packets_sent += 1
            except Exception:  # noqa: BLE001 - OSError, or an odd address: this sender must go on
                if not self.NSD:
                    return
            self.outTimestamp += FRAME_SAMPLES
            deadline += FRAME_S
            delay = deadline - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            elif delay < -0.2:  # we were starved of CPU: resynchronise instead of bursting
                deadline = time.monotonic()
