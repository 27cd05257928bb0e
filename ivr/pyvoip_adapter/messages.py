"""Parsing SIP datagrams tolerantly but totally, and building the replies and requests we send.

Defect 3 (pyVoIP splits headers on ``": "``): pyVoIP's ``SIPMessage`` silently drops an
INVITE with an empty header (baresip sends ``Supported:``), a ``Name:value`` header or a
compact header (``v:``, ``f:``, ``i:`` ...). ``TolerantSIPMessage`` replaces the raw header
splitter: split on the first colon, strip, expand compact names, canonicalise case, unfold
continuation lines, split comma-joined Via values. Anything it still cannot understand
raises ``MalformedSipError`` naming what is wrong, never a half-parsed message.

The builders below write responses with the request's Via lines copied verbatim (RFC 3261
8.2.6.2) and in-dialog requests with *our own* Via (defect 10: pyVoIP's BYE copies the
caller's Via).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from ._pyvoip import SIP

MAX_SIP_DATAGRAM = 16 * 1024  # anything larger is not a SIP message we want over UDP
USER_AGENT = "Deskline"
ALLOW = "INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE"

# RFC 3261 7.3.3 and the IANA registry of compact forms.
COMPACT_HEADERS = {
    "i": "Call-ID",
    "m": "Contact",
    "e": "Content-Encoding",
    "l": "Content-Length",
    "c": "Content-Type",
    "f": "From",
    "s": "Subject",
    "k": "Supported",
    "t": "To",
    "v": "Via",
    "o": "Event",
    "r": "Refer-To",
    "u": "Allow-Events",
    "x": "Session-Expires",
}
# Names whose canonical case is not simple Title-Case-Per-Dash.
SPECIAL_CASE = {
    "call-id": "Call-ID",
    "cseq": "CSeq",
    "www-authenticate": "WWW-Authenticate",
    "mime-version": "MIME-Version",
    "record-route": "Record-Route",
}
REQUIRED_HEADERS = ("Via", "From", "To", "Call-ID", "CSeq")
REQUEST_LINE = re.compile(r"^([A-Za-z]+) (\S+) SIP/2\.0$")
METHOD = re.compile(r"^[A-Z]+$")  # RFC 3261 7.1: methods are case-sensitive; "invite" is not INVITE
CSEQ = re.compile(r"^(\d{1,10})\s+([A-Za-z]+)$")
CONTENT_LENGTH = re.compile(r"^\d{1,6}$")
MAX_FORWARDS = re.compile(r"^\d{1,3}$")
CALL_ID = re.compile(r"^[\x21-\x7e]{1,256}$")
SIP_URI = re.compile(r"^sips?:(?:([^@;>?\s]+)@)?(\[[^\]]+\]|[^:;>?\s]+)(?::(\d{1,5}))?(?:[;?].*)?$")
CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
MAX_HEADERS = 100
STATUS_LINE = re.compile(r"^SIP/2\.0 (\d{3})(?: (.*))?$")
URI_IN_BRACKETS = re.compile(r"<([^>]+)>")
HOST_PORT = re.compile(r"^sips?:(?:[^@;>]+@)?(\[[^\]]+\]|[^:;>?]+)(?::(\d+))?")


class MalformedSipError(ValueError):
    """A datagram that is not a SIP message we can act on; ``reason`` says why.

    ``status`` is the error response a request gets (400, or 416 for a URI scheme we do
    not speak, 483 for Max-Forwards 0, 513 for a message too large).
    """

    def __init__(self, reason: str, message: TolerantSIPMessage | None = None, status: int = 400):
        super().__init__(reason)
        self.reason = reason
        # The partly parsed request when enough of it is there to send an error back.
        self.message = message
        self.status = status


def canonical_header_name(name: str) -> str:
    lowered = name.strip().lower()
    if lowered in COMPACT_HEADERS:
        return COMPACT_HEADERS[lowered]
    if lowered in SPECIAL_CASE:
        return SPECIAL_CASE[lowered]
    return "-".join(part.capitalize() for part in lowered.split("-"))


def split_header_lines(lines: list[bytes]) -> list[tuple[str, str]]:
    """Header lines to (canonical name, stripped value) pairs, continuation lines unfolded."""
    pairs: list[tuple[str, str]] = []
    for raw in lines:
        line = raw.decode("utf-8", errors="strict")
        if not line.strip():
            continue
        if line[0] in " \t":
            if not pairs:
                raise MalformedSipError("continuation line before any header")
            name, value = pairs[-1]
            pairs[-1] = (name, f"{value} {line.strip()}")
            continue
        name, colon, value = line.partition(":")
        if not colon or not name.strip() or " " in name.strip():
            raise MalformedSipError(f"header line is not 'Name: value': {line[:60]!r}")
        pairs.append((canonical_header_name(name), value.strip()))
    return pairs


class TolerantSIPMessage(SIP.SIPMessage):
    """pyVoIP's SIPMessage with a header splitter that survives real phones (defect 3)."""

    raw_headers: dict[str, str]
    raw_vias: list[str]

    def parse(self, data: bytes) -> None:
        head, _, body = data.replace(b"\r\n", b"\n").partition(b"\n\n")
        lines = head.split(b"\n")
        try:
            first = lines[0].decode("utf-8", errors="strict").strip()
        except UnicodeDecodeError as e:
            raise MalformedSipError("first line is not text") from e
        request = REQUEST_LINE.match(first)
        status = STATUS_LINE.match(first)
        if not request and not status:
            raise MalformedSipError(f"not a SIP request or status line: {first[:60]!r}")
        self.heading = lines[0]
        self.version = "SIP/2.0"
        try:
            pairs = split_header_lines(lines[1:])
        except UnicodeDecodeError as e:
            raise MalformedSipError("headers are not UTF-8 text") from e
        self.raw_headers = {}
        self.raw_vias = []
        self.record_routes: list[str] = []
        for name, value in pairs:
            if name == "Via":
                self.raw_vias.extend(v.strip() for v in value.split(",") if v.strip())
            elif name == "Record-Route":
                self.record_routes.extend(r.strip() for r in value.split(",") if r.strip())
            self.raw_headers.setdefault(name, value)
        if request:
            self.type = SIP.SIPMessageType.MESSAGE
            self.method_as_sent = request.group(1)
            self.method = request.group(1).upper()
            self.request_uri = request.group(2)
        else:
            self.type = SIP.SIPMessageType.RESPONSE
            self.status_code = int(status.group(1))
            try:
                self.status = SIP.SIPStatus(self.status_code)
            except ValueError:
                self.status = SIP.SIPStatus(500 if self.status_code >= 500 else 400)
        self._parse_headers()
        length = self.headers.get("Content-Length")
        if isinstance(length, int) and length < len(body):
            body = body[:length]
        self._parse_body(body.replace(b"\n", b"\r\n"))

    def _parse_headers(self) -> None:
        # The Via list goes in whole; every other header is the first occurrence.
        handled = {"Via": self.raw_vias, **{k: v for k, v in self.raw_headers.items() if k != "Via"}}
        for name, value in handled.items():
            if name == "Content-Length" and value == "":
                value = "0"
            try:
                self.parse_header(name, value)
            except Exception as e:  # pyVoIP raises IndexError/ValueError on odd values
                raise MalformedSipError(f"cannot parse {name} header {str(value)[:60]!r}", self) from e

    def _parse_body(self, body: bytes) -> None:
        if not body.strip():
            return
        if "Content-Type" not in self.headers:
            raise MalformedSipError("a body without Content-Type", self)
        try:
            self.parse_raw_body(body.strip(), self.parse_body)
        except Exception as e:
            raise MalformedSipError(f"cannot parse the {self.headers['Content-Type']} body", self) from e

    @property
    def is_request(self) -> bool:
        return self.type == SIP.SIPMessageType.MESSAGE

    @property
    def cseq_number(self) -> int:
        return int(self.headers["CSeq"]["check"])

    @property
    def cseq_method(self) -> str:
        return str(self.headers["CSeq"]["method"]).upper()

    @property
    def has_sdp(self) -> bool:
        return "m" in self.body and "c" in self.body


def parse_sip(data: bytes) -> TolerantSIPMessage:
    """Parse one datagram or raise MalformedSipError (with ``.message`` set when 400 is possible)."""
    if len(data) > MAX_SIP_DATAGRAM:
        raise MalformedSipError(f"datagram of {len(data)} bytes exceeds {MAX_SIP_DATAGRAM}")
    try:
        message = TolerantSIPMessage(data)
    except MalformedSipError:
        raise
    except Exception as e:  # anything pyVoIP's own parse steps throw
        raise MalformedSipError(f"unparseable SIP: {e}") from e
    _check_total(message, data)
    missing = [h for h in REQUIRED_HEADERS if not message.headers.get(h)]
    if message.is_request and message.method == "INVITE" and "Contact" not in message.headers:
        missing.append("Contact")
    if missing:
        answerable = (
            message if all(h in message.headers and message.headers[h] for h in REQUIRED_HEADERS) else None
        )
        raise MalformedSipError(f"missing header(s): {', '.join(missing)}", answerable)
    if message.is_request and message.headers["CSeq"]["method"] != message.method_as_sent:
        raise MalformedSipError(f"CSeq method {message.cseq_method} does not match {message.method}", message)
    _check_request(message)
    return message


def raw_body(data: bytes) -> bytes:
    """The bytes after the blank line that ends the headers, as sent."""
    for separator in (b"\r\n\r\n", b"\n\n"):
        head, found, body = data.partition(separator)
        if found:
            return body
    return b""


def _check_total(message: TolerantSIPMessage, data: bytes) -> None:
    """What every message must satisfy before anything acts on it (strict, never half-parsed)."""
    if len(message.raw_headers) > MAX_HEADERS or len(message.raw_vias) > MAX_HEADERS:
        raise MalformedSipError(f"more than {MAX_HEADERS} headers")
    for name, value in message.raw_headers.items():
        if CONTROL.search(value):
            raise MalformedSipError(f"control characters in the {name} header")
    answerable = message if all(message.raw_headers.get(h) for h in REQUIRED_HEADERS) else None
    cseq = CSEQ.match(message.raw_headers.get("CSeq", ""))
    if "CSeq" in message.raw_headers and (not cseq or int(cseq.group(1)) >= 2**31):
        raise MalformedSipError(f"CSeq is not 'number METHOD': {message.raw_headers['CSeq'][:40]!r}")
    if "Call-ID" in message.raw_headers and not CALL_ID.match(message.raw_headers["Call-ID"]):
        raise MalformedSipError("Call-ID is not a word of at most 256 characters", answerable)
    length = message.raw_headers.get("Content-Length")
    if length is not None and length != "":
        if not CONTENT_LENGTH.match(length):
            raise MalformedSipError(f"Content-Length is not a size: {length[:20]!r}", answerable)
        if int(length) > len(raw_body(data)):
            raise MalformedSipError(f"Content-Length {length} is longer than the body", answerable)
    if not message.is_request:
        if not 100 <= message.status_code <= 699:
            raise MalformedSipError(f"status code {message.status_code} out of range")
        return
    if not METHOD.match(message.method_as_sent):
        raise MalformedSipError(f"method {message.method_as_sent!r} is not upper case", answerable)
    if not SIP_URI.match(message.request_uri):
        raise MalformedSipError(f"Request-URI {message.request_uri[:60]!r} is not a SIP URI", answerable, 416)
    forwards = message.raw_headers.get("Max-Forwards")
    if forwards is not None and (not MAX_FORWARDS.match(forwards) or int(forwards) > 255):
        raise MalformedSipError(f"Max-Forwards is not 0-255: {forwards[:20]!r}", answerable)
    if forwards == "0" and message.method_as_sent not in ("OPTIONS", "ACK"):
        raise MalformedSipError("Max-Forwards reached 0", answerable, 483)


def check_sip_uri(uri: str, what: str) -> tuple[str, int | None]:
    """(host, port or None) of a sip:/sips: URI, or MalformedSipError saying what is wrong."""
    from .addresses import valid_host, valid_port

    match = SIP_URI.match(uri)
    if not match:
        raise MalformedSipError(f"{what} {uri[:60]!r} is not a SIP URI", status=416 if ":" in uri else 400)
    host, port = match.group(2), match.group(3)
    if not valid_host(host):
        raise MalformedSipError(f"{what} host {host[:60]!r} is not a host name or address")
    if port is not None and not valid_port(int(port)):
        raise MalformedSipError(f"{what} port {port} is out of range")
    return host.strip("[]"), None if port is None else int(port)


def _check_request(message: TolerantSIPMessage) -> None:
    """Dialog-forming requests: the From tag, a usable Contact and Record-Route set."""
    if not message.is_request or message.method not in ("INVITE", "BYE", "CANCEL", "ACK", "UPDATE"):
        return
    if not message.headers["From"].get("tag"):
        raise MalformedSipError("From has no tag", message)
    if message.method == "INVITE":
        contact = message.raw_headers.get("Contact", "")
        if "," in contact.replace('","', ""):
            raise MalformedSipError("an INVITE has exactly one Contact", message)
        try:
            check_sip_uri(uri_of(contact), "Contact")
            for route in message.record_routes:
                check_sip_uri(uri_of(route), "Record-Route")
        except MalformedSipError as e:
            raise MalformedSipError(e.reason, message, e.status) from None


def uri_of(name_addr: str) -> str:
    """``"Bob" <sip:bob@h>;tag=x`` -> ``sip:bob@h``."""
    bracketed = URI_IN_BRACKETS.search(name_addr)
    if bracketed:
        return bracketed.group(1)
    return name_addr.split(";")[0].strip()


def host_port_of(uri: str, default_port: int = 5060) -> tuple[str, int]:
    match = HOST_PORT.match(uri_of(uri))
    if not match:
        raise ValueError(f"not a SIP URI: {uri!r}")
    return match.group(1).strip("[]"), int(match.group(2) or default_port)


def user_of(uri: str) -> str:
    plain = uri_of(uri).split(":", 1)[-1]
    return plain.split("@")[0] if "@" in plain else ""


def new_branch() -> str:
    return "z9hG4bK" + uuid.uuid4().hex[:20]


def new_tag() -> str:
    return uuid.uuid4().hex[:10]


def build_response(
    request: TolerantSIPMessage,
    code: int,
    reason: str,
    to_tag: str | None = None,
    extra: list[str] | None = None,
    body: str = "",
) -> bytes:
    """A response whose Via/From/Call-ID/CSeq are copied verbatim from the request.

    A response that creates a dialog (a 101–299 to an INVITE) also carries the request's
    Record-Route (RFC 3261 §12.1.1): without it a caller behind a proxy sends ACK and BYE
    straight past the proxy, which then refuses them.
    """
    to = request.raw_headers["To"]
    if to_tag and ";tag=" not in to:
        to = f"{to};tag={to_tag}"
    lines = [f"SIP/2.0 {code} {reason}"]
    lines += [f"Via: {via}" for via in request.raw_vias]
    if 100 < code < 300 and getattr(request, "method", "") == "INVITE":
        lines += [f"Record-Route: {route}" for route in getattr(request, "record_routes", [])]
    lines += [
        f"From: {request.raw_headers['From']}",
        f"To: {to}",
        f"Call-ID: {request.raw_headers['Call-ID']}",
        f"CSeq: {request.raw_headers['CSeq']}",
    ]
    lines += extra or []
    lines += [f"User-Agent: {USER_AGENT}", f"Allow: {ALLOW}"]
    if body:
        lines.append("Content-Type: application/sdp")
    lines.append(f"Content-Length: {len(body.encode())}")
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


ERROR_REASONS = {
    400: "Bad Request",
    416: "Unsupported URI Scheme",
    483: "Too Many Hops",
    513: "Message Too Large",
}


def build_bad_request(data_or_message: TolerantSIPMessage, reason: str, status: int = 400) -> bytes:
    safe_reason = re.sub(r"[\x00-\x1f\x7f\"\\]", " ", reason)[:100]
    return build_response(
        data_or_message,
        status,
        ERROR_REASONS.get(status, "Bad Request"),
        to_tag=new_tag(),
        extra=[f'Warning: 399 deskline "{safe_reason}"'],
    )


@dataclass
class Dialog:
    """What we need to send requests inside one call: both ends, tags, target and our CSeq."""

    call_id: str
    local_uri: str  # our name-addr without tag
    local_tag: str
    remote_uri: str  # their name-addr without tag
    remote_tag: str
    remote_target: str  # their Contact URI: where in-dialog requests go
    local_host: str
    local_port: int
    local_cseq: int = 1
    route_set: list[str] = field(default_factory=list)

    def next_cseq(self) -> int:
        self.local_cseq += 1
        return self.local_cseq

    def request(
        self,
        method: str,
        cseq: int | None = None,
        branch: str | None = None,
        extra: list[str] | None = None,
        body: str = "",
        uri: str | None = None,
    ) -> bytes:
        """An in-dialog request with our own Via (the defect-10 fix for BYE)."""
        remote = f"{self.remote_uri};tag={self.remote_tag}" if self.remote_tag else self.remote_uri
        lines = [
            f"{method} {uri or self.remote_target} SIP/2.0",
            f"Via: SIP/2.0/UDP {self.local_host}:{self.local_port};branch={branch or new_branch()};rport",
            "Max-Forwards: 70",
            f"From: {self.local_uri};tag={self.local_tag}",
            f"To: {remote}",
            f"Call-ID: {self.call_id}",
            f"CSeq: {cseq if cseq is not None else self.next_cseq()} {method}",
        ]
        lines += [f"Route: {r}" for r in self.route_set]
        lines += [f"Contact: <sip:deskline@{self.local_host}:{self.local_port}>", f"User-Agent: {USER_AGENT}"]
        lines += extra or []
        if body:
            lines.append("Content-Type: application/sdp")
        lines.append(f"Content-Length: {len(body.encode())}")
        return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


def sdp_offer_or_answer(
    session_id: int, version: int, ip: str, port: int, codecs: dict[int, str], dtmf_payload: int | None
) -> str:
    """A one-stream audio SDP with the given payload types in preference order."""
    payloads = list(codecs) + ([dtmf_payload] if dtmf_payload is not None else [])
    lines = [
        "v=0",
        f"o=deskline {session_id} {version} IN IP4 {ip}",
        "s=Deskline",
        f"c=IN IP4 {ip}",
        "t=0 0",
        f"m=audio {port} RTP/AVP {' '.join(str(p) for p in payloads)}",
    ]
    lines += [f"a=rtpmap:{pt} {name}/8000" for pt, name in codecs.items()]
    if dtmf_payload is not None:
        lines += [f"a=rtpmap:{dtmf_payload} telephone-event/8000", f"a=fmtp:{dtmf_payload} 0-15"]
    lines += ["a=ptime:20", "a=sendrecv"]
    return "\r\n".join(lines) + "\r\n"


def describe(message: TolerantSIPMessage) -> str:
    """Short text for log lines."""
    if message.is_request:
        return f"{message.method} {message.headers.get('Call-ID', '?')}"
    return f"{message.status_code} {message.cseq_method} {message.headers.get('Call-ID', '?')}"


def media_of(message: TolerantSIPMessage) -> tuple[str, int, dict[int, str]]:
    """(address, port, {payload type: codec name}) of the first audio stream of an SDP body."""
    audio = next((m for m in message.body.get("m", []) if m["type"] == "audio"), None)
    if audio is None or not message.body.get("c"):
        raise MalformedSipError("SDP has no audio stream", message)
    codecs: dict[int, str] = {}
    for pt_text in audio["methods"]:
        pt = int(pt_text)
        rtpmap: dict[str, Any] = audio["attributes"].get(pt_text, {}).get("rtpmap", {})
        name = rtpmap.get("name") or {0: "PCMU", 8: "PCMA"}.get(pt, "")
        codecs[pt] = str(name)
    return message.body["c"][0]["address"], int(audio["port"]), codecs
