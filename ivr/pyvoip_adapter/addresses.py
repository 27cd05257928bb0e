"""Where the agent may send: validated SIP hosts, SDP media addresses and the node's own ports.

A hostile INVITE can name any Contact, Record-Route or SDP address. Sending there turns the
node into a reflector (RTP at 50 packets/s to a victim for one INVITE), loops it onto its
own sockets, or hands ``sendto`` a value it raises on (port 99999, a ``tel:`` URI, a
non-ASCII host). So nothing from a message is used as a destination before it passes here;
in-dialog requests go to the transport address the dialog was learnt from (see ``legs``).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$"
)
IPV4 = re.compile(r"^\d{1,3}(?:\.\d{1,3}){3}$")


class AddressRefused(ValueError):
    """An address we will not send to; the message says why."""


def valid_host(host: str) -> bool:
    """A DNS name, an IPv4 literal or a bracketed IPv6 literal (RFC 3261 25.1 ``host``)."""
    if host.startswith("[") and host.endswith("]"):
        try:
            ipaddress.IPv6Address(host[1:-1])
            return True
        except ValueError:
            return False
    if IPV4.match(host):
        return all(int(part) <= 255 for part in host.split("."))
    return bool(HOSTNAME.match(host)) and not host.replace(".", "").isdigit()


def valid_port(port: int) -> bool:
    return 0 < port < 65536


def parse_networks(values: Iterable[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """CIDR strings to networks; a bad one is a ValueError naming it."""
    networks = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value, strict=False))
        except ValueError as e:
            raise ValueError(f"not a network: {value!r} ({e})") from None
    return networks


@dataclass
class AddressPolicy:
    """The node's rules for destinations. ``own_ports`` is called at check time (RTP ports come and go)."""

    own_ip: str
    own_ports: Callable[[], set[int]]
    allowed_networks: list = field(default_factory=list)  # empty: any unicast address

    def _check_ip(self, ip: str, what: str) -> ipaddress.IPv4Address:
        try:
            address = ipaddress.IPv4Address(ip)
        except ValueError:
            raise AddressRefused(f"{what} {ip!r} is not an IPv4 address") from None
        if (
            address.is_unspecified
            or address.is_multicast
            or address == ipaddress.IPv4Address("255.255.255.255")
        ):
            raise AddressRefused(f"{what} {ip} is not a unicast address")
        if self.allowed_networks and not any(address in net for net in self.allowed_networks):
            raise AddressRefused(f"{what} {ip} is outside the allowed networks")
        return address

    def _is_own(self, address: ipaddress.IPv4Address) -> bool:
        return address == ipaddress.IPv4Address(self.own_ip)

    def check(self, ip: str, port: int, what: str = "address") -> tuple[str, int]:
        """``(ip, port)`` if the node may send there, else AddressRefused."""
        if not isinstance(port, int) or not valid_port(port):
            raise AddressRefused(f"{what} port {port!r} is out of range")
        address = self._check_ip(ip, what)
        if self._is_own(address) and port in self.own_ports():
            raise AddressRefused(f"{what} {ip}:{port} is one of this node's own ports")
        return str(address), port

    def permits_source(self, ip: str) -> bool:
        """Whether datagrams from ``ip`` are handled at all (``allowed_networks``, if set)."""
        if not self.allowed_networks:
            return True
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return any(address in net for net in self.allowed_networks)
