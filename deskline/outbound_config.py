"""``[outbound]``: where the node places callbacks to customers (issue 14, item 4).

The customer is called through a SIP trunk (a gateway or carrier that accepts calls from
this node's address, a sipp UAS in the tests): ``sip:<dial_prefix><number>@<trunk>``.
The number a callback dials is the caller number stored with the promise, after the
prefix rules; anything that is not digits after them is refused, never put into a URI.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HOST_PORT = re.compile(r"^[A-Za-z0-9.\-]+:\d{1,5}$")
DIGITS = re.compile(r"^[0-9]{3,20}$")


class OutboundConfigError(ValueError):
    pass


@dataclass
class OutboundSettings:
    trunk: str = ""  # "host:port" of the trunk/gateway the customer is called through; "" = no callbacks
    registrar: str = ""  # a registrar that needs credentials: not supported yet (refused with a reason)
    username: str = ""
    password: str = ""
    caller_id: str = "hotline"  # the user part the customer sees (From)
    strip_prefixes: list[str] = field(default_factory=lambda: ["+86", "0086"])  # taken off first
    dial_prefix: str = ""  # put in front of every number (e.g. "9" for an outside line)
    engineer_ring_s: float = 20.0  # the engineer's phone rings this long before the attempt is given up
    customer_ring_s: float = 30.0  # the customer's phone rings this long
    remind_before_min: float = 30.0  # the owner sees a reminder on /me this long before the due time

    @property
    def enabled(self) -> bool:
        return bool(self.trunk)

    def dial_number(self, number: str) -> str:
        """The digits sent to the trunk for a stored caller number (ValueError if not dialable)."""
        cleaned = number.strip().replace(" ", "").replace("-", "")
        for prefix in self.strip_prefixes:
            if cleaned.startswith(prefix):
                cleaned = cleaned[len(prefix):]
                break
        if not DIGITS.match(cleaned):
            raise ValueError(f"号码 {number!r} 不能外呼（需 3–20 位数字）")
        return self.dial_prefix + cleaned

    def customer_uri(self, number: str) -> str:
        return f"sip:{self.dial_number(number)}@{self.trunk}"


KNOWN = set(vars(OutboundSettings()))


def parse_outbound(raw: Any, source: Path | str) -> OutboundSettings:
    """``[outbound]`` validated; every error names the file and the key."""
    if raw is None:
        return OutboundSettings()
    if not isinstance(raw, dict):
        raise OutboundConfigError(f"{source}: [outbound] must be a table")
    out = OutboundSettings()
    for key, value in raw.items():
        if key not in KNOWN:
            raise OutboundConfigError(
                f"{source}: [outbound] unknown setting {key!r} (known: {', '.join(sorted(KNOWN))})")
        current = getattr(out, key)
        if isinstance(current, list):
            if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
                raise OutboundConfigError(
                    f"{source}: outbound.{key} must be a list of strings, e.g. [\"+86\"]")
        elif isinstance(current, float):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise OutboundConfigError(f"{source}: outbound.{key} must be a number of seconds/minutes")
            value = float(value)
        elif not isinstance(value, str):
            raise OutboundConfigError(
                f"{source}: outbound.{key} must be a string, not {type(value).__name__}")
        setattr(out, key, value)
    if out.registrar:
        raise OutboundConfigError(
            f"{source}: [outbound] registrar = {out.registrar!r}: calling out through a registrar that "
            "asks for credentials (digest on INVITE) is not supported yet; use trunk = \"host:port\" of a "
            "gateway that accepts this node's address")
    if out.username or out.password:
        raise OutboundConfigError(f"{source}: [outbound] username/password are only for a registrar, "
                                  "which is not supported yet; a trunk authenticates this node by "
                                  "its address")
    if out.trunk and not HOST_PORT.match(out.trunk):
        raise OutboundConfigError(f"{source}: [outbound] trunk = {out.trunk!r}: must be host:port, "
                                  "e.g. \"10.0.0.20:5060\"")
    if out.trunk and not 0 < int(out.trunk.rsplit(":", 1)[1]) < 65536:
        raise OutboundConfigError(f"{source}: [outbound] trunk = {out.trunk!r}: port must be 1-65535")
    if not re.match(r"^[A-Za-z0-9_.+\-]{1,32}$", out.caller_id):
        raise OutboundConfigError(f"{source}: [outbound] caller_id = {out.caller_id!r}: must be a SIP user "
                                  "part (letters, digits, _ . + -), e.g. \"01088886666\"")
    if not re.match(r"^[0-9*#]{0,8}$", out.dial_prefix):
        raise OutboundConfigError(f"{source}: [outbound] dial_prefix = {out.dial_prefix!r}: digits only "
                                  "(up to 8), e.g. \"9\"")
    for key in ("engineer_ring_s", "customer_ring_s"):
        if not 1 <= getattr(out, key) <= 300:
            raise OutboundConfigError(
                f"{source}: [outbound] {key} = {getattr(out, key):g}: must be 1 to 300 s")
    if out.remind_before_min < 0:
        raise OutboundConfigError(f"{source}: [outbound] remind_before_min must be 0 or more")
    return out
