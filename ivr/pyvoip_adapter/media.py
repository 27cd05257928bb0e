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
(that API capped the caller's SNR at about 25 dB), replace pyVoIP's two threads per
stream by the node's one media thread (``media_engine``: it calls ``on_readable`` and
``send_tick``), pick a free UDP port from the kernel (pyVoIP picks a random
port without checking it is free) and can send RFC 4733 DTMF events.
"""

from __future__ import annotations

import audioop
import logging
import queue
import socket
import threading
import time
from collections.abc import Callable

from ._pyvoip import RTP
from .media_engine import MediaEngine

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
    """One audio stream: a non-blocking socket that the node's ``MediaEngine`` reads and paces."""

    def __init__(
        self,
        assoc: dict[int, RTP.PayloadType],
        local_ip: str,
        remote_ip: str,
        remote_port: int,
        dtmf: Callable[[str], None] | None = None,
        max_latency_s: float = 0.2,
        sock: socket.socket | None = None,
        engine: MediaEngine | None = None,
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
        self._pending_event: list[tuple[bool, bytes]] = []
        self._event_ts = 0
        self._first_packet = True
        self.packets_dropped_on_send = 0
        self.send_errors = 0
        self._engine = engine or MediaEngine.shared()

    @property
    def codec_name(self) -> str:
        return str(self.preference)

    def start(self) -> None:
        if self._started:  # defect 6: a re-INVITE must not add a second sender
            return
        self._started = True
        self.NSD = True
        self.sin.setblocking(False)
        self._engine.add_stream(self)

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self.NSD = False
        self._engine.remove_stream(self)
        self.sin.close()

    def fileno(self) -> int:
        return self.sin.fileno()

    def fail(self, reason: str) -> None:
        """The media engine gave up on this stream (it raised): stop it."""
        log.warning("RTP stream :%s stopped: %s", self.inPort, reason)
        self.NSD = False

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

    def on_readable(self) -> None:
        """Drain the socket (called by the media engine when it is readable)."""
        for _ in range(64):  # a flood cannot keep the engine on one socket
            try:
                packet, source = self.sin.recvfrom(2048)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            self.receive(packet, source)

    def receive(self, packet: bytes, source: tuple[str, int]) -> None:
        if len(packet) < 12 or packet[0] >> 6 != 2 or (packet[1] & 0x7F) not in self.assoc:
            return  # not RTP version 2, or a payload type that was not negotiated
        if not self._accepts(source):
            return
        try:
            self._parse(packet)
        except Exception as e:  # noqa: BLE001 - a bad packet is dropped, the stream goes on
            log.debug("RTP packet dropped on :%s: %s", self.inPort, e)
            return
        self.packets_received += 1
        self.last_source = source
        self.last_packet_at = time.monotonic()

    def _parse(self, packet: bytes) -> None:
        """RFC 3550 5.1 header (CSRCs, extension, padding), then the payload by its type."""
        csrc_count = packet[0] & 0x0F
        start = 12 + 4 * csrc_count
        if packet[0] & 0x10:  # header extension
            if len(packet) < start + 4:
                raise ValueError("truncated header extension")
            start += 4 + 4 * int.from_bytes(packet[start + 2 : start + 4], "big")
        end = len(packet)
        if packet[0] & 0x20:  # padding
            end -= packet[-1]
        if start > end:
            raise ValueError("header longer than the packet")
        payload = packet[start:end]
        codec = self.assoc[packet[1] & 0x7F]
        timestamp = int.from_bytes(packet[4:8], "big")
        if codec == RTP.PayloadType.PCMU:
            self.pmin.write(self._offset_of(timestamp), audioop.ulaw2lin(payload, 2))
        elif codec == RTP.PayloadType.PCMA:
            self.pmin.write(self._offset_of(timestamp), audioop.alaw2lin(payload, 2))
        elif codec == RTP.PayloadType.EVENT:
            if payload and packet[1] & 0x80 and payload[0] < len(DTMF_EVENTS) and self.dtmf is not None:
                self.dtmf(DTMF_EVENTS[payload[0]])  # RFC 4733: the marker bit starts a new event

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

    def send_tick(self) -> None:
        """Send this tick's packet (called by the media engine every 20 ms)."""
        if not self.NSD or not self._may_send.is_set():
            return  # not yet allowed to send (no ACK yet): the queue waits, nothing is lost
        if not self._pending_event and not self._dtmf_out.empty():
            self._pending_event = self._dtmf_packets(self._dtmf_out.get_nowait())
            self._event_ts = self.outTimestamp
        if self._pending_event:
            marker, body = self._pending_event.pop(0)
            packet = self._header(self.event_pt or 101, marker, self._event_ts) + body
        else:
            payload = self.encode_packet(self.pmout.read(FRAME_BYTES))
            packet = self._header(self.preference_pt, self._first_packet, self.outTimestamp) + payload
            self._first_packet = False
        try:
            self.sout.sendto(packet, (self.outIP, self.outPort))
            self.packets_sent += 1
        except (BlockingIOError, InterruptedError):
            self.packets_dropped_on_send += 1  # the kernel's buffer is full: this frame is late anyway
        except Exception:  # noqa: BLE001 - OSError, or an odd address: this stream goes on
            self.send_errors += 1
        self.outTimestamp += FRAME_SAMPLES
