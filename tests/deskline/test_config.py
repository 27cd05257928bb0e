"""deskline.toml: a usable file loads with its paths resolved; a broken one is a one-line error."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from deskline.config import DEFAULT_CONFIG, ConfigError, load_config

REPO = Path(__file__).parents[2]
LINE = '\n[[lines]]\nid = "hq"\ncalendar = "hq"\n'
NOT_DIRS = r"console.audio_dirs must be a list of folder paths, e.g. \[\"/srv/recordings\"\]"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "deskline.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_config_loads() -> None:
    cfg = load_config(DEFAULT_CONFIG)
    assert [line.id for line in cfg.lines] == ["hq", "regional", "web"]
    assert cfg.roster is not None and "张伟" in cfg.roster.names()
    assert cfg.speech.accurate_engine == "" and cfg.hotline.max_rings == 3


def test_relative_paths_are_relative_to_the_file(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, '[hotline]\nrecordings_dir = "rec"\nprompts_dir = "my-prompts"\n'
                                      '[speech]\nrules = "rules.toml"\naccurate_engine = "whisper"\n'
                                      '[store]\npath = "db/calls.db"\n'
                                      '[console]\naudio_dirs = ["node-a/rec", "/srv/rec"]\n' + LINE))
    assert cfg.hotline.recordings_dir == tmp_path / "rec"
    assert cfg.hotline.prompts_dir == str(tmp_path / "my-prompts")
    assert cfg.speech.rules == str(tmp_path / "rules.toml")
    assert cfg.store_path == tmp_path / "db" / "calls.db"
    assert cfg.speech.accurate_engine == "whisper"
    assert cfg.console.audio_dirs == [tmp_path / "node-a" / "rec", Path("/srv/rec")]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[hotline\nsip_port = 5060\n", r"not valid TOML: .*line 1"),
        ("[hotline]\nsip_port = 5060\nsip_port = 5061\n" + LINE, "not valid TOML"),
        ("[hotlines]\n" + LINE, r"unknown section\(s\) hotlines"),
        ("[hotline]\nsip_prot = 5060\n" + LINE, r"unknown setting 'sip_prot' \(known: .*sip_port"),
        ('[hotline]\nsip_port = "5060"\n' + LINE, "hotline.sip_port must be int, not str"),
        ("[hotline]\nmax_rings = true\n" + LINE, "hotline.max_rings must be int, not bool"),
        ("[hotline]\nrecordings_dir = 5\n" + LINE, "hotline.recordings_dir must be a path string"),
        ("hotline = 5\n" + LINE, r"\[hotline\] must be a table"),
        ('[speech]\nlive_engine = "kaldi"\n' + LINE, r"live_engine = 'kaldi': must be one of \"auto\""),
        ('[speech]\naccurate_engine = "Whisper"\n' + LINE, "accurate_engine = 'Whisper': must be one of"),
        ("[store]\npath = 3\n" + LINE, r"\[store\] path must be a path string"),
        ("[hotline]\nsip_port = 5060\n", r"no \[\[lines\]\] configured"),
        ('[console]\nurl = "console:8080"\napi_token = "t"\n' + LINE,
         r"url = 'console:8080': must be an http"),
        ('[console]\nurl = "http://console:8080"\n' + LINE, r"api_token is empty: .*deskline user token"),
        ('[console]\naudio_dirs = "/srv/rec"\n' + LINE, NOT_DIRS),
        ('[console]\naudio_dirs = ["/srv/rec", 5]\n' + LINE, NOT_DIRS),
        ('[console]\naudio_dirs = [""]\n' + LINE, NOT_DIRS),
        ('[console]\nmetrics_token = "abc def"\n' + LINE, r"metrics_token must not contain spaces"),
        ('[hotline]\nbind_ip = "0.0.0.0"\n' + LINE, r"\[hotline\] bind_ip = '0.0.0.0': must be a real"),
        ('[hotline]\nbind_ip = "my-host"\n' + LINE, r"bind_ip = 'my-host': must be an IP address"),
        (LINE + '[[engineers]]\nname = "张伟"\nsip = "zhangwei"\nlines = ["hq", "hk"]\n',
         r"engineers\[0\] \(张伟\).lines: unknown line id\(s\) 'hk' \(the \[\[lines\]\] ids are hq\)"),
        (LINE + '[[engineers]]\nname = "张伟"\nsip = "tel:+861"\nlines = ["hq"]\n',
         r"engineers\[0\] \(张伟\).sip: 'tel:\+861' is neither a SIP URI"),
        ("[hotline]\nmax_calls = 0\n" + LINE, r"\[hotline\] max_calls = 0: must be at least 1"),
        ("[hotline]\nmax_calls_per_source = -2\n" + LINE, r"max_calls_per_source = -2: must be at least 1"),
        ("[hotline]\nsession_expires_s = 30\n" + LINE, r"session_expires_s = 30: must be 90 to 86400"),
        ('[hotline]\ntrusted_sources = ["kamailio"]\n' + LINE, r"trusted_sources: 'kamailio' is not an IP"),
        ('[hotline]\ntrusted_sources = "10.0.0.5"\n' + LINE, r"trusted_sources must be a list of non-empty"),
        ('[hotline]\nallowed_networks = ["10.0.0.0/33"]\n' + LINE, r"allowed_networks: '10.0.0.0/33' is not"),
    ],
)
def test_broken_config_names_file_and_field(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=message) as e:
        load_config(path)
    assert str(e.value).startswith(str(path))


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.toml")


def test_cli_reports_a_broken_config_in_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, '[speech]\nlive_engine = "kaldi"\n' + LINE)
    command = [sys.executable, "-m", "deskline.cli", "hours", "--config", str(path), "--line", "hq"]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "live_engine = 'kaldi'" in proc.stderr and str(path) in proc.stderr


def test_site_holiday_arrangement_reaches_every_line(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, '[holidays.days_off]\n"2027-02-06..2027-02-12" = "春节"\n'
                                      '[holidays.workdays]\n"2027-02-20" = "春节"\n' + LINE +
                                      '\n[[lines]]\nid = "regional"\ncalendar = "regional"\n'))
    from routing.hours import LineCalendar

    for line in cfg.lines:
        assert LineCalendar(line).day_schedule(date(2027, 2, 9)).reason == "holiday"
        assert LineCalendar(line).day_schedule(date(2027, 2, 20)).reason == "makeup_workday"


def test_broken_site_holiday_arrangement_names_the_entry(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"deskline.toml: holidays.workdays.2027-02-15: .* is a weekday"):
        load_config(write(tmp_path, '[holidays.workdays]\n"2027-02-15" = "春节"\n' + LINE))


def _with_queue(tmp_path, queue: str):  # noqa: ANN001, ANN202
    path = tmp_path / "deskline.toml"
    path.write_text(f'[[lines]]\nid = "hq"\nqueue = {queue}\n', encoding="utf-8")
    return path


def test_line_queue_settings(tmp_path):
    from deskline.config import load_config

    cfg = load_config(_with_queue(tmp_path, "{ max_wait_s = 120, announce_every_s = 30, max_length = 5 }"))
    queue = cfg.line("hq").queue
    assert (queue.enabled, queue.max_wait_s, queue.announce_every_s) == (True, 120.0, 30.0)
    assert queue.max_length == 5
    assert load_config(_with_queue(tmp_path, "{ enabled = false }")).line("hq").queue.enabled is False


@pytest.mark.parametrize(("queue", "message"), [
    ("{ max_wait = 3 }", "lines[0] (hq).queue: unknown field 'max_wait'"),
    ("{ max_wait_s = 0 }", "queue.max_wait_s: must be more than 0"),
    ('{ max_length = "5" }', "queue.max_length: must be a number"),
    ("{ max_length = 2.5 }", "queue.max_length: must be a number"),
    ("{ announce_every_s = 3 }", "announce_every_s: 3 s is shorter than one announcement"),
    ('{ enabled = "yes" }', "queue.enabled: must be true or false"),
    ("5", "queue: must be a table"),
])
def test_bad_queue_settings_name_the_field(tmp_path, queue, message):
    from deskline.config import ConfigError, load_config

    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(_with_queue(tmp_path, queue))
