"""deskline.toml: one file configures the hotline, lines, roster, speech and console.

Relative paths in the file are resolved against the file's own folder, so a config
and its data can be moved together. Without ``--config`` (or ``$DESKLINE_CONFIG``)
the shipped ``default_config.toml`` is used: the demo roster and the three lines of
the service standard (3.1(a)–(c)).
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deskline.outbound_config import OutboundConfigError, OutboundSettings, parse_outbound
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
    # Limits against silent, endless and hostile calls.
    rtp_timeout_s: float = 60.0  # no RTP from the caller or engineer this long ends the call (0 = never)
    max_call_s: float = 7200.0  # a call is ended (BYE to both) at this length (0 = no limit)
    voicemail_max_s: float = 60.0  # one voicemail is cut off at this length
    voicemails_per_caller_per_hour: int = 3  # more from one number within an hour are refused (0 = none)
    recordings_max_mb: int = 50000  # recordings_dir size beyond which nothing is recorded (0 = no cap)
    callback_min_talk_s: float = 30.0  # 3.3(4): shortest engineer conversation that keeps a callback
    # The call table and where the node may send (issue 9): beyond a cap an INVITE gets 503.
    max_calls: int = 50  # concurrent incoming calls on this node
    max_calls_per_source: int = 10  # concurrent calls from one IP address
    trusted_sources: list[str] = field(default_factory=list)  # e.g. the Kamailio front: no per-source cap
    allowed_networks: list[str] = field(default_factory=list)  # CIDRs for SIP and media peers ([] = any)
    session_expires_s: int = 1800  # RFC 4028 interval we ask refreshing phones for


@dataclass
class SpeechSettings:
    live_engine: str = "auto"  # "auto" = best installed
    accurate_engine: str = ""  # post-call pass; "" = keep the live result
    vosk_model: str = ""
    whisper_model: str = ""
    rules: str = ""  # "" = shipped default rule file
    # The node's recognition scheduler (speech/recognition_scheduler.py), Whisper only.
    recognition_workers: int = 2  # windows decoded at once; the CPU threads are shared out between them
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
    # Reverse proxies whose X-Forwarded-For names the real client (IPs or networks); none by
    # default, so no client can pick the address sign-in throttling counts it under.
    trusted_proxies: list[str] = field(default_factory=list)


@dataclass
class Config:
    source: Path
    hotline: HotlineSettings = field(default_factory=HotlineSettings)
    speech: SpeechSettings = field(default_factory=SpeechSettings)
    console: ConsoleSettings = field(default_factory=ConsoleSettings)
    store_path: Path = Path("var/deskline.db")
    lines: list[Any] = field(default_factory=list)
    roster: Roster | None = None
    outbound: OutboundSettings = field(default_factory=OutboundSettings)  # callbacks (issue 14)

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
            # TOML arrays may mix types, so each entry is checked.
            if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
                example = '["/srv/recordings"]' if key in PATH_LISTS else '["10.0.0.5"]'
                kind = "folder paths" if key in PATH_LISTS else "non-empty strings"
                raise ConfigError(
                    f"{source}: {name}.{key} must be a list of {kind}, e.g. {example}, not {value!r}"
                )
            value = [Path(v) for v in value] if key in PATH_LISTS else [v.strip() for v in value]
        elif expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        elif not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise ConfigError(
                f"{source}: {name}.{key} must be {expected.__name__}, not {type(value).__name__}"
            )
        setattr(obj, key, value)
    return obj


PATH_LISTS = {"audio_dirs"}


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
    known = {"hotline", "speech", "console", "store", "lines", "engineers", "holidays", "outbound"}
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
    for key in ("rtp_timeout_s", "max_call_s", "voicemail_max_s", "voicemails_per_caller_per_hour",
                "recordings_max_mb", "callback_min_talk_s"):
        if getattr(cfg.hotline, key) < 0:
            raise ConfigError(f"{source}: [hotline] {key} = {getattr(cfg.hotline, key)}: must be 0 or more")
    try:
        bind = ipaddress.ip_address(cfg.hotline.bind_ip)
    except ValueError:
        raise ConfigError(f"{source}: [hotline] bind_ip = {cfg.hotline.bind_ip!r}: must be an IP address "
                          "of this machine") from None
    if bind.is_unspecified:
        raise ConfigError(f"{source}: [hotline] bind_ip = {cfg.hotline.bind_ip!r}: must be a real address of "
                          "this machine (it goes into SDP, where callers send their audio), not 0.0.0.0")
    for key in ("max_calls", "max_calls_per_source"):
        if getattr(cfg.hotline, key) < 1:
            raise ConfigError(f"{source}: [hotline] {key} = {getattr(cfg.hotline, key)}: must be at least 1")
    if not 90 <= cfg.hotline.session_expires_s <= 86400:
        raise ConfigError(f"{source}: [hotline] session_expires_s = {cfg.hotline.session_expires_s}: must be "
                          "90 to 86400 seconds (RFC 4028's minimum is 90)")
    for address in cfg.hotline.trusted_sources:
        try:
            ipaddress.ip_address(address)
        except ValueError:
            raise ConfigError(
                f"{source}: [hotline] trusted_sources: {address!r} is not an IP address"
            ) from None
    for network in cfg.hotline.allowed_networks:
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError:
            raise ConfigError(f"{source}: [hotline] allowed_networks: {network!r} is not a network such as "
                              "\"10.0.0.0/8\"") from None
    if cfg.hotline.voicemail_max_s == 0:
        raise ConfigError(f"{source}: [hotline] voicemail_max_s must be more than 0 (a voicemail needs a "
                          "length limit; set voicemails_per_caller_per_hour = 0 to refuse voicemail)")
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
    # Read as a list setting (folders); these are addresses.
    cfg.console.trusted_proxies = [str(p) for p in cfg.console.trusted_proxies]
    for proxy in cfg.console.trusted_proxies:
        try:
            ipaddress.ip_network(proxy, strict=False)
        except ValueError:
            raise ConfigError(f"{source}: [console] trusted_proxies: {proxy!r} is not an IP address "
                              "or network (e.g. \"10.0.0.5\" or \"10.0.0.0/24\")") from None
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
        cfg.roster = parse_roster(data.get("engineers", []), str(source),
                                  tuple(line.id for line in cfg.lines))
    except RoutingConfigError as e:
        raise ConfigError(str(e)) from None
    if not cfg.lines:
        raise ConfigError(f"{source}: no [[lines]] configured")
    try:
        cfg.outbound = parse_outbound(data.get("outbound"), source)
    except OutboundConfigError as e:
        raise ConfigError(str(e)) from None
    return cfg
