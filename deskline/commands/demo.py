"""``deskline demo``: the hotline on loopback, one scripted call through real SIP peers, its scorecard.

Two sipp processes play the people: the engineer 张伟's phone (rings 2 s, answers,
speaks a script) and a caller (hears the greeting prompt, waits for the engineer,
describes a problem, stays on the line until the engineer has finished). The hotline
answers, greets, rings the engineer, bridges, records and checks the call live; the demo
prints the stored, scored call and the console's address.

Scenarios: ``good`` (greeting with name, a definite callback time, the closing phrase)
and ``bad`` (the same call with a 3.5(1) refusal, 「这个问题我们不管」, in the middle), to
see a finding arrive on the live board and in the scorecard.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from deskline.config import DEFAULT_CONFIG, load_config
from deskline.errors import UserError, user_errors
from deskline.report import call_as_text
from ivr.sipp_peers import free_tcp_port

AUDIO = Path(__file__).parents[1] / "demo_audio"
RING_MS = 2000
GAP_S = 0.7
DEMO_SUPERVISOR = ("主管", "deskline-demo")
DEMO_ENGINEER = ("张伟", "zhangwei-demo")

# What the engineer says, as (clip, seconds of silence before it); "c01" stands for the
# time the caller speaks. The caller's problem always follows the engineer's greeting.
SCENARIOS: dict[str, list[tuple[str, float]]] = {
    "good": [("e01", 0.3), ("c01", 2 * GAP_S), ("e13", 0.0), ("e16", GAP_S)],
    "bad": [("e01", 0.3), ("c01", 2 * GAP_S), ("e04", 0.0), ("e13", 2 * GAP_S), ("e16", GAP_S)],
}


def _clip(name: str) -> np.ndarray:
    pcm, rate = sf.read(AUDIO / f"{name}.wav", dtype="int16")
    if rate != 8000:
        raise UserError(f"{AUDIO / name}.wav: demo audio must be 8 kHz, it is {rate} Hz")
    return pcm


def _engineer_speech(script: list[tuple[str, float]]) -> np.ndarray:
    """The engineer's side of the script; the caller's turns become silence of their length."""
    chunks = []
    for name, silence_s in script:
        pcm = _clip(name)
        chunks.append(np.zeros(int(silence_s * 8000), dtype=np.int16))
        chunks.append(np.zeros_like(pcm) if name.startswith("c") else pcm)
    return np.concatenate(chunks)


def _write_ulaw(pcm: np.ndarray, path: Path) -> Path:
    sf.write(path, pcm, 8000, format="RAW", subtype="ULAW")
    return path


@dataclass
class PlacedCall:
    """A scripted call in progress: the two sipp peers and when the conversation ends."""

    caller: Any
    engineer: Any
    receivers: tuple[Any, Any]
    talk_s: float

    def wait(self) -> None:
        """Until the caller hangs up; a failed peer is a UserError with its output."""
        if self.caller.wait(self.talk_s + 30) != 0:
            raise UserError(f"the scripted caller failed:\n{self.caller.output()}")

    def running(self) -> bool:
        return self.caller.process.poll() is None

    def close(self) -> None:
        self.caller.kill()
        self.engineer.kill()
        for receiver in self.receivers:
            receiver.close()


def place_scripted_call(hotline_port: int, dialled: str, engineer_port: int, engineer_media: int,
                        greeting_s: float, scenario: str, workdir: Path) -> PlacedCall:
    """sipp as the engineer's phone (on ``engineer_port``, rings 2 s, speaks the scenario's
    script) and as a caller dialling ``dialled`` at the hotline on 127.0.0.1:``hotline_port``."""
    from ivr.sipp_peers import (
        CALLER_SCENARIO,
        ENGINEER_SCENARIO,
        RtpReceiver,
        free_udp_port,
        free_udp_ports,
        start_sipp,
        stream_media,
    )

    script = SCENARIOS[scenario]
    engineer_speech = _engineer_speech(script)
    # The caller speaks at its turn in the engineer's script, after the greeting prompt
    # and the ringing; it stays on the line 2 s past the engineer's last word.
    turn_s = sum(len(_clip(n)) / 8000 + s for n, s in script[: [n for n, _ in script].index("c01")])
    caller_wait_s = greeting_s + RING_MS / 1000 + turn_s + GAP_S
    caller_speech = _clip("c01")
    talk_s = greeting_s + RING_MS / 1000 + len(engineer_speech) / 8000 + 2.0
    tmp = Path(tempfile.mkdtemp(prefix=f"{scenario}-", dir=workdir))
    rx_engineer, rx_caller = RtpReceiver(), RtpReceiver()
    engineer = start_sipp(
        ENGINEER_SCENARIO.format(
            user="zhangwei", ring_ms=RING_MS, rx_port=rx_engineer.port, pt=0, codec="PCMU",
            media=stream_media(_write_ulaw(engineer_speech, tmp / "engineer.ulaw"), 0),
        ),
        tmp / "engineer", "engineer", target=None, sip_port=engineer_port, media_port=engineer_media,
    )
    time.sleep(0.3)
    caller = start_sipp(
        CALLER_SCENARIO.format(
            called=dialled, caller="13800138000", rx_port=rx_caller.port, pt=0, codec="PCMU",
            middle=stream_media(_write_ulaw(caller_speech, tmp / "caller.ulaw"), 0,
                                int(caller_wait_s * 1000),
                                int((talk_s - caller_wait_s - len(caller_speech) / 8000) * 1000)),
        ),
        tmp / "caller", "caller", target=f"127.0.0.1:{hotline_port}",
        sip_port=free_udp_port(), media_port=free_udp_ports(1)[0],
    )
    return PlacedCall(caller, engineer, (rx_engineer, rx_caller), talk_s)


class DemoRig:
    """The demo hotline (a 7×24 line, one engineer) and console on loopback, in ``workdir``.

    The tests use it too: the live board's browser test places a real call through it.
    """

    def __init__(self, workdir: Path) -> None:
        if shutil.which("sipp") is None:
            raise UserError("sipp is not installed (Debian package sip-tester): run ./install.sh first")
        from ivr.sipp_peers import free_udp_port, free_udp_ports
        from routing.config import parse_lines, parse_roster

        self.work = workdir.resolve()
        self.work.mkdir(parents=True, exist_ok=True)
        with user_errors():
            cfg = load_config(DEFAULT_CONFIG)
        self.engineer_port, self.engineer_media = free_udp_port(), free_udp_ports(1)[0]
        cfg.hotline.sip_port = free_udp_port()
        cfg.hotline.recordings_dir = self.work / "recordings"
        cfg.store_path = self.work / "deskline.db"
        cfg.console.port = free_tcp_port()
        # A 7×24 demo line, so the demo works at any hour; the real lines keep their calendars.
        cfg.lines = parse_lines(
            [{"id": "demo", "name": "演示热线", "number": "demo", "calendar": "web",
              "web_url": "https://desk.example.com"}],
            "demo",
        )
        cfg.roster = parse_roster(
            [{"name": DEMO_ENGINEER[0], "sip": f"sip:zhangwei@127.0.0.1:{self.engineer_port}",
              "certified": True, "lines": ["demo"]}],
            "demo",
        )
        self.cfg = cfg
        self.tmp = Path(tempfile.mkdtemp(prefix="deskline-demo-"))
        self.node: Any = None
        self.console: Any = None

    def start(self) -> DemoRig:
        from deskline.console_runtime import ConsoleServer, build_app
        from deskline.hotline_runtime import start_hotline
        from models.store import Store
        from web.live import LiveHub
        from web.users import add_user

        self.store = Store(self.cfg.store_path)
        for (name, password), role in ((DEMO_SUPERVISOR, "supervisor"), (DEMO_ENGINEER, "engineer")):
            if self.store.get_user(name) is None:
                add_user(self.store, name, role, password)
        self.hub = LiveHub()
        self.node = start_hotline(self.cfg, self.store, publish=self.hub.publish)
        app = build_app(self.cfg, self.store, self.hub)
        self.console = ConsoleServer(app, "127.0.0.1", self.cfg.console.port)
        try:
            self.console.start()
        except RuntimeError as e:
            raise UserError(str(e)) from None
        return self

    def place_call(self, scenario: str = "good") -> PlacedCall:
        from deskline.hotline_runtime import prompts_for

        greeting_s = len(prompts_for(self.cfg).greeting("demo")) / 8000
        return place_scripted_call(self.node.agent.port, "demo", self.engineer_port, self.engineer_media,
                                   greeting_s, scenario, self.tmp)

    def wait_scored(self, count: int = 1, timeout: float = 180) -> Any:
        """The ``count``-th finished call, stored and scored."""
        if not self.node.observer.wait_for_calls(count, timeout=timeout):
            raise UserError(f"the call was not finished and scored within {timeout:.0f} s")
        call = self.store.get_call(self.node.observer.done_ids[count - 1])
        assert call is not None
        return call

    def stop(self) -> None:
        if self.node is not None:
            self.node.stop()
        if self.console is not None:
            self.console.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)


def run(args: argparse.Namespace) -> int:
    rig = DemoRig(Path(args.workdir or "var/demo"))
    print("Starting the hotline and the console on 127.0.0.1 …", file=sys.stderr)
    rig.start()
    print(f"Live board: {rig.console.url}live  (sign in as {DEMO_SUPERVISOR[0]} / {DEMO_SUPERVISOR[1]})",
          file=sys.stderr)
    call: PlacedCall | None = None
    try:
        call = rig.place_call(args.scenario)
        print(f"Calling the hotline (about {call.talk_s:.0f} s of conversation) …", file=sys.stderr)
        call.wait()
        scored = rig.wait_scored()
        print(call_as_text(scored), end="")
        print(f"\nRecording: {scored.audio_path}")
        user, password = DEMO_SUPERVISOR
        print(f"Console:   {rig.console.url}calls/{scored.id}  (sign in as {user} / {password})")
        if args.keep_running:
            print("Console keeps running; Ctrl-C to stop.", file=sys.stderr)
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        if call is not None:
            call.close()
        rig.stop()
    return 0
