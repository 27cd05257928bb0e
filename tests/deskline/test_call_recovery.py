"""After a kill -9 the restarted node ends the calls it could not finish (issue 9, item 11): the
dialogs stored with the live call give each phone a BYE (resent until answered), and a BYE a
phone sends for such a dialog gets 200 OK, not 481. Raw SIP phones on loopback; the kill -9
with sipp phones is tests/e2e/test_crash_mid_call.py.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import pytest

from deskline.call_recovery import INTERRUPTED, RecoveringUserAgent, recover_interrupted_calls
from ivr.pyvoip_adapter.messages import Dialog
from models.records import CallRecord
from models.store import Store
from tests.ivr.raw_sip import RawSipPeer, Received


def stored_dialog(call_id: str, phone: RawSipPeer, local_tag: str, remote_tag: str) -> dict:
    return asdict(Dialog(call_id=call_id, local_uri="<sip:hq@127.0.0.1>", local_tag=local_tag,
                         remote_uri=f"<sip:phone@127.0.0.1:{phone.port}>", remote_tag=remote_tag,
                         remote_target=f"sip:phone@127.0.0.1:{phone.port}", local_host="127.0.0.1",
                         local_port=1, local_cseq=17))


def ok_for(request: Received) -> bytes:
    headers = [f"{name}: {request.header(name)}" for name in ("Via", "From", "To", "Call-ID", "CSeq")]
    return ("SIP/2.0 200 OK\r\n" + "\r\n".join(headers) + "\r\nContent-Length: 0\r\n\r\n").encode()


def bye_from(phone: RawSipPeer, call_id: str, node_port: int) -> str:
    return (f"BYE sip:deskline@127.0.0.1:{node_port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{phone.port};branch=z9hG4bK{call_id}\r\n"
            f"From: <sip:phone@127.0.0.1:{phone.port}>;tag=phonetag\r\nTo: <sip:hq@127.0.0.1>;tag=ourtag\r\n"
            f"Call-ID: {call_id}\r\nCSeq: 5 BYE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")


@pytest.fixture
def phones():  # noqa: ANN201
    engineer, caller = RawSipPeer(), RawSipPeer()
    yield engineer, caller
    engineer.close()
    caller.close()


def test_restart_sends_bye_to_both_phones_and_answers_their_bye(tmp_path: Path, phones) -> None:  # noqa: ANN001
    engineer, caller = phones
    store = Store(tmp_path / "deskline.db")
    dialogs = {"caller": stored_dialog("caller-sip-1", caller, "ourtag", "callertag"),
               "engineer": stored_dialog("engineer-sip-1", engineer, "ourengtag", "engineertag")}
    store.start_live_call(CallRecord(id="c1", started_at="2026-11-25T10:00:00+08:00", line="hq",
                                     engineer="张伟", caller="13800138000",
                                     sip_timings={"dialogs": dialogs}))
    interrupted = recover_interrupted_calls(store, tmp_path / "recordings")
    legs = [(c.call_id, sorted(d.leg for d in c.dialogs)) for c in interrupted]
    assert legs == [("c1", ["caller", "engineer"])]
    after = store.get_call("c1")
    assert after.status == "failed" and after.sip_timings == {"end_reason": INTERRUPTED}  # no tags kept

    agent = RecoveringUserAgent("127.0.0.1", 0)
    agent.adopt(interrupted)
    agent.start()
    try:
        # A phone hanging up the dead call is answered, not told the call does not exist.
        caller.send(bye_from(caller, "caller-sip-1", agent.port), agent.port)
        answer = caller.wait_for("SIP/2.0 200", "BYE", timeout=5)
        assert answer is not None and answer.header("Call-ID") == "caller-sip-1"
        caller.send(bye_from(caller, "never-seen", agent.port), agent.port)
        assert caller.wait_for("SIP/2.0 481", "BYE", timeout=5) is not None

        agent.end_interrupted()
        bye = engineer.wait_for("BYE sip:phone@", timeout=5)
        assert bye is not None, "the engineer's phone got no BYE"
        assert bye.header("Call-ID") == "engineer-sip-1"
        assert "tag=ourengtag" in bye.header("From") and "tag=engineertag" in bye.header("To")
        assert int(bye.header("CSeq").split()[0]) > 17
        assert f"127.0.0.1:{agent.port}" in bye.header("Via")  # answers come to this run's socket
        resent = engineer.wait_for("BYE sip:phone@", timeout=5, after=bye.at + 0.01)
        assert resent is not None, "an unanswered BYE is resent"
        engineer.sock.sendto(ok_for(resent), ("127.0.0.1", agent.port))
        # The caller already hung up by itself: it gets no BYE from us.
        assert caller.count("BYE sip:phone@") == 0
        assert agent._resender is not None
        agent._resender.join(timeout=15)
        assert not agent._resender.is_alive(), "answered: nothing left to resend"
        count = engineer.count("BYE sip:phone@")
        assert count >= 2
    finally:
        agent.stop()
    assert engineer.count("BYE sip:phone@") == count
    store.close()


def test_unusable_stored_dialogs_do_not_stop_recovery(tmp_path: Path) -> None:
    store = Store(tmp_path / "deskline.db")
    store.start_live_call(CallRecord(id="c2", started_at="2026-11-25T10:00:00+08:00", line="hq",
                                     sip_timings={"dialogs": {"caller": {"call_id": 5}, "engineer": "junk"}}))
    interrupted = recover_interrupted_calls(store, tmp_path / "recordings")
    assert [(c.call_id, c.dialogs) for c in interrupted] == [("c2", [])]
    assert store.get_call("c2").status == "failed"
    store.close()
