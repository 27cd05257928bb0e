"""``deskline serve`` refuses, in one line and before touching anything, to run a second
node on a store already in use or a console on a busy port; files it creates are 0600/0700."""

from __future__ import annotations

import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from deskline.config import DEFAULT_CONFIG
from ivr.sipp_peers import free_tcp_port
from models.records import CallRecord
from models.store import Store
from models.store_lock import StoreLock, StoreLocked


def node_config(tmp: Path, console_port: int) -> Path:
    text = DEFAULT_CONFIG.read_text()
    text = text.replace('path = "var/deskline.db"', f'path = "{tmp / "node.db"}"')
    text = text.replace('recordings_dir = "var/recordings"', f'recordings_dir = "{tmp / "rec"}"')
    text = text.replace("sip_port = 5060", f"sip_port = {free_tcp_port()}")
    text = text.replace("port = 8080", f"port = {console_port}")
    cfg = tmp / "deskline.toml"
    cfg.write_text(text)
    return cfg


def serve(cfg: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "deskline.cli", "serve", "--config", str(cfg)],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def test_second_node_on_the_same_store_refuses_before_touching_it(tmp_path: Path) -> None:
    cfg = node_config(tmp_path, free_tcp_port())
    store = Store(tmp_path / "node.db")
    store.start_live_call(CallRecord(id="running-1", started_at="2026-03-02T09:30:00+08:00"))
    with StoreLock(tmp_path / "node.db"):  # the running node
        proc = serve(cfg)
    assert proc.returncode == 2
    assert "in use by a running hotline node" in proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr
    # Call recovery did not run: the running node's call is still live.
    assert store.get_call("running-1").status == "live"


def test_the_lock_is_exclusive_and_released(tmp_path: Path) -> None:
    first = StoreLock(tmp_path / "x.db").acquire()
    try:
        StoreLock(tmp_path / "x.db").acquire()
    except StoreLocked as exc:
        assert "in use" in str(exc)
    else:
        raise AssertionError("a second lock on the same store was granted")
    first.release()
    StoreLock(tmp_path / "x.db").acquire().release()


def test_busy_console_port_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        cfg = node_config(tmp_path, busy.getsockname()[1])
        proc = serve(cfg)
    assert proc.returncode == 2
    assert "cannot listen on 127.0.0.1:" in proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr


def test_busy_sip_port_is_one_line_naming_the_entry(tmp_path: Path) -> None:
    cfg = node_config(tmp_path, free_tcp_port())
    setting = next(line for line in cfg.read_text().splitlines() if line.startswith("sip_port"))
    port = int(setting.split("=")[1])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as busy:
        busy.bind(("127.0.0.1", port))
        proc = serve(cfg)
    assert proc.returncode == 2
    assert f"[hotline] the SIP user agent cannot listen on 127.0.0.1:{port}" in proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr
    assert not (tmp_path / "rec").exists()  # refused before anything was touched


def test_store_is_created_owner_only(tmp_path: Path) -> None:
    Store(tmp_path / "new.db").close()
    assert stat.S_IMODE((tmp_path / "new.db").stat().st_mode) == 0o600
    old = tmp_path / "old.db"
    Store(old).close()
    old.chmod(0o644)
    Store(old).close()
    assert stat.S_IMODE(old.stat().st_mode) == 0o600


def test_trusted_proxies_must_be_addresses(tmp_path: Path) -> None:
    from deskline.config import ConfigError, load_config

    cfg = node_config(tmp_path, free_tcp_port())
    text = cfg.read_text().replace(
        "[console]\n", '[console]\ntrusted_proxies = ["10.0.0.0/24", "proxy.local"]\n', 1
    )
    cfg.write_text(text)
    with pytest.raises(
        ConfigError, match=r"deskline.toml: \[console\] trusted_proxies: 'proxy.local' is not an IP"
    ):
        load_config(cfg)
    cfg.write_text(text.replace(', "proxy.local"', ""))
    assert load_config(cfg).console.trusted_proxies == ["10.0.0.0/24"]


def test_a_running_node_keeps_its_files_owner_only_and_holds_the_lock(tmp_path: Path) -> None:
    """A real ``deskline serve --no-console``: store 0600, recordings folder 0700, the lock
    held while it runs (a second one refuses) and released when it stops."""
    from ivr.sipp_peers import free_udp_port
    from tests.e2e.processes import deskline, node_config, stop, wait_for_line

    (tmp_path / "deskline.toml").write_text(node_config(free_udp_port(), free_udp_port()), encoding="utf-8")
    node = deskline("serve", "--no-console", "--config", "deskline.toml", cwd=tmp_path)
    try:
        wait_for_line(node, r"Hotline on sip:", timeout=120)
        assert stat.S_IMODE((tmp_path / "node.db").stat().st_mode) == 0o600
        assert stat.S_IMODE((tmp_path / "rec").stat().st_mode) == 0o700
        with pytest.raises(StoreLocked):
            StoreLock(tmp_path / "node.db").acquire()
    finally:
        assert stop(node) == 0
    StoreLock(tmp_path / "node.db").acquire().release()


def test_a_running_node_shows_its_call_table_and_media_thread_in_metrics(tmp_path: Path) -> None:
    """/metrics of ``deskline serve`` (console in the node's process) carries the node's gauges."""
    import httpx

    from tests.e2e.processes import deskline, stop, wait_for_line

    console_port = free_tcp_port()
    cfg = node_config(tmp_path, console_port)
    node = deskline("serve", "--config", str(cfg), cwd=tmp_path)
    try:
        wait_for_line(node, r"Console on ", timeout=120)
        metrics = httpx.get(f"http://127.0.0.1:{console_port}/metrics", timeout=10).text
    finally:
        assert stop(node) == 0
    for gauge in ("deskline_sip_inbound_calls 0.0", "deskline_sip_refused_busy_total 0.0",
                  "deskline_media_streams", "deskline_media_late_ticks_total"):
        assert gauge in metrics, metrics[-2000:]
