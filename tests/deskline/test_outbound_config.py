"""``[outbound]`` (issue 14): the trunk callbacks are dialled through, validated with clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from deskline.config import ConfigError, load_config

BASE = """
[[lines]]
id = "hq"
number = "hq"
calendar = "hq"

[[engineers]]
name = "张伟"
sip = "zhangwei"
certified = true
lines = ["hq"]
"""


def config(tmp_path: Path, outbound: str):  # noqa: ANN201
    path = tmp_path / "deskline.toml"
    path.write_text(BASE + "\n[outbound]\n" + outbound, encoding="utf-8")
    return load_config(path)


def test_trunk_and_prefix_rules(tmp_path: Path) -> None:
    settings = 'trunk = "10.0.0.20:5060"\ncaller_id = "01088886666"\ndial_prefix = "9"\n'
    out = config(tmp_path, settings).outbound
    assert out.enabled
    assert out.customer_uri("+86 138-0013-8000") == "sip:913800138000@10.0.0.20:5060"
    assert out.customer_uri("13800138000") == "sip:913800138000@10.0.0.20:5060"
    with pytest.raises(ValueError, match="不能外呼"):
        out.customer_uri("1380@evil.example")


def test_no_section_means_no_callbacks(tmp_path: Path) -> None:
    assert not config(tmp_path, "").outbound.enabled


@pytest.mark.parametrize(("setting", "message"), [
    ('trunk = "gateway"', r"trunk = 'gateway': must be host:port"),
    ('trunk = "10.0.0.20:99999"', "port must be 1-65535"),
    ('registrar = "pbx:5060"', "not supported yet"),
    ('username = "desk"', "only for a registrar"),
    ('caller_id = "a b"', "must be a SIP user part"),
    ('dial_prefix = "x"', "digits only"),
    ("customer_ring_s = 0", "must be 1 to 300 s"),
    ('engineer_ring_s = "long"', "must be a number"),
    ('strip_prefixes = "+86"', "must be a list of strings"),
    ("ring = 3", "unknown setting 'ring'"),
])
def test_bad_settings_name_the_key(tmp_path: Path, setting: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as err:
        config(tmp_path, setting + "\n")
    assert "deskline.toml" in str(err.value)
