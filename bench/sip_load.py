"""SIP load benchmark: sipp places N concurrent calls against the hotline (not a test).

Every call is answered, greeted, rung through to one sipp "engineer phone" (which takes
any number of calls), bridged and recorded; run once with analysis off and once with
live analysis on (Whisper). Prints JSON: calls completed, RTP packets lost (sequence gaps
seen by the callers), jitter of the prompt playout seen by the callers, CPU seconds and
peak memory per call.

    .venv/bin/python bench/sip_load.py --calls 10 --talk-s 8      # N ≤ 200, ≤ 120 s per run
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).parents[1]
sys.path.insert(0, str(REPO))

from ivr.call_session import SessionSettings  # noqa: E402
from ivr.contracts import EngineerTarget, RouteDecision  # noqa: E402
from ivr.hotline import Hotline  # noqa: E402
from ivr.pyvoip_adapter import SipUserAgent  # noqa: E402
from ivr.recorded_prompts import RecordedPrompts  # noqa: E402
from ivr.sipp_peers import (  # noqa: E402
    CALLER_SCENARIO,
    ENGINEER_SCENARIO,
    RtpReceiver,
    free_udp_port,
    free_udp_ports,
    start_sipp,
    stream_media,
)

SPEECH = REPO / "deskline" / "demo_audio"


class FixedRouter:
    def __init__(self, uri: str) -> None:
        self.uri = uri

    def route(self, line_number: str, caller: str, now: datetime) -> RouteDecision:
        return RouteDecision("hq", True, engineers=[EngineerTarget("张伟", self.uri)], ring_limit_s=15)


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
    agent = SipUserAgent("127.0.0.1", free_udp_port())
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
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=5)
    parser.add_argument("--talk-s", type=float, default=6.0)
    parser.add_argument("--no-analysis-only", action="store_true")
    args = parser.parse_args()
    if not 1 <= args.calls <= 200 or args.talk_s > 100:
        parser.error("bounded load: 1 ≤ --calls ≤ 200 and --talk-s ≤ 100")
    runs = [run_once(args.calls, args.talk_s, analysis=False)]
    if not args.no_analysis_only:
        runs.append(run_once(args.calls, args.talk_s, analysis=True))
    print(json.dumps({"benchmark": "sip_load", "runs": runs}, indent=2))


if __name__ == "__main__":
    main()
