"""A running node (``deskline serve``) with ``[hotline] rtp_timeout_s`` set: a caller who ACKs
and then sends no audio is hung up (BYE to the caller and to the engineer), the call is stored
with the reason, and the engineer is free for the next caller, who is bridged to them too.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from ivr.recorded_prompts import RecordedPrompts
from ivr.sipp_peers import ENGINEER_SCENARIO, RtpReceiver, free_udp_port, free_udp_ports, start_sipp
from models.store import Store
from tests.ivr.peers import CALLER_AWAITING_BYE

from .processes import deskline, node_config, stop, wait_for_line

pytestmark = pytest.mark.slow


def test_silent_callers_are_hung_up_one_after_the_other(tmp_path: Path) -> None:
    sip_port, engineer_port = free_udp_port(), free_udp_port()
    # Long enough for the greeting and the ringing: the silent caller is hung up once bridged.
    timeout_s = math.ceil(len(RecordedPrompts().greeting("web")) / 8000 + 3)
    config = node_config(sip_port, engineer_port).replace(
        "[hotline]\n", f"[hotline]\nrtp_timeout_s = {timeout_s}\n")
    (tmp_path / "deskline.toml").write_text(config, encoding="utf-8")
    receivers = [RtpReceiver() for _ in range(3)]
    # The engineer's phone answers twice and is silent too (no recognition work for the node).
    engineer = start_sipp(
        ENGINEER_SCENARIO.format(user="zhangwei", ring_ms=300, rx_port=receivers[0].port, pt=0, codec="PCMU",
                                 media=""),
        tmp_path / "engineer", "engineer", target=None, sip_port=engineer_port,
        media_port=free_udp_ports(1)[0], calls=2)
    node = deskline("serve", "--no-console", "--config", "deskline.toml", cwd=tmp_path)
    try:
        wait_for_line(node, r"Hotline on sip:")
        for n, rx in enumerate(receivers[1:]):
            caller = start_sipp(
                CALLER_AWAITING_BYE.format(called="hotline", caller="13800138000", rx_port=rx.port, pt=0,
                                           codec="PCMU", middle=""),
                tmp_path / f"caller{n}", "caller", target=f"127.0.0.1:{sip_port}", sip_port=free_udp_port(),
                media_port=free_udp_ports(1)[0])
            try:
                assert caller.wait(60) == 0, caller.output()  # hung up by the node with a BYE
            finally:
                caller.kill()
        assert engineer.wait(30) == 0, engineer.output()  # both of its calls ended with a BYE
    finally:
        engineer.kill()
        for rx in receivers:
            rx.close()
        assert stop(node) == 0
    store = Store(tmp_path / "node.db")
    calls = [store.get_call(s.id) for s in store.list_calls().items]
    store.close()
    assert len(calls) == 2
    for call in calls:
        assert call.engineer == "张伟"  # the second caller got the engineer the first one had
        assert call.sip_timings["end_reason"] == f"no audio from the caller for {timeout_s} s"
        assert call.status != "live"
