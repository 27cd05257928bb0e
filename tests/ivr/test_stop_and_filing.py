"""A node stopped mid-call says so (not "caller hung up"); recordings are filed by the line's date."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from ivr.call_session import _line_date

from .conftest import open_decision
from .raw_sip import RawSipPeer

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize(("moment", "zone", "day"), [
    (datetime(2026, 11, 30, 23, 30, tzinfo=UTC), "Asia/Shanghai", "2026-12-01"),
    (datetime(2026, 12, 1, 7, 0, tzinfo=UTC), "America/New_York", "2026-12-01"),
    (datetime(2026, 12, 1, 3, 0, tzinfo=UTC), "America/New_York", "2026-11-30"),
])
def test_recordings_are_filed_under_the_lines_date(moment: datetime, zone: str, day: str) -> None:
    assert _line_date(moment, zone) == day


def test_a_node_stopped_mid_call_stores_that_reason(tmp_path, make_hotline, observer) -> None:
    closed = replace(open_decision(), is_open=False, timezone="Asia/Shanghai")
    hotline = make_hotline(closed, observer)
    peer = RawSipPeer()
    try:
        peer.invite(hotline.agent.port)
        ok = peer.wait_for("200", "INVITE", timeout=10)
        assert ok is not None
        peer.send(peer.request("ACK", hotline.agent.port, 1, to_tag=peer.to_tag_of(ok)), hotline.agent.port)
        assert peer.wait_for("", timeout=0.5) is not None
        hotline.stop()
        assert observer.ended.wait(15)
    finally:
        peer.close()
    _, recording, _, reason = observer.ended_calls[0]
    assert reason == "the hotline stopped during the call"
    assert recording is not None and recording.parent.name == _line_date(datetime.now().astimezone(),
                                                                        "Asia/Shanghai")
