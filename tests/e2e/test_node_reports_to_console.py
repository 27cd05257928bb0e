"""Two machines' worth of Deskline on loopback: ``deskline console`` on its own store, and a
hotline node (``deskline serve --no-console``) with ``[console] url`` and a token from
``deskline user token``. A real sipp call through the node must show up on the console's
live board while it runs, and as a stored, scored call once it ends.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from deskline.commands.demo import place_scripted_call
from ivr.recorded_prompts import RecordedPrompts
from ivr.sipp_peers import free_tcp_port, free_udp_port, free_udp_ports
from models.store import Store
from web.users import add_user

from .processes import REPO, WEB_LINE, deskline, node_config, stop, wait_for_line

pytestmark = pytest.mark.slow


@pytest.fixture
def machines(tmp_path: Path) -> Iterator[dict]:
    console_dir, node_dir = tmp_path / "console", tmp_path / "node"
    console_dir.mkdir()
    node_dir.mkdir()
    port = free_tcp_port()
    (console_dir / "deskline.toml").write_text(
        f'[store]\npath = "console.db"\n[console]\nport = {port}\n' + WEB_LINE, encoding="utf-8")
    add_user(Store(console_dir / "console.db"), "主管", "supervisor", "supervisor-pass")
    token_run = subprocess.run([sys.executable, "-m", "deskline.cli", "user", "token", "node-a", "--config",
                                str(console_dir / "deskline.toml")], capture_output=True, text=True,
                               env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=60)
    assert token_run.returncode == 0, token_run.stderr
    token = token_run.stdout.strip().splitlines()[-1]

    engineer_port, engineer_media = free_udp_port(), free_udp_ports(1)[0]
    sip_port = free_udp_port()
    (node_dir / "deskline.toml").write_text(node_config(
        sip_port, engineer_port, f'[console]\nurl = "http://127.0.0.1:{port}"\napi_token = "{token}"\n'),
        encoding="utf-8")

    console = deskline("console", "--config", "deskline.toml", cwd=console_dir)
    node = deskline("serve", "--no-console", "--config", "deskline.toml", cwd=node_dir)
    try:
        wait_for_line(console, r"Console on http://")
        wait_for_line(node, r"Reporting calls and live events to http://127\.0\.0\.1")
        deadline = time.monotonic() + 30
        while True:  # the console prints its address before uvicorn listens
            try:
                httpx.get(f"http://127.0.0.1:{port}/login", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "console did not listen"
                time.sleep(0.2)
        yield {"console_url": f"http://127.0.0.1:{port}", "console_db": console_dir / "console.db",
               "node_db": node_dir / "node.db", "node": node, "sip_port": sip_port,
               "engineer": (engineer_port, engineer_media), "work": tmp_path}
    finally:
        for proc in (node, console):
            stop(proc)


def signed_in(base: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=10)
    page = client.get("/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    r = client.post("/login", data={"name": "主管", "password": "supervisor-pass", "csrf_token": csrf})
    assert r.status_code in (200, 303), r.text
    return client


def test_a_nodes_call_reaches_the_consoles_live_board_and_store(machines: dict) -> None:
    supervisor = signed_in(machines["console_url"])
    greeting_s = len(RecordedPrompts().greeting("web")) / 8000
    call = place_scripted_call(machines["sip_port"], "hotline", *machines["engineer"], greeting_s, "bad",
                               machines["work"])
    try:
        seen_live: list[dict] = []
        deadline = time.monotonic() + call.talk_s
        while time.monotonic() < deadline and call.running():
            live = supervisor.get("/api/live/calls").json()
            if live and any(f["clause"] == "3.5(1)" for f in live[0]["findings"]):
                seen_live = live
                break
            time.sleep(0.5)
        assert seen_live, "the node's live finding never reached the console's live board during the call"
        assert seen_live[0]["engineer"] == "张伟" and seen_live[0]["caller"] == "13800138000"
        call.wait()
    finally:
        call.close()

    call_id = seen_live[0]["call_id"]
    deadline = time.monotonic() + 120
    while (reported := supervisor.get(f"/api/calls/{call_id}")).status_code == 404:
        assert time.monotonic() < deadline, "the finished call was not posted to the console"
        time.sleep(1)
    body = reported.json()
    assert body["status"] == "done" and body["engineer"] == "张伟" and body["line"] == "web"
    assert [f["clause"] for f in body["findings"] if f["verdict"] == "fail"].count("3.5(1)") == 1
    assert body["scorecard"]["overall"] < 100
    assert supervisor.get("/api/live/calls").json() == []
    # The node keeps its own copy (nothing depends on the console being up).
    node_copy = Store(machines["node_db"]).get_call(call_id)
    assert node_copy is not None and node_copy.scorecard.overall == body["scorecard"]["overall"]

    machines["node"].send_signal(signal.SIGTERM)
    assert machines["node"].wait(timeout=30) == 0
