"""deskline.toml: one file configures the hotline, lines, roster, speech and console.

Relative paths in the file are resolved against the file's own folder, so a config
and its data can be moved together. Without ``--config`` (or ``$DESKLINE_CONFIG``)
the shipped ``default_config.toml`` is used: the demo roster and the three lines of
the service standard (3.1(a)–(c)).
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from routing.config import RoutingConfigError, parse_holidays, parse_lines, parse_roster
from routing.roster import Roster

DEFAULT_CONFIG = Path(__file__).with_name("default_config.toml")


class ConfigError(ValueError):
    """A config file that cannot be used; the message names the file and the field."""


@dataclass
class HotlineSettings:
    bind_ip: str = "127.0.0.1"
    sip_port: int = 5060
    registrar: str = ""  # "host:port" of a registrar/proxy (Kamailio); "" = none
    max_rings: int = 3
    ring_on_s: float = 1.0
    ring_off_s: float = 4.0
    recordings_dir: Path = Path("var/recordings")
    prompts_dir: str = ""  # site recordings that replace shipped prompts ("" = shipped only)


@dataclass
class SpeechSettings:
    live_engine: str = "auto"  # "auto" = best installed
    accurate_engine: str = ""  # post-call pass; "" = keep the live result
    vosk_model: str = ""
    whisper_model: str = ""
    rules: str = ""  # "" = shipped default rule file
    # The node's recognition scheduler (speech/recognition_scheduler.py), Whisper only.
    recognition_workers: int = 1  # windows decoded at once, each on the model's CPU threads
    engineer_budget_s: float = 2.0  # an engineer segment waiting longer is counted late and logged
    caller_budget_s: float = 6.0  # a caller segment waiting longer is decoded after the call
    max_backlog_s: float = 60.0  # queued speech beyond which caller segments wait for the call's end


@dataclass
class ConsoleSettings:
    host: str = "127.0.0.1"
    port: int = 8080
    secret_key: str = ""
    https_only: bool = False
    url: str = ""  # a hotline node's console on another machine; "" = this process / shared store
    api_token: str = ""  # the node's bearer token for that console (`deskline user token NODE`)
    audio_dirs: list[Path] = field(default_factory=list)  # recordings served besides recordings_dir
    metrics_token: str = ""  # bearer token for /metrics; "" = loopback clients only


@dataclass
class Config:
    source: Path
    hotline: HotlineSettings = field(default_factory=HotlineSettings)
    speech: SpeechSettings = field(default_factory=SpeechSettings)
    console: ConsoleSettings = field(default_factory=ConsoleSettings)
    store_path: Path = Path("var/deskline.db")
    lines: list[Any] = field(default_factory=list)
    roster: Roster | None = None

    def line(self, line_id: str) -> Any:
        for line in self.lines:
            if line.id == line_id:
                return line
        known = ", ".join(line.id for line in self.lines)
        raise ConfigError(f"{self.source}: no line {line_id!r} (configured: {known})")


def _section(data: dict[str, Any], name: str, cls: type, source: Path) -> Any:
    raw = data.get(name, {})
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: [{name}] must be a table")
    obj = cls()
    for key, value in raw.items():
        if not hasattr(obj, key):
            known = ", ".join(vars(obj))
            raise ConfigError(f"{source}: [{name}] unknown setting {key!r} (known: {known})")
        current = getattr(obj, key)
        expected = type(current)
        if isinstance(current, Path):
            if not isinstance(value, str):
                raise ConfigError(f"{source}: {name}.{key} must be a path string")
            value = Path(value)
        elif isinstance(current, list):
            # TOML arrays may mix types, so each entry is checked; list settings are folder lists.
            if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
                raise ConfigError(
                    f"{source}: {name}.{key} must be a list of folder paths, e.g. [\"/srv/recordings\"], "
                    f"not {value!r}"
                )
            value = [Path(v) for v in value]
        elif expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        elif not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise ConfigError(
                f"{source}: {name}.{key} must be {expected.__name__}, not {type(value).__name__}"
            )
        setattr(obj, key, value)
    return obj


def _resolve(base: Path, path: Path | str) -> Path:
    p = Path(path).expanduser()
    return p if p.is_absolute() else (base / p)


def config_path(explicit: str | Path | None) -> Path:
    if explicit:
        return Path(explicit)
    env = os.environ.get("DESKLINE_CONFIG")
    if env:
        return Path(env)
    local = Path("deskline.toml")
    return local if local.exists() else DEFAULT_CONFIG


def load_config(path: str | Path | None = None) -> Config:
    source = config_path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{source}: config file not found") from None
    except OSError as e:
        raise ConfigError(f"{source}: cannot read config file: {e.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{source}: not valid TOML: {e}") from None
    known = {"hotline", "speech", "console", "store", "lines", "engineers", "holidays"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(
            f"{source}: unknown section(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})"
        )
    base = source.resolve().parent
    cfg = Config(source=source)
    cfg.hotline = _section(data, "hotline", HotlineSettings, source)
    cfg.hotline.recordings_dir = _resolve(base, cfg.hotline.recordings_dir)
    if cfg.hotline.prompts_dir:
        cfg.hotline.prompts_dir = str(_resolve(base, cfg.hotline.prompts_dir))
    cfg.speech = _section(data, "speech", SpeechSettings, source)
    engines = {"live_engine": ("auto", "whisper", "vosk"), "accurate_engine": ("", "whisper", "vosk")}
    for key, allowed in engines.items():
        value = getattr(cfg.speech, key)
        if value not in allowed:
            shown = ", ".join(f'"{a}"' for a in allowed)
            raise ConfigError(f"{source}: [speech] {key} = {value!r}: must be one of {shown}")
    if cfg.speech.recognition_workers < 1:
        raise ConfigError(f"{source}: [speech] recognition_workers must be 1 or more")
    for key in ("engineer_budget_s", "caller_budget_s", "max_backlog_s"):
        if getattr(cfg.speech, key) <= 0:
            raise ConfigError(f"{source}: [speech] {key} must be a positive number of seconds")
    for key in ("vosk_model", "whisper_model", "rules"):
        value = getattr(cfg.speech, key)
        if value:
            setattr(cfg.speech, key, str(_resolve(base, value)))
    cfg.console = _section(data, "console", ConsoleSettings, source)
    cfg.console.audio_dirs = [_resolve(base, p) for p in cfg.console.audio_dirs]
    if cfg.console.metrics_token != "".join(cfg.console.metrics_token.split()):
        raise ConfigError(f"{source}: [console] metrics_token must not contain spaces or line breaks "
                          "(it is sent in an Authorization header)")
    if cfg.console.url:
        if not re.match(r"https?://[^/\s]+", cfg.console.url):
            raise ConfigError(f"{source}: [console] url = {cfg.console.url!r}: must be an http:// or "
                              "https:// address such as \"http://console.example:8080\"")
        if not cfg.console.api_token:
            raise ConfigError(f"{source}: [console] url is set but api_token is empty: create one on the "
                              "console with `deskline user token NODE-NAME` and put it here")
    store = data.get("store", {})
    if not isinstance(store, dict) or not isinstance(store.get("path", ""), str):
        raise ConfigError(f"{source}: [store] path must be a path string")
    if source == DEFAULT_CONFIG:
        # The shipped config must not write into site-packages.
        base = Path.cwd()
        cfg.hotline.recordings_dir = _resolve(base, HotlineSettings().recordings_dir)
    cfg.store_path = _resolve(base, store.get("path", "var/deskline.db"))
    try:
        holidays = parse_holidays(data.get("holidays", {}), str(source))
        cfg.lines = parse_lines(data.get("lines", []), str(source), holidays)
        cfg.roster = parse_roster(data.get("engineers", []), str(source))
    except RoutingConfigError as e:
        raise ConfigError(str(e)) from None
    if not cfg.lines:
        raise ConfigError(f"{source}: no [[lines]] configured")
    return cfg
