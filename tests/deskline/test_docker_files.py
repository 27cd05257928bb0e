"""The shipped Docker configs load with Deskline's own validation, and agree with each other,
with the Kamailio front and with the images docker/build-local.sh builds (the images
themselves are built and run in tests/e2e/test_container_stack.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from deskline.config import load_config

DOCKER = Path(__file__).parents[2] / "docker"


@pytest.mark.parametrize("name", ["node-a", "node-b", "console"])
def test_compose_configs_load(name: str) -> None:
    cfg = load_config(DOCKER / "config" / f"{name}.toml")
    assert [line.number for line in cfg.lines] == ["hq", "web"]


def test_nodes_are_the_dispatcher_set_and_report_to_the_console() -> None:
    console = load_config(DOCKER / "config" / "console.toml")
    listed = re.findall(r"^1 sip:([\d.]+):(\d+)", (DOCKER / "config" / "dispatcher.list").read_text(), re.M)
    for node, (address, port) in zip(("node-a", "node-b"), listed, strict=True):
        cfg = load_config(DOCKER / "config" / f"{node}.toml")
        # The node's own socket: Kamailio sends calls there and trusts requests from there.
        assert (cfg.hotline.bind_ip, cfg.hotline.sip_port) == (address, int(port))
        # The node reaches Kamailio on the same address, so one socket carries every call.
        assert cfg.hotline.registrar == f"{address}:5060"
        # Every caller arrives from Kamailio: it must be exempt from the per-source call cap.
        assert cfg.hotline.trusted_sources == [address]
        assert cfg.console.url == f"http://127.0.0.1:{console.console.port}"
        # The console can play this node's recordings.
        served = [str(d) for d in console.console.audio_dirs]
        assert any(str(cfg.hotline.recordings_dir).startswith(d) for d in served)


def test_kamailio_front_numbers_cover_the_lines() -> None:
    kamailio = (DOCKER / "kamailio" / "kamailio.cfg").read_text()
    numbers = re.search(r'#!define HOTLINE_NUMBERS "(.+)"', kamailio).group(1)
    for line in load_config(DOCKER / "config" / "node-a.toml").lines:
        assert re.match(numbers, line.number), line.number


def test_kamailio_accounts_ship_empty_where_the_front_reads_them() -> None:
    kamailio = (DOCKER / "kamailio" / "kamailio.cfg").read_text()
    accounts_db = re.search(r'#!define ACCOUNTS_DB "text://(.+)"', kamailio).group(1)
    table = re.search(r'#!define ACCOUNTS "(\w+)"', kamailio).group(1)
    compose = (DOCKER / "compose.yaml").read_text()
    assert f"${{DESKLINE_CONFIG:-./config}}/sip-accounts:{accounts_db}:ro" in compose
    assert f"COPY accounts {accounts_db}" in (DOCKER / "kamailio" / "Dockerfile").read_text()
    for shipped in (DOCKER / "config" / "sip-accounts", DOCKER / "kamailio" / "accounts"):
        # A shipped password would be everyone's: the operator adds the engineers' own.
        assert (shipped / table).read_text() == "username(str) password(str)\n"


def test_compose_runs_the_images_build_local_makes() -> None:
    compose = (DOCKER / "compose.yaml").read_text()
    build_local = (DOCKER / "build-local.sh").read_text()
    for image in set(re.findall(r"^    image: (\S+):latest$", compose, re.M)):
        assert f'build "{image}:$TAG"' in build_local, image
    assert sorted(set(re.findall(r"^    image: (\S+)$", compose, re.M))) == [
        "deskline-kamailio:latest", "deskline:latest"]
