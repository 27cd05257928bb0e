"""Deskline as separate processes for the end-to-end tests: start a command, wait for a line
it prints, and write a node's config with a 7×24 line and one sipp engineer."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).parents[2]

WEB_LINE = """
[[lines]]
id = "web"
name = "网上服务热线"
number = "hotline"
calendar = "web"
web_url = "https://desk.example.com"
"""


def deskline(*args: str, cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "deskline.cli", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_for_line(proc: subprocess.Popen, pattern: str, timeout: float = 60) -> re.Match:
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(f"exited ({proc.poll()}) before printing {pattern!r}:\n{''.join(seen)}")
        seen.append(line)
        if m := re.search(pattern, line):
            return m
    raise AssertionError(f"no {pattern!r} within {timeout} s:\n{''.join(seen)}")


def node_config(sip_port: int, engineer_port: int, extra: str = "") -> str:
    """A node answering "hotline" on ``sip_port`` around the clock, ringing 张伟's sipp phone."""
    return (f'[hotline]\nsip_port = {sip_port}\nrecordings_dir = "rec"\n'
            f'[speech]\nlive_engine = "whisper"\n[store]\npath = "node.db"\n{extra}' + WEB_LINE +
            f'\n[[engineers]]\nname = "张伟"\nsip = "sip:zhangwei@127.0.0.1:{engineer_port}"\n'
            'certified = true\nlines = ["web"]\n')


def stop(proc: subprocess.Popen, timeout: float = 30) -> int | None:
    import signal

    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        return None
