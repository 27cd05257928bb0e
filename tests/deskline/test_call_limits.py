"""Hostile calls cannot fill the disk or the ticket queue (issue 9, item 9): a voicemail is cut off
at ``voicemail_max_s``, a number gets ``voicemails_per_caller_per_hour`` voicemails, and past the
recordings cap (warning at 90 %) calls are handled without being recorded. The budgets are
checked with ``NodeLimits`` directly and on real calls (sipp caller, the node's store).
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import soundfile as sf

from deskline import call_limits
from deskline.call_limits import NodeLimits
from deskline.config import ConfigError, load_config
from ivr.call_session import SessionSettings
from ivr.contracts import RouteDecision
from ivr.hotline import Hotline
from ivr.pyvoip_adapter import SipUserAgent
from ivr.tone_prompts import TonePrompts, tone
from models.store import Store
from tests.ivr.conftest import RecordingObserver
from tests.ivr.peers import (
    CALLER_AWAITING_BYE,
    RtpReceiver,
    free_udp_port,
    free_udp_ports,
    start_sipp,
    stream_media,
    write_g711,
)

NOW = datetime(2026, 11, 25, 20, 0).astimezone()
CALLER = "13800138000"


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_recording_cap_warns_first_then_refuses_and_allows_again_after_cleanup(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    recordings = tmp_path / "recordings"
    (recordings / "2026-11-25").mkdir(parents=True)
    old = recordings / "2026-11-25" / "old.wav"
    old.write_bytes(b"x" * 800)
    clock = Clock()
    caplog.set_level(logging.WARNING, logger="deskline.limits")
    limits = NodeLimits(recordings, 1000, store=None, voicemails_per_hour=3, clock=clock)
    assert limits.used_bytes == 800 and limits.recording_refusal() == ""
    assert caplog.records == []  # 80 %: no warning yet
    new = recordings / "2026-11-25" / "new.wav"
    new.write_bytes(b"x" * 150)
    limits.recorded(new)  # 95 %: warned, still recording
    assert limits.recording_refusal() == ""
    assert len(caplog.records) == 1 and "recordings_max_mb" in caplog.records[0].getMessage()
    third = recordings / "2026-11-25" / "third.wav"
    third.write_bytes(b"x" * 100)
    limits.recorded(third)  # 105 %: refused, and not warned twice
    assert "recordings disk cap reached" in limits.recording_refusal()
    assert len(caplog.records) == 1
    old.unlink()  # someone archived the old recordings
    assert limits.recording_refusal() != "", "rescanned at most every RESCAN_S"
    clock.t += call_limits.RESCAN_S
    assert limits.recording_refusal() == "" and limits.used_bytes == 250


def test_voicemails_per_caller_per_hour(tmp_path: Path) -> None:
    store = Store(tmp_path / "deskline.db")
    limits = NodeLimits(tmp_path / "recordings", 0, store, voicemails_per_hour=3)
    assert limits.recording_refusal() == ""  # 0 = no disk cap
    store.add_ticket("voicemail", created_at=(NOW - timedelta(minutes=70)).isoformat(), caller=CALLER)
    for minutes in (50, 30):
        created = (NOW - timedelta(minutes=minutes)).isoformat()
        store.add_ticket("voicemail", created_at=created, caller=CALLER)
    store.add_ticket("written", created_at=NOW.isoformat(), caller=CALLER)  # not a voicemail
    assert limits.voicemail_refusal(CALLER, NOW) == ""  # two within the hour
    store.add_ticket("voicemail", created_at=(NOW - timedelta(minutes=1)).isoformat(), caller=CALLER)
    assert limits.voicemail_refusal(CALLER, NOW) == f"{CALLER} left 3 voicemails in the last hour (limit 3)"
    assert limits.voicemail_refusal("13900000000", NOW) == ""  # other numbers are not affected
    assert limits.voicemail_refusal(CALLER, NOW + timedelta(minutes=51)) == ""  # only one left in the hour
    turned_off = NodeLimits(tmp_path, 0, store, voicemails_per_hour=0)
    assert "turned off" in turned_off.voicemail_refusal(CALLER, NOW)
    store.close()


@pytest.mark.parametrize(("setting", "value", "message"), [
    ("rtp_timeout_s", -1, "must be 0 or more"),
    ("recordings_max_mb", -5, "must be 0 or more"),
    ("voicemail_max_s", 0, "must be more than 0"),
    ("callback_min_talk_s", "30", "must be float"),
])
def test_limit_settings_are_checked(tmp_path: Path, setting: str, value: object, message: str) -> None:
    shown = f'"{value}"' if isinstance(value, str) else value
    config = tmp_path / "deskline.toml"
    config.write_text(f'[hotline]\n{setting} = {shown}\n[[lines]]\nid = "web"\ncalendar = "web"\n',
                      encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_config(config)


def test_limit_settings_load(tmp_path: Path) -> None:
    config = tmp_path / "deskline.toml"
    config.write_text('[hotline]\nrtp_timeout_s = 20\nmax_call_s = 600\nvoicemails_per_caller_per_hour = 1\n'
                      'recordings_max_mb = 10\ncallback_min_talk_s = 45\n[[lines]]\nid = "web"\n'
                      'calendar = "web"\n', encoding="utf-8")
    h = load_config(config).hotline
    assert (h.rtp_timeout_s, h.max_call_s, h.voicemails_per_caller_per_hour, h.recordings_max_mb,
            h.callback_min_talk_s, h.voicemail_max_s) == (20.0, 600.0, 1, 10, 45.0, 60.0)


# -- on real calls ---------------------------------------------------------------------------

class ClosedLine:
    def route(self, line_number: str, caller: str, now: datetime) -> RouteDecision:
        return RouteDecision("hq", False, None, "https://desk.example.com", [], 15.0)


def closed_line_call(tmp_path: Path, limits: NodeLimits | None, voicemail_max_s: float = 30.0,
                     speak_s: float = 6.0) -> tuple[RecordingObserver, Path]:
    """One caller at a closed line who speaks ``speak_s`` of tone and waits for the hotline's BYE."""
    observer = RecordingObserver()
    recordings = tmp_path / "recordings"
    agent = SipUserAgent("127.0.0.1", 0, max_latency_s=1.0)
    hotline = Hotline(agent, ClosedLine(), observer, TonePrompts(),
                      SessionSettings(recordings, voicemail_max_s=voicemail_max_s), limits=limits)
    hotline.start()
    rx = RtpReceiver()
    speech = write_g711(tone(440, speak_s), tmp_path / "caller.ulaw")
    caller = start_sipp(
        CALLER_AWAITING_BYE.format(called="hq", caller=CALLER, rx_port=rx.port, pt=0, codec="PCMU",
                                   middle=stream_media(speech, 0)),
        tmp_path / "caller", "caller", target=f"127.0.0.1:{agent.port}", sip_port=free_udp_port(),
        media_port=free_udp_ports(1)[0])
    try:
        assert caller.wait(60) == 0, caller.output()  # the hotline ended the call with a BYE
        assert observer.ended.wait(10)
        deadline = time.monotonic() + 10
        while hotline.active_calls and time.monotonic() < deadline:
            time.sleep(0.05)
        assert hotline.active_calls == 0
    finally:
        caller.kill()
        hotline.stop()
        rx.close()
    return observer, recordings


@pytest.mark.slow
def test_voicemail_is_cut_off_at_its_maximum_length(tmp_path: Path) -> None:
    observer, _ = closed_line_call(tmp_path, None, voicemail_max_s=2.0, speak_s=20.0)
    wav = next(e[4] for e in observer.events if e[0] == "voicemail")
    # The call thread checks the limit every 100 ms (media ticks wake it every 5 frames).
    assert 1.95 <= sf.info(str(wav)).duration <= 2.15
    assert observer.ended_calls[0][3] == "voicemail"


@pytest.mark.slow
def test_caller_over_the_voicemail_cap_is_told_and_hung_up_without_a_ticket(tmp_path: Path) -> None:
    store = Store(tmp_path / "deskline.db")
    for minutes in (40, 20):
        store.add_ticket("voicemail", created_at=(datetime.now().astimezone() - timedelta(minutes=minutes))
                         .isoformat(), caller=CALLER)
    limits = NodeLimits(tmp_path / "recordings", 0, store, voicemails_per_hour=2)
    observer, recordings = closed_line_call(tmp_path, limits)
    assert "voicemail" not in observer.names()
    _, recording, _, reason = observer.ended_calls[0]
    assert reason == f"voicemail refused: {CALLER} left 2 voicemails in the last hour (limit 2)"
    assert recording is not None and recording.exists()  # the call itself is still recorded
    assert not (recordings / "voicemail").exists()
    store.close()


@pytest.mark.slow
def test_over_the_disk_cap_the_call_is_handled_but_not_recorded(tmp_path: Path) -> None:
    recordings = tmp_path / "recordings"
    recordings.mkdir()
    (recordings / "earlier.wav").write_bytes(b"x" * 2000)
    limits = NodeLimits(recordings, 1000, store=None, voicemails_per_hour=3)
    observer, _ = closed_line_call(tmp_path, limits)
    assert observer.names() == ["call_started", "call_ended"]
    _, recording, timings, reason = observer.ended_calls[0]
    assert recording is None
    assert reason.startswith("voicemail refused: recordings disk cap reached")
    assert timings["recording_refused"].startswith("recordings disk cap reached")
    assert sorted(p.name for p in recordings.rglob("*") if p.is_file()) == ["earlier.wav"]


@pytest.mark.slow
def test_a_recordings_folder_that_cannot_be_written_leaves_the_call_unrecorded(tmp_path: Path) -> None:
    (tmp_path / "recordings").write_text("not a folder")  # so nothing can be created under it
    observer, _ = closed_line_call(tmp_path, None)
    _, recording, timings, reason = observer.ended_calls[0]
    assert recording is None and timings["recording_refused"].startswith("cannot record:")
    assert reason.startswith("voicemail refused: cannot record:")
