"""Real SIP/RTP peers on loopback (sipp, an RTP receiver, free ports) for the demo, benchmarks and tests.

sipp scenarios are rendered from templates with ``str.format`` (``{name}`` placeholders;
sipp's own ``[keywords]`` pass through untouched). A caller or engineer scenario advertises
an ``RtpReceiver``'s port in its SDP, so the test hears exactly what that peer was sent,
while sipp streams real speech from its own media port.
"""

from __future__ import annotations

import audioop
import os
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

LOOPBACK = "127.0.0.1"


_handed_out: set[int] = set()  # ports given to a peer that may not have bound them yet


def free_udp_port() -> int:
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind((LOOPBACK, 0))
            port = s.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port


def socket_count() -> int:
    """Open sockets of this process (for leak checks in the tests and benchmarks)."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
        except OSError:
            continue
    return count


def free_tcp_port() -> int:
    """A loopback TCP port for a console or another HTTP peer."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def free_udp_ports(n: int) -> list[int]:
    """n even ports, each free along with the next three (sipp binds mp..mp+3 for RTP/RTCP/streams)."""
    ports: list[int] = []
    while len(ports) < n:
        p = free_udp_port()
        block = range(p, p + 4)
        if p % 2 == 0 and all(_is_free(k) for k in block) and not _handed_out.intersection(block[1:]):
            _handed_out.update(block)
            ports.append(p)
    return ports


def _is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


@dataclass
class RtpPacket:
    arrival: float
    source: tuple[str, int]
    payload_type: int
    marker: bool
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes


@dataclass
class RtpReceiver:
    """Collects every RTP packet sent to its port, for checking what a peer heard."""

    port: int = 0
    packets: list[RtpPacket] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((LOOPBACK, self.port))
        self.port = self.sock.getsockname()[1]
        self.sock.settimeout(0.1)
        self._running = True
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while self._running:
            try:
                data, source = self.sock.recvfrom(2048)
            except TimeoutError:
                continue
            except OSError:
                return
            if len(data) < 12:
                continue
            self.packets.append(
                RtpPacket(
                    time.monotonic(),
                    source,
                    data[1] & 0x7F,
                    bool(data[1] & 0x80),
                    int.from_bytes(data[2:4], "big"),
                    int.from_bytes(data[4:8], "big"),
                    int.from_bytes(data[8:12], "big"),
                    data[12:],
                )
            )

    def close(self) -> None:
        self._running = False
        self._thread.join(timeout=1)
        self.sock.close()

    def audio_packets(self) -> list[RtpPacket]:
        return [p for p in self.packets if p.payload_type in (0, 8)]

    def pcm(self) -> np.ndarray:
        """All audio received, decoded to int16, in arrival order."""
        chunks = []
        for p in self.audio_packets():
            decode = audioop.ulaw2lin if p.payload_type == 0 else audioop.alaw2lin
            chunks.append(np.frombuffer(decode(p.payload, 2), dtype=np.int16))
        return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)

    def packets_per_second(self, start: float, end: float) -> float:
        n = sum(1 for p in self.audio_packets() if start <= p.arrival < end)
        return n / (end - start)

    def sources(self) -> set[tuple[str, int]]:
        return {p.source for p in self.audio_packets()}


def best_correlation(reference: np.ndarray, received: np.ndarray) -> tuple[float, int]:
    """Highest normalised correlation of ``reference`` inside ``received``, and its lag in samples."""
    ref = reference.astype(np.float64)
    rx = received.astype(np.float64)
    if len(rx) < len(ref):
        rx = np.concatenate([rx, np.zeros(len(ref) - len(rx))])
    n = len(rx) + len(ref)
    size = 1 << (n - 1).bit_length()
    xcorr = np.fft.irfft(np.fft.rfft(rx, size) * np.conj(np.fft.rfft(ref, size)), size)[
        : len(rx) - len(ref) + 1
    ]
    energy = np.convolve(rx**2, np.ones(len(ref)), mode="valid")
    ref_energy = np.sum(ref**2)
    # Windows much quieter than the reference cannot contain it; leave them at 0.
    score = np.where(energy > 0.01 * ref_energy, xcorr / np.sqrt(np.maximum(energy, 1e-9) * ref_energy), 0.0)
    lag = int(np.argmax(score))
    return float(score[lag]), lag


def load_pcm(path: Path) -> np.ndarray:
    data, rate = sf.read(str(path), dtype="int16")
    if rate != 8000 or data.ndim != 1:
        raise ValueError(f"{path}: want 8 kHz mono, got {rate} Hz with shape {data.shape}")
    return data


def write_g711(pcm: np.ndarray, path: Path, codec: str = "PCMU") -> Path:
    encode = audioop.lin2ulaw if codec == "PCMU" else audioop.lin2alaw
    path.write_bytes(encode(pcm.astype(np.int16).tobytes(), 2))
    return path


def g711_roundtrip(pcm: np.ndarray, codec: str = "PCMU") -> np.ndarray:
    encode, decode = (
        (audioop.lin2ulaw, audioop.ulaw2lin) if codec == "PCMU" else (audioop.lin2alaw, audioop.alaw2lin)
    )
    return np.frombuffer(decode(encode(pcm.astype(np.int16).tobytes(), 2), 2), dtype=np.int16)


CALLER_SCENARIO = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="deskline caller">
  <send retrans="500"><![CDATA[
INVITE sip:{called}@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: "Caller" <sip:{caller}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:{called}@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: <sip:{caller}@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

v=0
o=caller 53655765 2353687637 IN IP4 [local_ip]
s=-
c=IN IP4 [media_ip]
t=0 0
m=audio {rx_port} RTP/AVP {pt} 101
a=rtpmap:{pt} {codec}/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
]]></send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="200" rtd="true"/>
  <send><![CDATA[
ACK sip:{called}@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: "Caller" <sip:{caller}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:{called}@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 1 ACK
Contact: <sip:{caller}@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Length: 0
]]></send>
{middle}
  <send retrans="500"><![CDATA[
BYE sip:{called}@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: "Caller" <sip:{caller}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:{called}@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 2 BYE
Contact: <sip:{caller}@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Length: 0
]]></send>
  <recv response="200" crlf="true"/>
</scenario>
"""

# The same caller behind a SIP proxy: it keeps the proxy's Record-Route as its route set
# and sends ACK and BYE to the answering node's Contact through it.
PROXIED_CALLER_SCENARIO = (
    CALLER_SCENARIO.replace('response="200" rtd="true"/>', 'response="200" rtd="true" rrs="true"/>')
    .replace("ACK sip:{called}@[remote_ip]:[remote_port] SIP/2.0\n", "ACK [next_url] SIP/2.0\n[routes]\n")
    .replace("BYE sip:{called}@[remote_ip]:[remote_port] SIP/2.0\n", "BYE [next_url] SIP/2.0\n[routes]\n")
)

CALLER_CANCEL_SCENARIO = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="deskline caller who gives up">
  <send retrans="500"><![CDATA[
INVITE sip:{called}@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: "Caller" <sip:{caller}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:{called}@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: <sip:{caller}@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

v=0
o=caller 1 1 IN IP4 [local_ip]
s=-
c=IN IP4 [media_ip]
t=0 0
m=audio {rx_port} RTP/AVP 0
a=rtpmap:0 PCMU/8000
]]></send>
  <recv response="100" optional="true"/>
  <recv response="180"/>
  <pause milliseconds="{cancel_after_ms}"/>
  <send><![CDATA[
CANCEL sip:{called}@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch-1]
From: "Caller" <sip:{caller}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:{called}@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 CANCEL
Max-Forwards: 70
Content-Length: 0
]]></send>
  <recv response="200"/>
  <recv response="487"/>
  <send><![CDATA[
ACK sip:{called}@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch-2]
From: "Caller" <sip:{caller}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:{called}@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 1 ACK
Max-Forwards: 70
Content-Length: 0
]]></send>
  <!-- a late 200 OK here would be an unexpected message and fail the call -->
  <pause milliseconds="{linger_ms}"/>
</scenario>
"""

ENGINEER_SCENARIO = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="deskline engineer phone">
  <recv request="INVITE" crlf="true"/>
  <send><![CDATA[
SIP/2.0 180 Ringing
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:{user}@[local_ip]:[local_port]>
Content-Length: 0
]]></send>
  <pause milliseconds="{ring_ms}"/>
  <send retrans="500"><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:{user}@[local_ip]:[local_port]>
Content-Type: application/sdp
Content-Length: [len]

v=0
o=engineer 1 1 IN IP4 [local_ip]
s=-
c=IN IP4 [media_ip]
t=0 0
m=audio {rx_port} RTP/AVP {pt} 101
a=rtpmap:{pt} {codec}/8000
a=rtpmap:101 telephone-event/8000
]]></send>
  <recv request="ACK" rtd="true" crlf="true"/>
{media}
  <recv request="BYE"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0
]]></send>
</scenario>
"""

ENGINEER_NO_ANSWER_SCENARIO = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="deskline engineer phone that is not picked up">
  <recv request="INVITE" crlf="true"/>
  <send><![CDATA[
SIP/2.0 180 Ringing
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:{user}@[local_ip]:[local_port]>
Content-Length: 0
]]></send>
  <recv request="CANCEL"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0
]]></send>
  <send><![CDATA[
SIP/2.0 487 Request Terminated
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
CSeq: [cseq] INVITE
Content-Length: 0
]]></send>
  <recv request="ACK"/>
</scenario>
"""


def stream_media(path: Path, pt: int, pause_before_ms: int = 0, pause_after_ms: int = 0) -> str:
    steps = []
    if pause_before_ms:
        steps.append(f'  <pause milliseconds="{pause_before_ms}"/>')
    steps.append(f'  <nop><action><exec rtp_stream="{path},1,{pt}"/></action></nop>')
    if pause_after_ms:
        steps.append(f'  <pause milliseconds="{pause_after_ms}"/>')
    return "\n".join(steps)


@dataclass
class SippRun:
    process: subprocess.Popen
    log_dir: Path

    def wait(self, timeout: float) -> int:
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=5)

    def output(self) -> str:
        out = (self.log_dir / "stdout.txt").read_text(errors="replace")
        errors = "".join(p.read_text(errors="replace")[-2000:] for p in self.log_dir.glob("*errors.log"))
        return out[-3000:] + errors


def start_sipp(
    scenario_xml: str,
    work: Path,
    name: str,
    *,
    target: str | None,
    sip_port: int,
    media_port: int,
    calls: int = 1,
    extra: list[str] | None = None,
) -> SippRun:
    work.mkdir(parents=True, exist_ok=True)
    scenario = work / f"{name}.xml"
    scenario.write_text(scenario_xml)
    cmd = [
        "sipp",
        "-sf",
        str(scenario),
        "-i",
        LOOPBACK,
        "-p",
        str(sip_port),
        "-mi",
        LOOPBACK,
        "-mp",
        str(media_port),
        "-m",
        str(calls),
        "-l",
        str(calls),
        "-r",
        str(calls),
        "-rp",
        "1000",
        "-nostdin",
        "-trace_err",
        "-error_file",
        str(work / f"{name}_errors.log"),
        "-timeout",
        "60s",
        "-timeout_error",
        "-recv_timeout",
        "20000",
    ]
    cmd += extra or []
    if target:
        cmd.append(target)
    stdout = open(work / "stdout.txt", "ab")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(cmd, stdout=stdout, stderr=subprocess.STDOUT, cwd=work)
    return SippRun(process, work)
