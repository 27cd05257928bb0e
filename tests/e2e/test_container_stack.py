"""The shipped images, built and run for real with podman (docker/build-local.sh, compose.yaml).

Kamailio, two hotline nodes and the console start from `docker/compose.yaml` with the
shipped configs (only addresses and ports changed to free loopback ones), the users and the
nodes' tokens are made as the README says, and a sipp caller dials the web line through the
Kamailio container to an engineer's sipp phone on the host that registered there with its
password. Checked: the caller hears the greeting, the recording lands in the node's volume,
the console shows the scored call and plays it, the next call fails over when a node is
stopped, the console keeps its store across a restart, the health checks pass.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ivr.recorded_prompts import RecordedPrompts
from ivr.sipp_peers import (
    ENGINEER_SCENARIO,
    PROXIED_CALLER_SCENARIO,
    RtpReceiver,
    best_correlation,
    free_tcp_port,
    free_udp_port,
    free_udp_ports,
    g711_roundtrip,
    load_pcm,
    start_sipp,
    stream_media,
    write_g711,
)

from ..ivr.sip_digest import Registration, register, status

pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]

REPO = Path(__file__).parents[2]
DOCKER = REPO / "docker"
SUPERVISOR_PASSWORD = "supervisor-pass-1"
GREETING_S = len(RecordedPrompts().greeting("web")) / 8000
ENGINEER_PASSWORD = "zw-Container-9"


def podman_unavailable() -> str:
    """Why podman cannot run here ("" if it can): the only reason this test skips."""
    for tool in ("podman", "docker-compose", "curl"):
        if shutil.which(tool) is None:
            return (
                f"{tool} is not installed (./install.sh installs podman, runc, debootstrap, docker-compose)"
            )
    if os.geteuid() != 0 and shutil.which("sudo") is None:
        return "docker/build-local.sh needs root (debootstrap, podman's system configuration)"
    info = subprocess.run(["podman", "info"], capture_output=True, text=True, timeout=120)
    if info.returncode != 0:
        return "podman info fails: " + info.stderr.strip()[-500:]
    return ""


def replace_once(text: str, pattern: str, replacement: str) -> str:
    """``text`` with the one match of ``pattern`` replaced; the shipped file must have it."""
    new, count = re.subn(pattern, replacement, text, flags=re.MULTILINE)
    assert count == 1, f"expected one {pattern!r} in a shipped config"
    return new


class Stack:
    """The compose project, its configs in ``work/config`` and its free ports."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.project = f"deskline-e2e-{uuid.uuid4().hex[:6]}"
        self.config = work / "config"
        self.sip_port = free_udp_port()
        self.node_ports = {"node-a": free_udp_port(), "node-b": free_udp_port()}
        self.console_port = free_tcp_port()
        self.env = {
            **os.environ,
            "DESKLINE_CONFIG": str(self.config),
            "DESKLINE_SIP_PORT": str(self.sip_port),
        }

    @property
    def console_url(self) -> str:
        return f"http://127.0.0.1:{self.console_port}"

    def write_configs(self, tokens: dict[str, str] | None = None) -> None:
        """The shipped docker/config, on loopback ports (and the nodes' tokens once known)."""
        shutil.copytree(DOCKER / "config", self.config, dirs_exist_ok=True)
        console = (DOCKER / "config" / "console.toml").read_text(encoding="utf-8")
        console = replace_once(console, r"^host = .*$", 'host = "127.0.0.1"')
        console = replace_once(console, r"^port = 8080", f"port = {self.console_port}")
        (self.config / "console.toml").write_text(console, encoding="utf-8")
        for node, port in self.node_ports.items():
            text = (DOCKER / "config" / f"{node}.toml").read_text(encoding="utf-8")
            text = replace_once(text, r'^bind_ip = "192\.0\.2\.10"', 'bind_ip = "127.0.0.1"')
            text = replace_once(text, r"^sip_port = \d+", f"sip_port = {port}")
            text = replace_once(
                text, r'^registrar = "192\.0\.2\.10:5060"', f'registrar = "127.0.0.1:{self.sip_port}"'
            )
            text = replace_once(
                text, r'^trusted_sources = \["192\.0\.2\.10"\]', 'trusted_sources = ["127.0.0.1"]'
            )
            text = replace_once(text, r'^url = "http://127\.0\.0\.1:8080"', f'url = "{self.console_url}"')
            if tokens:
                text = replace_once(text, r'^api_token = "REPLACE-ME"', f'api_token = "{tokens[node]}"')
            (self.config / f"{node}.toml").write_text(text, encoding="utf-8")
        (self.config / "dispatcher.list").write_text(
            "".join(f"1 sip:127.0.0.1:{port} 0 0\n" for port in self.node_ports.values())
        )
        accounts = self.config / "sip-accounts" / "engineers"
        accounts.write_text(accounts.read_text() + f"zhangwei:{ENGINEER_PASSWORD}\n")

    def compose(self, *args: str, timeout: float = 300, check: bool = True,
                stdin: str | None = None) -> subprocess.CompletedProcess:
        run = subprocess.run(
            [str(DOCKER / "compose-local.sh"), "-p", self.project, *args],
            input=stdin,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=DOCKER,
        )
        if check:
            assert run.returncode == 0, (
                f"compose-local.sh {' '.join(args)}:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
            )
        return run

    def container(self, service: str) -> str:
        return f"{self.project}_{service}_1"

    def podman(self, *args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
        run = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout)
        if check:
            assert run.returncode == 0, (
                f"podman {' '.join(args)}:\n{run.stdout[-2000:]}\n{run.stderr[-2000:]}"
            )
        return run

    def state(self, service: str, template: str) -> str:
        return self.podman("inspect", "--format", template, self.container(service)).stdout.strip()

    def logs(self, service: str) -> str:
        run = self.podman("logs", "--tail", "60", self.container(service), check=False)
        return f"--- {service} ---\n{run.stdout}{run.stderr}"

    def healthy(self, service: str) -> bool:
        return self.podman("healthcheck", "run", self.container(service), check=False).returncode == 0

    def wait_healthy(self, *services: str, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        for service in services:
            while not self.healthy(service):
                assert time.monotonic() < deadline, f"{service} never became healthy:\n" + self.logs(service)
                time.sleep(2)

    def volume(self, name: str) -> Path:
        path = self.podman(
            "volume", "inspect", "--format", "{{.Mountpoint}}", f"{self.project}_{name}"
        ).stdout
        return Path(path.strip())

    def deskline_in_console(self, *args: str, stdin: str | None = None) -> str:
        """``deskline ARGS`` in the console container, as the README's step 1 does it."""
        run = self.compose(
            "exec", "-T", "console", "deskline", *args, "--config", "/etc/deskline/console.toml",
            stdin=stdin,
        )
        return run.stdout


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    reason = podman_unavailable()
    if reason:
        pytest.skip(reason)
    build = subprocess.run([str(DOCKER / "build-local.sh")], capture_output=True, text=True, timeout=1800)
    assert build.returncode == 0, build.stdout[-4000:] + build.stderr[-4000:]
    # Its own directory: pytest prunes old base temp directories, and other pytest runs on
    # the machine must not delete the configs the containers have mounted.
    work = Path(tempfile.mkdtemp(prefix="deskline-e2e-"))
    stack = Stack(work)
    stack.write_configs()
    try:
        stack.compose("up", "-d", "--no-build")
        stack.wait_healthy("console")
        # README step 1: users and one token per node, made in the console container.
        # The password on stdin (never in argv: `deskline user add` refuses --password).
        stack.deskline_in_console("user", "add", "主管", "--role", "supervisor",
                                  stdin=SUPERVISOR_PASSWORD + "\n")
        tokens = {
            node: stack.deskline_in_console("user", "token", node).strip().splitlines()[-1]
            for node in stack.node_ports
        }
        # Steps 2 and 4: the tokens into the nodes' configs, then restart the nodes.
        stack.write_configs(tokens)
        stack.podman("restart", stack.container("node-a"), stack.container("node-b"))
        stack.wait_healthy("kamailio", "node-a", "node-b")
        yield stack
    finally:
        stack.compose("down", "-v", timeout=300, check=False)
        for name in ("recordings-a", "recordings-b", "console-data"):
            stack.podman("volume", "rm", "-f", f"{stack.project}_{name}", check=False)
        shutil.rmtree(work, ignore_errors=True)


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory, audio_dir: Path) -> dict:
    out = tmp_path_factory.mktemp("speech")
    return {
        name: write_g711(load_pcm(audio_dir / "tts" / f"{name}.wav"), out / f"{name}.ulaw", "PCMU")
        for name in ("c01", "e01")
    }


def signed_in(stack: Stack) -> httpx.Client:
    client = httpx.Client(base_url=stack.console_url, timeout=20)
    page = client.get("/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    reply = client.post("/login", data={"name": "主管", "password": SUPERVISOR_PASSWORD, "csrf_token": csrf})
    assert reply.status_code in (200, 303), reply.text
    return client


def recordings(stack: Stack) -> dict[str, set[str]]:
    """Each node's call recordings (recordings/DATE/CALL.wav) in its volume on the host."""
    return {
        node: {
            p.name
            for p in (stack.volume(volume) / "recordings").glob("*/*.wav")
            if p.parent.name != "voicemail"
        }
        for node, volume in (("node-a", "recordings-a"), ("node-b", "recordings-b"))
    }


def call_through_kamailio(stack: Stack, speech: dict, name: str) -> RtpReceiver:
    """The engineer's phone registers at the Kamailio container; a caller dials the web line."""
    engineer_rx, caller_rx = RtpReceiver(), RtpReceiver()
    phone_port = free_udp_port()
    phone = start_sipp(
        ENGINEER_SCENARIO.format(
            user="zhangwei",
            ring_ms=500,
            rx_port=engineer_rx.port,
            pt=0,
            codec="PCMU",
            media=stream_media(speech["e01"], 0),
        ),
        stack.work / name / "phone",
        "phone",
        target=None,
        sip_port=phone_port,
        media_port=free_udp_ports(1)[0],
    )
    try:
        binding = Registration(stack.sip_port, "zhangwei", f"<sip:zhangwei@127.0.0.1:{phone_port}>")
        registered = register(binding, ENGINEER_PASSWORD)
        assert status(registered) == 200, registered
        caller = start_sipp(
            PROXIED_CALLER_SCENARIO.format(
                called="web",
                caller="13800138000",
                rx_port=caller_rx.port,
                pt=0,
                codec="PCMU",
                # The caller speaks after the greeting and the ringing, and stays on while
                # the engineer answers (sipp streams in the background: the pauses are the call).
                middle=stream_media(speech["c01"], 0, int((GREETING_S + 3) * 1000), 7000),
            ),
            stack.work / name / "caller",
            "caller",
            target=f"127.0.0.1:{stack.sip_port}",
            sip_port=free_udp_port(),
            media_port=free_udp_ports(1)[0],
        )
        try:
            assert caller.wait(90) == 0, (
                caller.output() + stack.logs("kamailio") + stack.logs("node-a") + stack.logs("node-b")
            )
        finally:
            caller.kill()
        assert phone.wait(30) == 0, phone.output()
        assert engineer_rx.audio_packets(), "the engineer's phone got no audio"
        return caller_rx
    finally:
        phone.kill()
        engineer_rx.close()
        caller_rx.close()


def wait_new_recording(stack: Stack, before: dict[str, set[str]], timeout: float = 60) -> tuple[str, str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = recordings(stack)
        new = [(node, name) for node in now for name in now[node] - before[node]]
        if new:
            assert len(new) == 1, new
            return new[0]
        time.sleep(1)
    raise AssertionError(f"no new recording in the nodes' volumes: {recordings(stack)}")


def test_a_call_through_the_containers_is_recorded_scored_and_fails_over(stack: Stack, speech: dict) -> None:
    supervisor = signed_in(stack)
    before = recordings(stack)
    caller_rx = call_through_kamailio(stack, speech, "first")
    heard, _ = best_correlation(g711_roundtrip(RecordedPrompts().greeting("web"))[:16000], caller_rx.pcm())
    assert heard > 0.8, "the caller must hear the web line's greeting from the node container"
    first_node, wav = wait_new_recording(stack, before)

    # The node reports the scored call to the console container, which plays its audio.
    # The recording is named after the call's id (recordings/DATE/CALL.wav).
    call_id, deadline = Path(wav).stem, time.monotonic() + 600
    while (reply := supervisor.get(f"/api/calls/{call_id}")).status_code != 200 or (
        reply.json()["status"] != "done"
    ):
        assert time.monotonic() < deadline, f"the call never reached the console as scored: {reply.text}"
        time.sleep(3)
    call = reply.json()
    assert call["audio_path"].endswith(wav), call["audio_path"]
    assert call["engineer"] == "张伟" and call["line"] == "web" and call["scorecard"] is not None, call
    audio = supervisor.get(call["audio_url"])
    assert audio.status_code == 200 and audio.content[:4] == b"RIFF" and len(audio.content) > 8000 * 2, (
        audio.status_code
    )

    # Round robin's next pick is the other node: stop it, and the call must fail over.
    other = "node-b" if first_node == "node-a" else "node-a"
    stack.podman("stop", stack.container(other))
    # It stopped on SIGTERM by itself (stop_grace_period), not killed.
    assert stack.state(other, "{{.State.ExitCode}}") == "0"
    before = recordings(stack)
    call_through_kamailio(stack, speech, "failover")
    assert wait_new_recording(stack, before)[0] == first_node

    # The console keeps its store (a volume) across a container restart.
    stack.podman("restart", stack.container("console"))
    stack.wait_healthy("console")
    again = signed_in(stack).get(f"/api/calls/{call['id']}")
    assert again.status_code == 200 and again.json()["scorecard"] == call["scorecard"]

    # Health checks: a running node passes, the stopped one is reported.
    assert stack.healthy("kamailio") and stack.healthy(first_node) and stack.healthy("console")
    assert not stack.healthy(other)
    # A node that exits (here on SIGTERM from inside) is restarted by its restart policy.
    restarts = int(stack.state(first_node, "{{.RestartCount}}"))
    stack.podman("exec", stack.container(first_node), "sh", "-c", "kill -TERM 1")
    deadline = time.monotonic() + 120
    while int(stack.state(first_node, "{{.RestartCount}}")) == restarts:
        assert time.monotonic() < deadline, "the exited node was not restarted:\n" + stack.logs(first_node)
        time.sleep(1)
    stack.wait_healthy(first_node)
