"""Live analysis under load: N concurrent sipp calls through the hotline, real Mandarin on both legs.

Not a test. Each call is answered, greeted, rung through to one sipp "engineer phone"
(which takes any number of calls), bridged, recorded and analysed live with Whisper
through the node's recognition scheduler. The engineer's phone plays a greeting
(e01), then the forbidden phrase 这个问题我们不管 (e04) at a known time, then the closing
(e16); the caller plays two complaints (c01, c03). Prints JSON per N:

- calls completed (stored with a scorecard), RTP packets lost and prompt jitter seen by
  the callers (receivers in this process: figures blur beyond ~50 calls);
- alert latency: from the end of the forbidden phrase (as the hotline received it) to
  the 3.5(1) finding published by the observer (what the live board's SSE stream sends),
  p50/p95/max over the calls;
- CPU-seconds of the whole process per call-minute of talk, peak RSS;
- the scheduler's backlog (peak queued segments and audio, peak oldest wait) and the
  caller segments deferred to after the call.

    .venv/bin/python bench/live_capacity.py --calls 1 5 10        # N ≤ 20, ≤ ~3 min per N

``--one-segment-per-window`` runs the same calls with every segment decoded in its own
window (no packing: the cost model of the code before the scheduler) for comparison.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

REPO = Path(__file__).parents[1]
sys.path.insert(0, str(REPO))

from bench.sip_load import FixedRouter  # noqa: E402  (one engineer name per call: engineers are reserved)
from deskline.config import DEFAULT_CONFIG, load_config  # noqa: E402
from deskline.hotline_service import AnalysingObserver  # noqa: E402
from ivr.call_session import SessionSettings  # noqa: E402
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
from models.store import Store  # noqa: E402
from routing.dispatch import DispatchState  # noqa: E402
from speech.audio import resample  # noqa: E402
from speech.qa.rulefile import load_rules  # noqa: E402
from speech.recognition_scheduler import RecognitionScheduler  # noqa: E402
from speech.vad import find_speech  # noqa: E402

TTS = REPO / "tests" / "fixtures" / "audio" / "tts"
RATE = 8000
RING_MS = 500


def _clip(name: str) -> np.ndarray:
    pcm, sr = sf.read(TTS / f"{name}.wav", dtype="int16")
    return resample(pcm, sr, RATE)


def _silence(seconds: float) -> np.ndarray:
    return np.zeros(round(seconds * RATE), dtype=np.int16)


def build_tracks(work: Path) -> tuple[Path, Path, float, float, float]:
    """μ-law files for both phones; where the forbidden phrase ends in the engineer's track."""
    greeting, refusal, closing = _clip("e01"), _clip("e04"), _clip("e16")
    engineer = np.concatenate([_silence(0.3), greeting, _silence(1.0), refusal, _silence(1.5), closing,
                               _silence(0.5)])
    refusal_at = (0.3 * RATE + len(greeting) + 1.0 * RATE) / RATE
    voiced = find_speech(refusal, RATE)
    refusal_end = refusal_at + voiced[-1].speech_end
    caller = np.concatenate([_clip("c01"), _silence(2.0), _clip("c03")])
    paths = []
    for name, pcm in (("engineer", engineer), ("caller", caller)):
        path = work / f"{name}.ulaw"
        sf.write(path, pcm, RATE, format="RAW", subtype="ULAW")
        paths.append(path)
    return paths[0], paths[1], refusal_end, len(engineer) / RATE, len(caller) / RATE


class TimedObserver(AnalysingObserver):
    """The product's observer, noting when each call's engineer frames arrive (wall clock)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.wall_minus_call_clock: dict[str, float] = {}
        self.joined_at: dict[str, float] = {}

    def audio(self, call_id: str, leg: Any, t: float, pcm: np.ndarray) -> None:
        if leg == "engineer" and call_id in self.calls and self.calls[call_id].answered:
            offset = time.monotonic() - t
            self.wall_minus_call_clock[call_id] = min(offset, self.wall_minus_call_clock.get(call_id, offset))
            self.joined_at.setdefault(call_id, t)
        super().audio(call_id, leg, t, pcm)


def _rtp_stats(rx: RtpReceiver) -> tuple[int, list[float]]:
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


def _percentile(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 3) if values else None


def run_once(calls: int, one_segment_per_window: bool, workers: int) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="deskline-capacity-"))
    engineer_track, caller_track, refusal_end, engineer_s, caller_s = build_tracks(work)
    cfg = load_config(DEFAULT_CONFIG)
    cfg.speech.recognition_workers = workers
    store = Store(work / "bench.db")
    alerts: dict[str, float] = {}
    lock = threading.Lock()

    def publish(event: dict[str, Any]) -> None:
        if event["type"] == "finding" and event["finding"]["clause"] == "3.5(1)" \
                and event["finding"]["verdict"] == "fail":
            with lock:
                alerts.setdefault(event["call_id"], time.monotonic())

    observer = TimedObserver(cfg, store, load_rules(), "whisper", DispatchState(), publish)
    scheduler: RecognitionScheduler = observer.scheduler  # type: ignore[assignment]
    if one_segment_per_window:
        from dataclasses import replace

        scheduler.settings = replace(scheduler.settings, fill_s=0.01)
    # Warm the model up outside the measurement (first decode allocates).
    scheduler.decode(find_speech(_clip("e03"), RATE), RATE)

    eng_port, eng_media = free_udp_port(), free_udp_ports(1)[0]
    eng_rx, caller_rx = RtpReceiver(), RtpReceiver()
    engineer = start_sipp(
        ENGINEER_SCENARIO.format(user="zw", ring_ms=RING_MS, rx_port=eng_rx.port, pt=0, codec="PCMU",
                                 media=stream_media(engineer_track, 0)),
        work / "eng", "eng", target=None, sip_port=eng_port, media_port=eng_media, calls=calls)
    agent = SipUserAgent("127.0.0.1", free_udp_port(), max_calls=calls, max_calls_per_source=calls)
    prompts = RecordedPrompts()
    greeting_s = len(prompts.greeting("hq")) / RATE
    talk_s = max(engineer_s, caller_s) + 1.5  # the engineer's track is the longer one
    stay_ms = int((greeting_s + RING_MS / 1000 + 1.0 + talk_s) * 1000)
    hotline = Hotline(agent, FixedRouter(f"sip:zw@127.0.0.1:{eng_port}"), observer, prompts,
                      SessionSettings(recordings_dir=work / "rec"))
    hotline.start()
    peak = {"queued_segments": 0, "queued_audio_s": 0.0, "oldest_wait_s": 0.0}
    sampling = threading.Event()

    def sample_backlog() -> None:
        while not sampling.wait(0.2):
            s = scheduler.stats()
            peak["queued_segments"] = max(peak["queued_segments"], s.queued_segments)
            peak["queued_audio_s"] = max(peak["queued_audio_s"], s.queued_audio_s)
            peak["oldest_wait_s"] = max(peak["oldest_wait_s"], s.oldest_wait_s)

    sampler = threading.Thread(target=sample_backlog, daemon=True)
    sampler.start()
    cpu0, t0 = time.process_time(), time.monotonic()
    caller = start_sipp(
        CALLER_SCENARIO.format(called="hq", caller="1000", rx_port=caller_rx.port, pt=0, codec="PCMU",
                               middle=stream_media(caller_track, 0,
                                                   int((greeting_s + RING_MS / 1000 + 1.0) * 1000),
                                                   # rtp_stream plays in the background:
                                                   int(talk_s * 1000))),  # the pause is the talk
        work / "caller", "caller", target=f"127.0.0.1:{agent.port}", sip_port=free_udp_port(),
        media_port=free_udp_ports(1)[0], calls=calls)
    rc = caller.wait(stay_ms / 1000 + 60)
    stored = observer.wait_for_calls(calls, timeout=300)
    wall, cpu = time.monotonic() - t0, time.process_time() - cpu0
    sampling.set()
    stats = scheduler.stats()
    hotline.stop()
    observer.stop()
    caller.kill()
    engineer.kill()
    lost, jitters = _rtp_stats(caller_rx)
    caller_rx.close()
    eng_rx.close()
    latencies = []
    for call_id, at in alerts.items():
        if call_id in observer.joined_at:
            said_at = observer.joined_at[call_id] + refusal_end + observer.wall_minus_call_clock[call_id]
            latencies.append(at - said_at)
    done = [c for c in (store.get_call(i) for i in observer.done_ids) if c and c.scorecard]
    return {
        "calls": calls,
        "packing": "one segment per window" if one_segment_per_window else "packed",
        "recognition_workers": workers,
        "sipp_exit": rc,
        "all_stored_in_time": stored,
        "calls_completed": len(done),
        "alerts_heard": len(latencies),
        "alert_latency_s": {"p50": _percentile(latencies, 50), "p95": _percentile(latencies, 95),
                            "max": _percentile(latencies, 100)},
        "rtp_lost_packets": lost,
        "prompt_jitter_ms_median": round(statistics.median(jitters), 3) if jitters else None,
        "talk_s_per_call": round(talk_s, 1),
        "cpu_s_per_call_minute": round(cpu / (calls * talk_s / 60), 2),
        "wall_s": round(wall, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "backlog_peak": peak,
        "caller_segments_deferred": stats.deferred_total,
        "engineer_segments_late": stats.late_total,
        "windows": stats.windows_total,
        "segments": stats.segments_total,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, nargs="+", default=[1, 5, 10])
    parser.add_argument("--one-segment-per-window", action="store_true")
    parser.add_argument("--workers", type=int, default=2, help="[speech] recognition_workers")
    args = parser.parse_args()
    if any(not 1 <= n <= 20 for n in args.calls) or not 1 <= args.workers <= 4:
        parser.error("bounded load: 1 ≤ N ≤ 20 calls per run, 1–4 workers")
    runs = [run_once(n, args.one_segment_per_window, args.workers) for n in args.calls]
    print(json.dumps({"benchmark": "live_capacity", "runs": runs}, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
