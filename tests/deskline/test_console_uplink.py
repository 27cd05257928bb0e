"""A hotline node reporting to a console over HTTP: a real console (uvicorn, its own store),
the uplink posting live events and finished calls with a token made by ``deskline user token``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from deskline.cli import main
from deskline.console_runtime import ConsoleServer
from deskline.console_uplink import ConsoleUplink
from ivr.sipp_peers import free_tcp_port
from models.records import CallRecord, Finding, Scorecard, Utterance
from models.store import Store
from web.app import create_app
from web.live import LiveHub


class Console:
    """The console machine: its store, live hub and HTTP server (startable late)."""

    def __init__(self, tmp: Path) -> None:
        self.db = tmp / "console.db"
        self.store = Store(self.db)
        self.hub = LiveHub()
        self.port = free_tcp_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server: ConsoleServer | None = None

    def start(self) -> None:
        app = create_app(self.store, secret_key="uplink-test-secret-0123456789", live_events=self.hub)
        self.server = ConsoleServer(app, "127.0.0.1", self.port)
        self.server.start()

    def token(self, node: str, capsys: pytest.CaptureFixture[str]) -> str:
        assert main(["user", "token", node, "--db", str(self.db)]) == 0
        return capsys.readouterr().out.strip().splitlines()[-1]

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()


@pytest.fixture
def console(tmp_path: Path) -> Iterator[Console]:
    c = Console(tmp_path)
    yield c
    c.stop()


@pytest.fixture
def node_store(tmp_path: Path) -> Store:
    return Store(tmp_path / "node.db")


def finished_call(store: Store, call_id: str = "node-call-1") -> CallRecord:
    call = CallRecord(
        id=call_id, started_at="2026-11-25T10:00:00+08:00", line="hq", engineer="张伟", caller="13800138000",
        duration_s=31.5, audio_path="/var/lib/deskline/recordings/node-call-1.wav", engine="whisper",
        ring_time_s=2.0, rings=1,
        utterances=[Utterance("engineer", 0.4, 2.0, "这个问题我们不管")],
        findings=[Finding("3.5(1)", "forbidden.not_our_job", "must_not_say", "fail", 0.4, 2.0,
                          heard="我们不管", confidence=0.9,
                          recommended="这种情况的确很特殊，我帮您反映一下")],
        scorecard=Scorecard(overall=72.5),
        feedback="00:00 您说了「我们不管」(3.5(1))",
    )
    store.save_call(call)
    return call


def test_node_reports_live_events_and_finished_calls(console: Console, node_store: Store,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    console.start()
    uplink = ConsoleUplink(console.url, console.token("hotline-1", capsys), node_store)
    try:
        uplink.publish({"type": "call_started", "call_id": "node-call-1", "line": "hq",
                        "caller": "13800138000", "started_at": "2026-11-25T10:00:00+08:00"})
        uplink.publish({"type": "engineer_answered", "call_id": "node-call-1", "engineer": "张伟",
                        "ring_time_s": 2.0})
        assert uplink.wait_idle(10)
        [live] = console.hub.live_calls()
        assert live["call_id"] == "node-call-1" and live["engineer"] == "张伟"

        finished_call(node_store)
        uplink.call_done("node-call-1")
        assert uplink.wait_idle(10)
    finally:
        uplink.stop()
    stored = console.store.get_call("node-call-1")
    assert stored is not None and stored.engineer == "张伟" and stored.scorecard.overall == 72.5
    assert [(f.clause, f.heard) for f in stored.findings] == [("3.5(1)", "我们不管")]
    assert uplink.stats.events_sent == 2 and uplink.stats.calls_sent == 1


def test_finished_call_waits_for_a_console_that_is_down(console: Console, node_store: Store,
                                                        capsys: pytest.CaptureFixture[str],
                                                        caplog: pytest.LogCaptureFixture) -> None:
    token = console.token("hotline-1", capsys)
    uplink = ConsoleUplink(console.url, token, node_store, first_retry_s=0.2, timeout_s=1.0)
    try:
        finished_call(node_store)
        with caplog.at_level(logging.WARNING, logger="deskline.uplink"):
            uplink.call_done("node-call-1")
            time.sleep(1.0)  # a few refused connections
            assert console.store.get_call("node-call-1") is None
            console.start()
            assert uplink.wait_idle(20)
    finally:
        uplink.stop()
    assert console.store.get_call("node-call-1") is not None
    assert uplink.stats.calls_sent == 1 and uplink.stats.calls_failed == 0
    assert "unreachable" in caplog.text and "node-call-1 retried" in caplog.text


def test_console_down_drops_live_events_with_one_warning(console: Console, node_store: Store,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    uplink = ConsoleUplink(console.url, "some-token", node_store, timeout_s=1.0)
    with caplog.at_level(logging.WARNING, logger="deskline.uplink"):
        for i in range(5):
            uplink.publish({"type": "call_started", "call_id": f"c{i}", "line": "hq"})
        assert uplink.wait_idle(20)
    uplink.stop()
    assert uplink.stats.events_dropped == 5 and uplink.stats.events_sent == 0
    assert caplog.text.count("live events not delivered") == 1


def test_wrong_token_is_reported_once_and_the_call_stays_on_the_node(
        console: Console, node_store: Store, caplog: pytest.LogCaptureFixture) -> None:
    console.start()
    uplink = ConsoleUplink(console.url, "not-a-token", node_store, first_retry_s=0.2)
    finished_call(node_store)
    with caplog.at_level(logging.ERROR, logger="deskline.uplink"):
        uplink.call_done("node-call-1")
        assert uplink.wait_idle(10)
    uplink.stop()
    assert uplink.stats.calls_failed == 1 and uplink.stats.calls_sent == 0
    assert "refused call node-call-1: 401 unknown API token" in caplog.text
    assert console.store.get_call("node-call-1") is None
    assert node_store.get_call("node-call-1") is not None


def test_user_token_command_prints_a_working_token(console: Console,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    console.start()
    token = console.token("hotline-2", capsys)
    assert len(token) >= 32
    event = {"type": "call_started", "call_id": "c1", "line": "hq"}
    node, stranger = {"Authorization": f"Bearer {token}"}, {"Authorization": f"Bearer x{token}"}
    assert httpx.post(f"{console.url}/api/live/events", json=event, headers=node).status_code == 202
    assert httpx.post(f"{console.url}/api/live/events", json=event, headers=stranger).status_code == 401
    # A node may post, not read: the calls list is for people.
    assert httpx.get(f"{console.url}/api/calls", headers=node).status_code == 403


def test_push_sends_what_the_console_missed(console: Console, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    token = console.token("hotline-1", capsys)
    node_db = tmp_path / "node.db"
    node = Store(node_db)
    finished_call(node, "node-call-1")
    old = finished_call(node, "node-call-0")
    old.started_at = "2026-11-20T09:00:00+08:00"
    node.save_call(old)
    node.close()
    config = tmp_path / "node.toml"
    config.write_text(f'[store]\npath = "node.db"\n[console]\nurl = "{console.url}"\napi_token = "{token}"\n'
                      '[[lines]]\nid = "hq"\n', encoding="utf-8")

    # Console down: a clear error, nothing half-done claimed.
    assert main(["push", "--config", str(config)]) == 2
    assert "unreachable" in capsys.readouterr().err
    console.start()
    assert main(["push", "--config", str(config), "--since", "2026-11-25"]) == 0
    assert "1 of 1 calls sent" in capsys.readouterr().out
    assert console.store.get_call("node-call-1") is not None and console.store.get_call("node-call-0") is None
    assert main(["push", "--config", str(config)]) == 0  # everything, and again: safe
    assert "2 of 2 calls sent" in capsys.readouterr().out
    assert console.store.get_call("node-call-0").scorecard.overall == 72.5
    assert main(["push", "--config", str(config), "--since", "25/11"]) == 2
    assert "not a date" in capsys.readouterr().err
