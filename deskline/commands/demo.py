"""``deskline demo``: the hotline on loopback, one scripted call through real SIP peers, its scorecard.

Two sipp processes play the people: the engineer 张伟's phone (rings 2 s, answers,
speaks the greeting, a promise and the closing) and a caller (hears the greeting
prompt, waits for the engineer, describes a problem, hangs up). The hotline answers,
greets, rings the engineer, bridges, records and checks the call live; the demo prints
the stored, scored call and the console's address.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from deskline.config import DEFAULT_CONFIG, load_config
from deskline.errors import UserError, user_errors
from deskline.report import call_as_text

AUDIO = Path(__file__).parents[1] / "demo_audio"
RING_MS = 2000
GAP_S = 0.7
DEMO_SUPERVISOR = ("主管", "deskline-demo")


def _free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _speech(*parts: tuple[str, float]) -> np.ndarray:
    """Utterances with the silence before each one (seconds)."""
    chunks = []
    for name, silence_s in parts:
        pcm, rate = sf.read(AUDIO / f"{name}.wav", dtype="int16")
        chunks += [np.zeros(int(silence_s * rate), dtype=np.int16), pcm]
    return np.concatenate(chunks)


def _write_ulaw(pcm: np.ndarray, path: Path) -> Path:
    sf.write(path, pcm, 8000, format="RAW", subtype="ULAW")
    return path


def _seconds(name: str) -> float:
    return sf.info(AUDIO / f"{name}.wav").duration


def run(args: argparse.Namespace) -> int:
    if shutil.which("sipp") is None:
        raise UserError("sipp is not installed (Debian package sip-tester): run ./install.sh first")
    from deskline.console_runtime import ConsoleServer, build_app
    from deskline.hotline_runtime import prompts_for, start_hotline
    from ivr.sipp_peers import (
        CALLER_SCENARIO,
        ENGINEER_SCENARIO,
        RtpReceiver,
        free_udp_port,
        free_udp_ports,
        start_sipp,
        stream_media,
    )
    from models.store import Store
    from routing.config import parse_lines, parse_roster
    from web.live import LiveHub
    from web.users import add_user

    work = Path(args.workdir or "var/demo").resolve()
    work.mkdir(parents=True, exist_ok=True)
    with user_errors():
        cfg = load_config(DEFAULT_CONFIG)
    engineer_port, engineer_media = free_udp_port(), free_udp_ports(1)[0]
    caller_port, caller_media = free_udp_port(), free_udp_ports(1)[0]
    cfg.hotline.sip_port = free_udp_port()
    cfg.hotline.recordings_dir = work / "recordings"
    cfg.store_path = work / "deskline.db"
    cfg.console.port = _free_tcp_port()
    # A 7×24 demo line, so the demo works at any hour; the real lines keep their calendars.
    cfg.lines = parse_lines(
        [
            {
                "id": "demo",
                "name": "演示热线",
                "number": "demo",
                "calendar": "web",
                "web_url": "https://desk.example.com",
            }
        ],
        "demo",
    )
    cfg.roster = parse_roster(
        [
            {
                "name": "张伟",
                "sip": f"sip:zhangwei@127.0.0.1:{engineer_port}",
                "certified": True,
                "lines": ["demo"],
            }
        ],
        "demo",
    )

    store = Store(cfg.store_path)
    if store.get_user(DEMO_SUPERVISOR[0]) is None:
        add_user(store, *DEMO_SUPERVISOR[:1], "supervisor", DEMO_SUPERVISOR[1])
    if store.get_user("张伟") is None:
        add_user(store, "张伟", "engineer", "zhangwei-demo")
    hub = LiveHub()
    print("Starting the hotline and the console on 127.0.0.1 …", file=sys.stderr)
    node = start_hotline(cfg, store, publish=hub.publish)
    console = ConsoleServer(build_app(cfg, store, hub), "127.0.0.1", cfg.console.port)
    console.start()

    greeting_s = len(prompts_for(cfg).greeting("demo")) / 8000
    engineer_speech = _speech(("e01", 0.3), ("e13", _seconds("c01") + 2 * GAP_S), ("e16", GAP_S))
    # The caller speaks after the greeting prompt, the ringing and the engineer's greeting.
    caller_wait_s = greeting_s + RING_MS / 1000 + 0.3 + _seconds("e01") + GAP_S + 0.5
    caller_speech = _speech(("c01", 0.0))
    talk_ms = int((caller_wait_s + len(engineer_speech) / 8000 + 1.5) * 1000)

    tmp = Path(tempfile.mkdtemp(prefix="deskline-demo-"))
    rx_engineer, rx_caller = RtpReceiver(), RtpReceiver()
    engineer = start_sipp(
        ENGINEER_SCENARIO.format(
            user="zhangwei",
            ring_ms=RING_MS,
            rx_port=rx_engineer.port,
            pt=0,
            codec="PCMU",
            media=stream_media(_write_ulaw(engineer_speech, tmp / "engineer.ulaw"), 0),
        ),
        tmp / "engineer",
        "engineer",
        target=None,
        sip_port=engineer_port,
        media_port=engineer_media,
    )
    time.sleep(0.3)
    caller = start_sipp(
        CALLER_SCENARIO.format(
            called="demo",
            caller="13800138000",
            rx_port=rx_caller.port,
            pt=0,
            codec="PCMU",
            middle=stream_media(
                _write_ulaw(caller_speech, tmp / "caller.ulaw"),
                0,
                int(caller_wait_s * 1000),
                talk_ms - int(caller_wait_s * 1000),
            ),
        ),
        tmp / "caller",
        "caller",
        target=f"127.0.0.1:{node.agent.port}",
        sip_port=caller_port,
        media_port=caller_media,
    )
    print(f"Calling the hotline (about {talk_ms / 1000:.0f} s of conversation) …", file=sys.stderr)
    try:
        if caller.wait(talk_ms / 1000 + 30) != 0:
            raise UserError(f"the scripted caller failed:\n{caller.output()}")
        if not node.observer.wait_for_calls(1, timeout=180):
            raise UserError("the call was not finished and scored within 3 minutes")
        call = store.get_call(node.observer.done_ids[0])
        assert call is not None
        print(call_as_text(call), end="")
        print(f"\nRecording: {call.audio_path}")
        user, password = DEMO_SUPERVISOR
        print(f"Console:   {console.url}calls/{call.id}  (sign in as {user} / {password})")
        if args.keep_running:
            print("Console keeps running; Ctrl-C to stop.", file=sys.stderr)
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        caller.kill()
        engineer.kill()
        rx_engineer.close()
        rx_caller.close()
        node.stop()
        console.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0
