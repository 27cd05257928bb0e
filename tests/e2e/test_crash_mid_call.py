"""A hotline node killed mid-call (kill -9) loses nothing it had: the recording opens with
all but the last second, the utterances and findings the live analysis stored are there,
and at the next start the call is closed as failed with its recording and real duration,
and the engineer's phone, still in the dead call, gets a BYE from the restarted node.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
import soundfile as sf

from deskline.call_recovery import INTERRUPTED
from deskline.commands.demo import place_scripted_call
from ivr import sipp_peers
from ivr.recorded_prompts import RecordedPrompts
from ivr.sipp_peers import free_udp_port, free_udp_ports
from models.store import Store

from .processes import deskline, node_config, stop, wait_for_line

pytestmark = pytest.mark.slow


def live_refusal(db: Path) -> tuple[str, float] | None:
    """(call id, end of the 3.5(1) finding) once the node has stored it live."""
    if not db.exists():
        return None
    store = Store(db)
    try:
        for summary in store.list_calls(status="live").items:
            call = store.get_call(summary.id)
            for f in call.findings if call else []:
                if f.clause == "3.5(1)" and f.verdict == "fail":
                    return call.id, f.end
        return None
    finally:
        store.close()


def patient_engineer(monkeypatch: pytest.MonkeyPatch) -> None:
    """The engineer's sipp phone waits long enough for the BYE to come from the restarted node
    (sipp's usual 20 s receive timeout would end its side of the dead call first)."""
    start = sipp_peers.start_sipp

    def start_sipp(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        if args[2] == "engineer":
            kwargs["extra"] = [*(kwargs.get("extra") or []), "-recv_timeout", "180000", "-timeout", "240s"]
        return start(*args, **kwargs)

    monkeypatch.setattr(sipp_peers, "start_sipp", start_sipp)


def test_killed_node_keeps_recording_and_live_findings(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    patient_engineer(monkeypatch)
    sip_port, (engineer_port, engineer_media) = free_udp_port(), (free_udp_port(), free_udp_ports(1)[0])
    (tmp_path / "deskline.toml").write_text(node_config(sip_port, engineer_port), encoding="utf-8")
    node = deskline("serve", "--no-console", "--config", "deskline.toml", cwd=tmp_path)
    greeting_s = len(RecordedPrompts().greeting("web")) / 8000
    call = None
    try:
        wait_for_line(node, r"Hotline on sip:")
        call = place_scripted_call(sip_port, "hotline", engineer_port, engineer_media, greeting_s, "bad",
                                   tmp_path)
        deadline = time.monotonic() + call.talk_s
        found = None
        while found is None and time.monotonic() < deadline:
            found = live_refusal(tmp_path / "node.db")
            time.sleep(0.3)
        assert found is not None, "the refusal was never stored live"
        assert call.running(), "the node must die during the call, not after it"
        time.sleep(1.5)  # a little more recording after the refusal
        node.send_signal(signal.SIGKILL)
        node.wait(timeout=10)
        call.caller.kill()  # the caller gives up; the engineer's phone stays in the dead call
    except BaseException:
        if call is not None:
            call.close()
        raise
    finally:
        stop(node)
    call_id, refusal_end = found

    recording = next((tmp_path / "rec").glob(f"*/{call_id}.wav"))
    audio, rate = sf.read(recording, dtype="int16")
    assert rate == 8000 and audio.shape[1] == 2
    assert len(audio) / rate > refusal_end, "the recording holds the refusal"
    store = Store(tmp_path / "node.db")
    before = store.get_call(call_id)
    assert before.status == "live" and any(u.speaker == "engineer" for u in before.utterances)
    assert sorted(before.sip_timings["dialogs"]) == ["caller", "engineer"]  # stored when bridged
    store.close()
    assert call.engineer.process.poll() is None, "the engineer's phone is still in the call"

    restarted = deskline("serve", "--no-console", "--config", "deskline.toml", cwd=tmp_path)
    try:
        wait_for_line(restarted, r"Hotline on sip:")
        # sipp's engineer scenario ends (exit 0) only on a BYE, which it answers with 200 OK.
        assert call.engineer.wait(60) == 0, call.engineer.output()
    finally:
        call.close()
        assert stop(restarted) == 0
    store = Store(tmp_path / "node.db")
    after = store.get_call(call_id)
    assert after.status == "failed" and after.sip_timings["end_reason"] == INTERRUPTED
    assert Path(after.audio_path) == recording
    assert after.duration_s == pytest.approx(len(audio) / rate, abs=0.01)
    assert [(f.clause, f.heard) for f in after.findings] == [(f.clause, f.heard) for f in before.findings]
    assert "不管" in next(f.heard for f in after.findings if f.clause == "3.5(1)")
    assert len(after.utterances) == len(before.utterances)
    assert store.count_calls(status="live") == 0
