"""Callbacks the node places (issue 14, item 4), with sipp peers on loopback: the engineer's
phone is rung first, then the customer through the outbound trunk (a sipp UAS).

Connected: both hear each other, the stereo recording has the customer left and the
engineer right, the observer hears the customer as "caller" from the answer on, and the
timings say outbound + callback id. Failure paths: the engineer does not answer (the
customer is never called), the customer does not answer or is busy.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import soundfile as sf

from ivr.call_session import SessionSettings
from ivr.contracts import EngineerTarget
from ivr.hotline import LocalReservations
from ivr.outbound_call import CallbackRequest, OutboundCallSession
from ivr.pyvoip_adapter import SipUserAgent
from ivr.tone_prompts import TonePrompts

from .conftest import RecordingObserver
from .peers import RtpReceiver, best_correlation, g711_roundtrip
from .trunk_peers import engineer_not_answering, engineer_phone, trunk

pytestmark = pytest.mark.slow


@pytest.fixture
def agent():
    ua = SipUserAgent("127.0.0.1", 0, max_latency_s=1.0)
    ua.start()
    yield ua
    ua.stop()


def session_for(agent: SipUserAgent, tmp_path: Path, observer: RecordingObserver, engineer_uri: str,
                trunk_addr: str, *, engineer_ring_s: float = 10.0, customer_ring_s: float = 10.0,
                reservations: LocalReservations | None = None) -> OutboundCallSession:
    request = CallbackRequest(
        callback_id=7, line_id="hq", engineer=EngineerTarget("张伟", engineer_uri),
        customer_number="13800138000", customer_uri=f"sip:13800138000@{trunk_addr}", caller_id="01088886666",
        engineer_ring_s=engineer_ring_s, customer_ring_s=customer_ring_s)
    return OutboundCallSession(request, agent.place_call, observer, TonePrompts(),
                               SessionSettings(tmp_path / "recordings"), reservations=reservations)


def test_callback_connects_records_both_sides_and_names_the_legs(tmp_path, agent, observer, speech):
    engineer_rx, customer_rx = RtpReceiver(), RtpReceiver()
    engineer, uri = engineer_phone(tmp_path, speech["e01.ulaw"], engineer_rx)
    customer, trunk_addr = trunk(tmp_path, "answers", speech_file=speech["c01.ulaw"], rx=customer_rx)
    reservations = LocalReservations()
    session = session_for(agent, tmp_path, observer, uri, trunk_addr, reservations=reservations)
    try:
        session.run()
        assert customer.wait(30) == 0, customer.output()
        assert engineer.wait(15) == 0, engineer.output()
    finally:
        customer.kill()
        engineer.kill()
        engineer_rx.close()
        customer_rx.close()

    assert session.outcome == "connected", session.reason
    assert session.reason == "customer hung up"
    assert observer.names() == ["call_started", "engineer_answered", "call_ended"]
    assert observer.events[0][3] == "13800138000"  # the record's caller is the customer
    call_id, recording, timings, _ = observer.ended_calls[0]
    assert timings["direction"] == "outbound" and timings["callback_id"] == 7
    assert timings["outcome"] == "connected" and timings["customer_answered_at"]
    assert timings["talk_s"] > 3.0
    assert timings["customer_leg"]["codec"] == "PCMU"
    assert "张伟" not in reservations.held  # released at the end

    # The customer heard the engineer; the engineer heard the customer.
    score, _ = best_correlation(g711_roundtrip(speech["c01"])[:16000], engineer_rx.pcm())
    assert score > 0.9, score
    # Left = customer, right = engineer, as in an inbound recording.
    audio, rate = sf.read(str(recording), dtype="int16")
    assert rate == 8000 and audio.shape[1] == 2
    left, _ = best_correlation(g711_roundtrip(speech["c01"])[:16000], audio[:, 0])
    right, _ = best_correlation(g711_roundtrip(speech["e01"])[:16000], audio[:, 1])
    assert left > 0.9 and right > 0.9, (left, right)
    # The observer hears the customer only once they answered, and as the caller.
    bridged_t = dict((p, t) for t, p in timings["phases"])["bridged"]
    assert observer.audio_frames["caller"][0][0] >= bridged_t - 0.03


def test_engineer_not_answering_never_calls_the_customer(tmp_path, agent, observer):
    engineer, uri = engineer_not_answering(tmp_path)
    session = session_for(agent, tmp_path, observer, uri, "127.0.0.1:9", engineer_ring_s=1.5)
    try:
        session.run()
        assert engineer.wait(15) == 0, engineer.output()
    finally:
        engineer.kill()
    assert session.outcome == "engineer_no_answer"
    assert session.customer_leg is None and not session.stored_call
    assert observer.events == []  # no call record: only the attempt is kept (by the dialer)


@pytest.mark.parametrize(("behaviour", "outcome"), [("no_answer", "customer_no_answer"),
                                                     ("busy", "customer_busy")])
def test_customer_not_reached(tmp_path, agent, observer, speech, behaviour, outcome):
    engineer_rx = RtpReceiver()
    engineer, uri = engineer_phone(tmp_path, speech["e01.ulaw"], engineer_rx)
    customer, trunk_addr = trunk(tmp_path, behaviour)
    session = session_for(agent, tmp_path, observer, uri, trunk_addr, customer_ring_s=2.0)
    try:
        session.run()
        assert customer.wait(15) == 0, customer.output()
        assert engineer.wait(15) == 0, engineer.output()  # the engineer got the BYE
    finally:
        customer.kill()
        engineer.kill()
        engineer_rx.close()
    assert session.outcome == outcome, session.reason
    _, _, timings, _ = observer.ended_calls[0]
    assert timings["talk_s"] == 0.0 and timings["customer_answered_at"] is None
    assert "engineer_answered" not in observer.names()  # nothing to analyse
