"""Media plane capacity: N bridged calls with analysis off, gaps measured out of process (not a test).

sipp places N concurrent calls through greeting, ringing and bridge to a sipp engineer
phone; both phones' SDP point at RTP receivers in a separate process
(``bench/rtp_gap_receiver.py``), so what is measured is what the node sent. Prints JSON
per N: calls completed (recordings), streams, lost packets, largest inter-arrival gap,
streams with a gap over 60 ms, the media engine's late ticks and longest tick, CPU seconds
per call-minute, peak threads and RSS.

    .venv/bin/python bench/media_capacity.py --calls 20 50 100 --talk-s 10
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import soundfile as sf

REPO = Path(__file__).parents[1]
sys.path.insert(0, str(REPO))

from bench.sip_load import FixedRouter, NullObserver  # noqa: E402
from ivr.call_session import SessionSettings  # noqa: E402
from ivr.hotline import Hotline  # noqa: E402
from ivr.pyvoip_adapter import SipUserAgent  # noqa: E402
from ivr.pyvoip_adapter.media_engine import MediaEngine  # noqa: E402
from ivr.recorded_prompts import RecordedPrompts  # noqa: E402
from ivr.sipp_peers import (  # noqa: E402
    CALLER_SCENARIO,
    ENGINEER_SCENARIO,
    free_udp_port,
    free_udp_ports,
    start_sipp,
    stream_media,
)

SPEECH = REPO / "deskline" / "demo_audio"


def run_once(calls: int, talk_s: float) -> dict:
    work = Path(tempfile.mkdtemp(prefix="deskline-media-"))
    ulaw = work / "speech.ulaw"
    pcm, _ = sf.read(SPEECH / "c01.wav", dtype="int16")
    sf.write(ulaw, pcm, 8000, format="RAW", subtype="ULAW")
    caller_rx_port, eng_rx_port = free_udp_ports(2)
    prompts = RecordedPrompts()
    stay_ms = int((len(prompts.greeting("hq")) / 8000 + 0.5 + talk_s) * 1000)
    receivers = subprocess.Popen(
        [sys.executable, str(REPO / "bench" / "rtp_gap_receiver.py"), "--ports", str(caller_rx_port),
         str(eng_rx_port), "--seconds", str(stay_ms / 1000 + 120)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert receivers.stderr is not None and receivers.stderr.readline().strip() == "ready"
    eng_port = free_udp_port()
    engineer = start_sipp(
        ENGINEER_SCENARIO.format(user="zw", ring_ms=500, rx_port=eng_rx_port, pt=0, codec="PCMU",
                                 media=stream_media(ulaw, 0)),
        work / "eng", "eng", target=None, sip_port=eng_port, media_port=free_udp_ports(1)[0], calls=calls,
    )
    agent = SipUserAgent("127.0.0.1", free_udp_port(), max_calls=calls, max_calls_per_source=calls)
    hotline = Hotline(agent, FixedRouter(f"sip:zw@127.0.0.1:{eng_port}"), NullObserver(), prompts,
                      SessionSettings(recordings_dir=work / "rec"))
    hotline.start()
    engine = MediaEngine.shared()
    late0, ticks0 = engine.late_ticks, engine.ticks
    engine.max_tick_ms = 0.0
    peak_threads = [threading.active_count()]
    sampling = threading.Event()

    def sample() -> None:
        while not sampling.wait(0.1):
            peak_threads[0] = max(peak_threads[0], threading.active_count())

    threading.Thread(target=sample, daemon=True).start()
    cpu0, t0 = time.process_time(), time.monotonic()
    caller = start_sipp(
        CALLER_SCENARIO.format(called="hq", caller="1000", rx_port=caller_rx_port, pt=0, codec="PCMU",
                               middle=stream_media(ulaw, 0, 2000, stay_ms)),
        work / "caller", "caller", target=f"127.0.0.1:{agent.port}", sip_port=free_udp_port(),
        media_port=free_udp_ports(1)[0], calls=calls,
    )
    rc = caller.wait(stay_ms / 1000 + 90)
    deadline = time.monotonic() + 30
    while hotline.active_calls and time.monotonic() < deadline:
        time.sleep(0.1)
    wall, cpu = time.monotonic() - t0, time.process_time() - cpu0
    sampling.set()
    hotline.stop()
    engineer.kill()
    out, _ = receivers.communicate("", timeout=30)
    gaps = json.loads(out)
    call_minutes = calls * (stay_ms / 1000) / 60
    return {
        "calls": calls,
        "sipp_exit": rc,
        "recordings": len(list((work / "rec").rglob("*.wav"))),
        "to_callers": gaps[str(caller_rx_port)],
        "to_engineers": gaps[str(eng_rx_port)],
        "engine_late_ticks": engine.late_ticks - late0,
        "engine_ticks": engine.ticks - ticks0,
        "engine_longest_tick_ms": round(engine.max_tick_ms, 1),
        "engine_skipped_s": round(engine.skipped_s, 2),
        "wall_s": round(wall, 1),
        "cpu_s_per_call_minute": round(cpu / call_minutes, 3),
        "peak_threads": peak_threads[0],
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, nargs="+", default=[20, 50, 100])
    parser.add_argument("--talk-s", type=float, default=10.0)
    args = parser.parse_args()
    if any(not 1 <= n <= 200 for n in args.calls) or args.talk_s > 60:
        parser.error("bounded: 1 ≤ calls ≤ 200, --talk-s ≤ 60")
    print(json.dumps({"benchmark": "media_capacity", "runs": [run_once(n, args.talk_s) for n in args.calls]},
                     indent=2))


if __name__ == "__main__":
    main()
