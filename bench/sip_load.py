"""SIP load benchmark: sipp places N concurrent calls against the hotline (not a test).

Every call is answered, greeted, rung through to one sipp "engineer phone" (which takes
any number of calls), bridged and recorded; run once with analysis off and once with
live analysis on (Whisper). Prints JSON: calls completed, RTP packets lost (sequence gaps
seen by the callers), jitter of the prompt playout seen by the callers, CPU seconds and
peak memory per call, peak threads and sockets.

The flood phase (``--flood N``) sends N INVITEs from one source within about 3 s to a
running hotline (per-source cap 10) and reports how many were refused with 503, the peak
threads, sockets and live calls while it lasted, whether a normal call placed during the
flood from another address was answered, and how long ``stop()`` took afterwards.

    .venv/bin/python bench/sip_load.py --calls 10 --talk-s 8      # N ≤ 200, ≤ 120 s per run
    .venv/bin/python bench/sip_load.py --flood 500 --no-load      # only the flood phase

The queue phase (``--queue-callers 50 --engineers 5``) places that many callers at once on a
line served by that many engineer phones (one sipp phone answering as each engineer), each
conversation ended by the engineer after ``--queue-talk-s``; a caller gives up after
``--patience-s``. It reports the queue waits (p50, p95, max), how many were answered and
abandoned, and the RTP packets lost as the callers heard hold music and announcements.

    .venv/bin/python bench/sip_load.py --no-load --queue-callers 50 --engineers 5
"""

from __future__ import annotations

import argparse
import json
import resource
import socket
import statistics
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).parents[1]
sys.path.insert(0, str(REPO))

from ivr.call_session import SessionSettings  # noqa: E402
from ivr.contracts import EngineerTarget, QueuePolicy, RouteDecision  # noqa: E402
from ivr.hotline import Hotline  # noqa: E402
from ivr.pyvoip_adapter import SipUserAgent  # noqa: E402
from ivr.recorded_prompts import RecordedPrompts  # noqa: E402
from ivr.sipp_peers import (  # noqa: E402
    CALLER_SCENARIO,
    ENGINEER_SCENARIO,
    RtpReceiver,
    free_udp_port,
    free_udp_ports,
    socket_count,
    start_sipp,
    stream_media,
)

SPEECH = REPO / "deskline" / "demo_audio"


class FixedRouter:
    """Every call to the one sipp phone, which takes any number of calls; each call gets its own
    engineer name, since the hotline reserves an engineer for one call at a time."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.calls = 0

    def route(self, line_number: str, caller: str, now: datetime) -> RouteDecision:
        self.calls += 1
        engineer = EngineerTarget(f"工程师{self.calls}", self.uri)
        return RouteDecision("hq", True, engineers=[engineer], ring_limit_s=15)


class NullObserver:
    def __getattr__(self, name: str):  # noqa: ANN204 - every observer callback is a no-op
        return lambda *args, **kwargs: None


def _observer(analysis: bool, work: Path):  # noqa: ANN202
    if not analysis:
        return NullObserver(), None
    from deskline.config import DEFAULT_CONFIG, load_config
    from deskline.hotline_service import AnalysingObserver
    from models.store import Store
    from routing.dispatch import DispatchState
    from speech.qa.rulefile import load_rules

    cfg = load_config(DEFAULT_CONFIG)
    store = Store(work / "bench.db")
    return AnalysingObserver(cfg, store, load_rules(), "whisper", DispatchState()), store




class PeakSampler:
    """Samples threads, sockets and a gauge every 50 ms in the background; keeps the peaks."""

    def __init__(self, gauge=lambda: 0) -> None:  # noqa: ANN001 - a zero-argument callable
        self.gauge = gauge
        self.peak = {"threads": 0, "sockets": 0, "gauge": 0}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            for key, value in (("threads", threading.active_count()), ("sockets", socket_count()),
                               ("gauge", self.gauge())):
                self.peak[key] = max(self.peak[key], value)

    def stop(self) -> dict[str, int]:
        self._stop.set()
        self._thread.join()
        return dict(self.peak)


def _rtp_stats(rx: RtpReceiver) -> tuple[int, list[float]]:
    """Lost packets (sequence gaps) and inter-arrival jitter (ms) per SSRC."""
    lost, jitters = 0, []
    by_ssrc: dict[int, list] = {}
    for p in rx.audio_packets():
        by_ssrc.setdefault(p.ssrc, []).append(p)
    for packets in by_ssrc.values():
        seqs = sorted(p.sequence for p in packets)
        lost += max(0, seqs[-1] - seqs[0] + 1 - len(seqs))
        gaps = np.diff([p.arrival for p in packets]) * 1000
        if len(gaps) > 2:
            jitters.append(float(np.mean(np.abs(gaps - 20.0))))
    return lost, jitters


def run_once(calls: int, talk_s: float, analysis: bool) -> dict:
    work = Path(tempfile.mkdtemp(prefix="deskline-bench-"))
    ulaw = work / "speech.ulaw"
    pcm, _ = sf.read(SPEECH / "c01.wav", dtype="int16")
    sf.write(ulaw, pcm, 8000, format="RAW", subtype="ULAW")
    eng_port, eng_media = free_udp_port(), free_udp_ports(1)[0]
    eng_rx, caller_rx = RtpReceiver(), RtpReceiver()
    engineer = start_sipp(
        ENGINEER_SCENARIO.format(
            user="zw", ring_ms=500, rx_port=eng_rx.port, pt=0, codec="PCMU", media=stream_media(ulaw, 0)
        ),
        work / "eng",
        "eng",
        target=None,
        sip_port=eng_port,
        media_port=eng_media,
        calls=calls,
    )
    observer, _store = _observer(analysis, work)
    # Every sipp call comes from one address: lift the per-source cap for the load runs.
    agent = SipUserAgent("127.0.0.1", free_udp_port(), max_calls=calls, max_calls_per_source=calls)
    prompts = RecordedPrompts()
    # The caller stays through the greeting prompt and the ringing, then talks for talk_s.
    stay_ms = int((len(prompts.greeting("hq")) / 8000 + 0.5 + talk_s) * 1000)
    hotline = Hotline(
        agent,
        FixedRouter(f"sip:zw@127.0.0.1:{eng_port}"),
        observer,
        prompts,
        SessionSettings(recordings_dir=work / "rec"),
    )
    hotline.start()
    sampler = PeakSampler(lambda: hotline.active_calls)
    cpu0, t0 = time.process_time(), time.monotonic()
    caller = start_sipp(
        CALLER_SCENARIO.format(
            called="hq",
            caller="1000",
            rx_port=caller_rx.port,
            pt=0,
            codec="PCMU",
            middle=stream_media(ulaw, 0, 2000, stay_ms),
        ),
        work / "caller",
        "caller",
        target=f"127.0.0.1:{agent.port}",
        sip_port=free_udp_port(),
        media_port=free_udp_ports(1)[0],
        calls=calls,
    )
    rc = caller.wait(min(120.0, stay_ms / 1000 + 60))
    if analysis:
        observer.wait_for_calls(calls, timeout=120)
    wall, cpu = time.monotonic() - t0, time.process_time() - cpu0
    peaks = sampler.stop()
    hotline.stop()
    caller.kill()
    engineer.kill()
    lost, jitters = _rtp_stats(caller_rx)
    caller_rx.close()
    eng_rx.close()
    completed = len(list((work / "rec").rglob("*.wav")))
    return {
        "analysis": analysis,
        "calls": calls,
        "sipp_exit": rc,
        "recordings": completed,
        "rtp_lost_packets": lost,
        "prompt_jitter_ms_median": round(statistics.median(jitters), 3) if jitters else None,
        "wall_s": round(wall, 1),
        "cpu_s_per_call": round(cpu / calls, 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "peak_threads": peaks["threads"],
        "peak_sockets": peaks["sockets"],
    }


def flood_once(invites: int) -> dict:
    """N INVITEs from one source in about 3 s, a normal call from another address meanwhile."""
    work = Path(tempfile.mkdtemp(prefix="deskline-flood-"))
    eng_port, eng_media = free_udp_port(), free_udp_ports(1)[0]
    eng_rx = RtpReceiver()
    engineer = start_sipp(
        ENGINEER_SCENARIO.format(user="zw", ring_ms=300, rx_port=eng_rx.port, pt=0, codec="PCMU",
                                 media=""),
        work / "eng", "eng", target=None, sip_port=eng_port, media_port=eng_media, calls=1,
    )
    agent = SipUserAgent("127.0.0.1", free_udp_port(), max_calls=50, max_calls_per_source=10)
    hotline = Hotline(agent, FixedRouter(f"sip:zw@127.0.0.1:{eng_port}"), NullObserver(), RecordedPrompts(),
                      SessionSettings(recordings_dir=work / "rec"))
    hotline.start()
    threads0, sockets0 = threading.active_count(), socket_count()
    sampler = PeakSampler(lambda: agent.live_inbound())
    flooder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    flooder.bind(("127.0.0.1", 0))
    flooder.settimeout(0.01)
    fport = flooder.getsockname()[1]
    sdp = ("v=0\r\no=f 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
           "m=audio 9 RTP/AVP 0\r\n")
    answers: dict[str, int] = {}
    t0 = time.monotonic()
    for i in range(invites):
        invite = (f"INVITE sip:hq@127.0.0.1 SIP/2.0\r\n"
                  f"Via: SIP/2.0/UDP 127.0.0.1:{fport};branch=z9hG4bK{i}x\r\n"
                  f"From: <sip:flood@127.0.0.1>;tag={i}\r\nTo: <sip:hq@127.0.0.1>\r\n"
                  f"Call-ID: {uuid.uuid4().hex}@flood\r\nCSeq: 1 INVITE\r\n"
                  f"Contact: <sip:flood@127.0.0.1:{fport}>\r\n"
                  f"Content-Type: application/sdp\r\nContent-Length: {len(sdp)}\r\n\r\n{sdp}")
        flooder.sendto(invite.encode(), ("127.0.0.1", agent.port))
        time.sleep(max(0.0, t0 + 3.0 * (i + 1) / invites - time.monotonic()))
        try:
            while True:
                code = flooder.recv(65535).split(b" ", 2)[1].decode()
                answers[code] = answers.get(code, 0) + 1
        except (TimeoutError, IndexError):
            pass
    # A real caller from another address during the flood.
    other = SipUserAgent("127.0.0.2", 0)
    other.start()
    leg = other.place_call(f"sip:hq@127.0.0.1:{agent.port}")
    normal_answered = leg.answered.wait(10)
    leg.hangup()
    other.stop()
    flood_s = time.monotonic() - t0
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        try:
            code = flooder.recv(65535).split(b" ", 2)[1].decode()
            answers[code] = answers.get(code, 0) + 1
        except (TimeoutError, IndexError):
            continue
    peaks = sampler.stop()
    stop0 = time.monotonic()
    hotline.stop()
    stop_s = time.monotonic() - stop0
    flooder.close()
    engineer.kill()
    eng_rx.close()
    return {
        "phase": "flood",
        "invites": invites,
        "flood_s": round(flood_s, 2),
        "answers": dict(sorted(answers.items())),
        "refused_503": agent.stats["refused_busy"],
        "peak_live_calls": peaks["gauge"],
        "threads_before": threads0,
        "peak_threads": peaks["threads"],
        "sockets_before": sockets0,
        "peak_sockets": peaks["sockets"],
        "normal_call_answered_during_flood": normal_answered,
        "stop_s": round(stop_s, 2),
    }


# An engineer phone that hangs up itself after the conversation (BYE to the hotline's Contact).
ENGINEER_HANGS_UP_SCENARIO = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="deskline engineer phone that ends the conversation">
  <recv request="INVITE" crlf="true">
    <action>
      <ereg regexp="&lt;(sip:[^&gt;]*)&gt;" search_in="hdr" header="Contact:" assign_to="dummy,contact"/>
      <ereg regexp=".*" search_in="hdr" header="From:" assign_to="from"/>
    </action>
  </recv>
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
m=audio {rx_port} RTP/AVP 0
a=rtpmap:0 PCMU/8000
]]></send>
  <recv request="ACK" crlf="true"/>
{media}
  <pause milliseconds="{talk_ms}"/>
  <send retrans="500"><![CDATA[
BYE [$contact] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:{user}@[local_ip]:[local_port]>;tag=[pid]SIPpTag01[call_number]
To:[$from]
[last_Call-ID:]
CSeq: 2 BYE
Max-Forwards: 70
Content-Length: 0
]]></send>
  <recv response="200"/>
  <Reference variables="dummy"/>
</scenario>
"""


class PoolRouter:
    """``engineers`` engineers, all answering at the one sipp phone; busy ones are left out,
    so callers who find all of them busy wait in the queue."""

    def __init__(self, uri: str, engineers: int, held: set[str], patience_s: float) -> None:
        self.targets = [EngineerTarget(f"工程师{i + 1}", uri) for i in range(engineers)]
        self.held = held
        self.policy = QueuePolicy(max_wait_s=patience_s + 30, announce_every_s=20.0, max_length=1000,
                                  staffed=engineers)

    def route(self, line_number: str, caller: str, now: datetime) -> RouteDecision:
        free = [t for t in self.targets if t.name not in self.held]
        return RouteDecision("hq", True, engineers=free, ring_limit_s=15, queue=self.policy)


class EndedCalls(NullObserver):
    def __init__(self) -> None:
        self.timings: list[tuple[dict, str]] = []
        self.lock = threading.Lock()

    def call_ended(self, call_id: str, recording_path: Path | None, sip_timings: dict, reason: str) -> None:
        with self.lock:
            self.timings.append((sip_timings, reason))


def _percentile(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 2) if values else None


def queue_once(callers: int, engineers: int, talk_s: float, patience_s: float) -> dict:
    work = Path(tempfile.mkdtemp(prefix="deskline-bench-queue-"))
    ulaw = work / "speech.ulaw"
    pcm, _ = sf.read(SPEECH / "c01.wav", dtype="int16")
    sf.write(ulaw, pcm, 8000, format="RAW", subtype="ULAW")
    eng_port, eng_media = free_udp_port(), free_udp_ports(1)[0]
    eng_rx, caller_rx = RtpReceiver(), RtpReceiver()
    phone = start_sipp(
        ENGINEER_HANGS_UP_SCENARIO.format(user="pool", ring_ms=300, rx_port=eng_rx.port,
                                          media="", talk_ms=int(talk_s * 1000)),
        work / "eng", "eng", target=None, sip_port=eng_port, media_port=eng_media, calls=callers,
        extra=["-l", str(callers * 2)])
    observer = EndedCalls()
    cap = callers + 5
    agent = SipUserAgent("127.0.0.1", free_udp_port(), max_calls=cap, max_calls_per_source=cap)
    prompts = RecordedPrompts()
    settings = SessionSettings(recordings_dir=work / "rec")
    hotline = Hotline(agent, None, observer, prompts, settings)  # type: ignore[arg-type]
    hotline.router = PoolRouter(f"sip:pool@127.0.0.1:{eng_port}", engineers, hotline.reservations.held,
                                patience_s)
    hotline.start()
    sampler = PeakSampler(lambda: sum(q.waiting for q in hotline.queues.stats().values()))
    stay_ms = int((len(prompts.greeting("hq")) / 8000 + patience_s) * 1000)
    t0 = time.monotonic()
    caller = start_sipp(
        CALLER_SCENARIO.format(called="hq", caller="1000", rx_port=caller_rx.port, pt=0, codec="PCMU",
                               middle=f'  <pause milliseconds="{stay_ms}"/>'),
        work / "caller", "caller", target=f"127.0.0.1:{agent.port}", sip_port=free_udp_port(),
        media_port=free_udp_ports(1)[0], calls=callers)
    deadline = time.monotonic() + stay_ms / 1000 + 60
    while time.monotonic() < deadline and len(observer.timings) < callers:
        time.sleep(0.2)
    wall = time.monotonic() - t0
    peaks = sampler.stop()
    hotline.stop()
    caller.kill()
    phone.kill()
    lost, jitters = _rtp_stats(caller_rx)
    caller_rx.close()
    eng_rx.close()
    queued = [t["queue"] for t, _ in observer.timings if t.get("queue")]
    answered_waits = [q["wait_s"] for q in queued if q.get("outcome") == "answered"]
    abandoned = [q for q in queued if q.get("outcome") == "abandoned"]
    return {
        "scenario": "queue",
        "callers": callers,
        "engineers": engineers,
        "talk_s": talk_s,
        "patience_s": patience_s,
        "calls_ended": len(observer.timings),
        "answered_without_queue": sum(1 for t, _ in observer.timings
                                      if not t.get("queue") and t.get("talk_s")),
        "queued": len(queued),
        "answered_from_queue": len(answered_waits),
        "abandoned": len(abandoned),
        "other_outcomes": sorted({q.get("outcome", "") for q in queued} - {"answered", "abandoned"}),
        "wait_s_p50": _percentile(answered_waits, 50),
        "wait_s_p95": _percentile(answered_waits, 95),
        "wait_s_max": max(answered_waits, default=None),
        "abandoned_after_s_p50": _percentile([q["wait_s"] for q in abandoned], 50),
        "peak_queue_length": peaks["gauge"],
        "rtp_lost_packets": lost,
        "prompt_jitter_ms_median": round(statistics.median(jitters), 3) if jitters else None,
        "wall_s": round(wall, 1),
        "peak_threads": peaks["threads"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=5)
    parser.add_argument("--talk-s", type=float, default=6.0)
    parser.add_argument("--no-analysis-only", action="store_true")
    parser.add_argument("--flood", type=int, default=0, help="INVITEs in the flood phase (0: none, ≤ 2000)")
    parser.add_argument("--no-load", action="store_true", help="skip the load runs (flood phase only)")
    parser.add_argument("--queue-callers", type=int, default=0, help="callers in the queue phase (0: none)")
    parser.add_argument("--engineers", type=int, default=5, help="engineers in the queue phase")
    parser.add_argument("--queue-talk-s", type=float, default=4.0, help="each queue-phase conversation")
    parser.add_argument("--patience-s", type=float, default=60.0, help="a queue-phase caller gives up after")
    args = parser.parse_args()
    if not 0 <= args.queue_callers <= 200 or not 1 <= args.engineers <= 50 or args.patience_s > 100:
        parser.error("bounded queue phase: --queue-callers ≤ 200, 1 ≤ --engineers ≤ 50, --patience-s ≤ 100")
    if not 1 <= args.calls <= 200 or args.talk_s > 100 or not 0 <= args.flood <= 2000:
        parser.error("bounded load: 1 ≤ --calls ≤ 200, --talk-s ≤ 100, 0 ≤ --flood ≤ 2000")
    runs = []
    if not args.no_load:
        runs.append(run_once(args.calls, args.talk_s, analysis=False))
        if not args.no_analysis_only:
            runs.append(run_once(args.calls, args.talk_s, analysis=True))
    if args.flood:
        runs.append(flood_once(args.flood))
    if args.queue_callers:
        runs.append(queue_once(args.queue_callers, args.engineers, args.queue_talk_s, args.patience_s))
    print(json.dumps({"benchmark": "sip_load", "runs": runs}, indent=2))


if __name__ == "__main__":
    main()
