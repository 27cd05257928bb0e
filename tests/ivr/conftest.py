"""Fixtures for the ivr tests: a recording observer, a fixed router, a running hotline."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from ivr.call_session import SessionSettings
from ivr.contracts import EngineerTarget, Prompts, RouteDecision
from ivr.hotline import Hotline
from ivr.pyvoip_adapter import SipUserAgent
from ivr.tone_prompts import TonePrompts

from .peers import load_pcm, write_g711


@dataclass
class RecordingObserver:
    """Keeps every observer event, in order, for assertions."""

    events: list[tuple] = field(default_factory=list)
    audio_frames: dict[str, list[tuple[float, np.ndarray]]] = field(
        default_factory=lambda: {"caller": [], "engineer": []}
    )
    ended: threading.Event = field(default_factory=threading.Event)
    ended_calls: list[tuple] = field(default_factory=list)
    audio_delay_s: float = 0.0
    dialogs: dict[str, dict] = field(default_factory=dict)

    def call_started(self, call_id, line_id, caller, started_at):  # noqa: ANN001, ANN201
        self.events.append(("call_started", call_id, line_id, caller))

    def engineer_ringing(self, call_id, engineer):  # noqa: ANN001, ANN201
        self.events.append(("engineer_ringing", call_id, engineer.name))

    def engineer_answered(self, call_id, engineer, ring_time_s):  # noqa: ANN001, ANN201
        self.events.append(("engineer_answered", call_id, engineer.name, ring_time_s))

    def engineer_no_answer(self, call_id, engineer, rang_s):  # noqa: ANN001, ANN201
        self.events.append(("engineer_no_answer", call_id, engineer.name, rang_s))

    def audio(self, call_id, leg, t, pcm):  # noqa: ANN001, ANN201
        if self.audio_delay_s:
            threading.Event().wait(self.audio_delay_s)
        self.audio_frames[leg].append((t, pcm))

    def call_ended(self, call_id, recording_path, sip_timings, reason):  # noqa: ANN001, ANN201
        self.events.append(("call_ended", call_id, reason))
        self.ended_calls.append((call_id, recording_path, sip_timings, reason))
        if len(self.ended_calls) >= self.expected_calls:
            self.ended.set()

    def dialogs_established(self, call_id, dialogs):  # noqa: ANN001, ANN201
        self.dialogs[call_id] = dialogs  # not an event: the call flow assertions stay as they are

    def voicemail(self, call_id, line_id, caller, wav_path):  # noqa: ANN001, ANN201
        self.events.append(("voicemail", call_id, line_id, caller, wav_path))

    expected_calls: int = 1

    def names(self) -> list[str]:
        return [e[0] for e in self.events]

    def leg_audio(self, leg: str) -> np.ndarray:
        return np.concatenate([pcm for _, pcm in self.audio_frames[leg]])


@dataclass
class FixedRouter:
    decision: RouteDecision
    calls: list[tuple[str, str, datetime]] = field(default_factory=list)

    def route(self, line_number: str, caller: str, now: datetime) -> RouteDecision:
        self.calls.append((line_number, caller, now))
        return self.decision


def open_decision(*engineers: tuple[str, str], ring_limit_s: float = 5.0) -> RouteDecision:
    return RouteDecision(
        "hq",
        True,
        None,
        "https://desk.example.com",
        [EngineerTarget(name, uri) for name, uri in engineers],
        ring_limit_s,
    )


@pytest.fixture
def observer() -> RecordingObserver:
    return RecordingObserver()


@pytest.fixture
def make_hotline(tmp_path: Path) -> Iterator:
    """make_hotline(decision) -> running Hotline on a free port; stopped after the test.

    ``settings`` overrides ``SessionSettings`` fields (e.g. a short ``rtp_timeout_s``)."""
    started: list[Hotline] = []

    def make(decision: RouteDecision, observer: RecordingObserver, prompts: Prompts | None = None,
             now: Callable[[], datetime] = datetime.now, settings: dict | None = None,
             **agent_kwargs) -> Hotline:  # noqa: ANN003
        # A generous jitter allowance: the test machine's 2 cores are shared and often saturated.
        agent = SipUserAgent("127.0.0.1", 0, **{"max_latency_s": 1.0, **agent_kwargs})
        hotline = Hotline(
            agent,
            FixedRouter(decision),
            observer,
            prompts or TonePrompts(),
            SessionSettings(tmp_path / "recordings", **{"voicemail_max_s": 5.0, **(settings or {})}),
            now=now,
        )
        hotline.start()
        started.append(hotline)
        return hotline

    yield make
    for hotline in started:
        hotline.stop()


@pytest.fixture(scope="session")
def speech(tmp_path_factory: pytest.TempPathFactory, audio_dir: Path) -> dict[str, Path | np.ndarray]:
    """Caller and engineer speech as PCM and as raw G.711 files sipp can stream."""
    out = tmp_path_factory.mktemp("speech")
    result: dict[str, Path | np.ndarray] = {}
    for name in ("c01", "c02", "e01", "e02"):
        pcm = load_pcm(audio_dir / "tts" / f"{name}.wav")
        result[name] = pcm
        result[f"{name}.ulaw"] = write_g711(pcm, out / f"{name}.ulaw", "PCMU")
        result[f"{name}.alaw"] = write_g711(pcm, out / f"{name}.alaw", "PCMA")
    return result
