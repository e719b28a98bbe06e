"""Egress policy: which addresses a delivery may connect to (the SSRF guard's decisions).

Pure: it judges IP addresses and URL strings; resolving names and pinning the connection
to the vetted address is the job of ``delivery/resolver.py``.

Every address that is not globally routable is refused unless the operator allowed a
network containing it. The deny table is explicit rather than ``ipaddress.is_global``,
which calls ``64:ff9b::a9fe:a9fe`` (NAT64 of the metadata address), ``2002:a9fe:a9fe::1``
(6to4) and ``::169.254.169.254`` (IPv4-compatible) global. IPv6 forms that carry an IPv4
address (mapped, compatible, 6to4, NAT64) are judged by the IPv4 address they carry.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

ALLOWED_SCHEMES = frozenset({"http", "https"})


def _table(rows: tuple[tuple[str, str], ...]) -> tuple[tuple[IPNetwork, str], ...]:
    return tuple((ipaddress.ip_network(cidr), kind) for cidr, kind in rows)


# (network, kind): the first match names the refusal; order matters only for the names.
_DENIED_V4 = _table(
    (
        ("0.0.0.0/8", "unspecified"),
        ("10.0.0.0/8", "private"),
        ("100.64.0.0/10", "shared (CGNAT)"),
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link-local"),
        ("172.16.0.0/12", "private"),
        ("192.0.0.0/24", "reserved"),
        ("192.0.2.0/24", "documentation"),
        ("192.88.99.0/24", "reserved"),
        ("192.168.0.0/16", "private"),
        ("198.18.0.0/15", "benchmarking"),
        ("198.51.100.0/24", "documentation"),
        ("203.0.113.0/24", "documentation"),
        ("224.0.0.0/4", "multicast"),
        ("255.255.255.255/32", "broadcast"),
        ("240.0.0.0/4", "reserved"),
    )
)

_DENIED_V6 = _table(
    (
        ("::/128", "unspecified"),
        ("::1/128", "loopback"),
        ("64:ff9b:1::/48", "local NAT64"),
        ("100::/64", "discard-only"),
        ("2001:2::/48", "benchmarking"),
        ("2001:db8::/32", "documentation"),
        ("2001::/23", "reserved"),  # IETF protocol assignments, Teredo included
        ("3fff::/20", "documentation"),
        ("5f00::/16", "reserved"),  # SRv6 SIDs
        ("fc00::/7", "private"),  # unique local, includes fd00:ec2::254 (AWS metadata)
        ("fe80::/10", "link-local"),
        ("fec0::/10", "site-local"),
        ("ff00::/8", "multicast"),
    )
)

_GLOBAL_UNICAST_V6 = ipaddress.ip_network("2000::/3")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, str] | None:
    """The IPv4 address an IPv6 transition form carries, and the form's name."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped, "IPv4-mapped"
    if ip.sixtofour is not None:
        return ip.sixtofour, "6to4"
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF), "NAT64"
    if ip in _IPV4_COMPATIBLE and int(ip) > 1:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF), "IPv4-compatible"
    return None


def _denied_kind(ip: IPAddress) -> str | None:
    """The kind of a non-global address, or None for a global one."""
    if ip.version == 4:
        for net, kind in _DENIED_V4:
            if ip in net:
                return kind
        return None
    for net, kind in _DENIED_V6:
        if ip in net:
            return kind
    if ip not in _GLOBAL_UNICAST_V6:
        return "reserved"
    return None


def _parse_ip(text: str) -> IPAddress | None:
    # getaddrinfo reports link-local IPv6 with a zone ("fe80::1%eth0"); the zone is not
    # part of the address the policy judges.
    try:
        return ipaddress.ip_address(text.partition("%")[0])
    except ValueError:
        return None


@dataclasses.dataclass(frozen=True)
class EgressPolicy:
    """Refuses non-global destinations unless inside one of the operator's ``allow`` CIDRs."""

    allow: tuple[str, ...] = ()
    _networks: tuple[IPNetwork, ...] = dataclasses.field(
        init=False, repr=False, compare=False, default=()
    )

    def __post_init__(self) -> None:
        networks = tuple(ipaddress.ip_network(cidr, strict=False) for cidr in self.allow)
        object.__setattr__(self, "_networks", networks)

    def _allowed(self, ip: IPAddress) -> bool:
        return any(ip.version == net.version and ip in net for net in self._networks)

    def check_ip(self, ip: str) -> str | None:
        """None when a connection to ``ip`` is allowed, else the reason it is refused."""
        addr = _parse_ip(ip)
        if addr is None:
            return f"{ip!r} is not an IP address"
        if self._allowed(addr):
            return None
        if addr.version == 6:
            embedded = _embedded_ipv4(addr)
            if embedded is not None:
                v4, form = embedded
                if self._allowed(v4):
                    return None
                kind = _denied_kind(v4)
                if kind is None and form == "IPv4-compatible":
                    kind = "deprecated"
                if kind is None:
                    return None
                return f"{kind} address {ip} ({form} {v4}) is not allowed"
        kind = _denied_kind(addr)
        if kind is None:
            return None
        return f"{kind} address {ip} is not allowed"

    def check_url(self, url: str) -> str | None:
        """The create-time check: scheme, shape and a literal host; names pass (vetted later)."""
        reason = url_shape_problem(url)
        if reason is not None:
            return reason
        host = urlsplit(url).hostname or ""
        ip = literal_host_ip(host)
        if ip is None:
            return None
        return self.check_ip(ip)


def url_shape_problem(url: str) -> str | None:
    """Why ``url`` cannot be a delivery URL (scheme, host, stray characters), or None."""
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        return "URL contains whitespace or control characters"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- raises ValueError on a bad port
    except ValueError as exc:
        return f"invalid URL: {exc}"
    if parts.scheme.lower() not in ALLOWED_SCHEMES:
        return f"URL scheme {parts.scheme or '(none)'!r} is not allowed (use http or https)"
    # Parsers disagree on "\" in the authority (WHATWG reads it as "/"), so the host we
    # judge could differ from the host the client dials.
    if "\\" in parts.netloc:
        return "URL authority contains a backslash"
    if not parts.hostname:
        return "URL has no host"
    return None


def literal_host_ip(host: str) -> str | None:
    """The canonical IP a numeric host spelling stands for, or None for a real name.

    Knows the spellings the C resolver accepts: dotted quads with one to four parts in
    decimal, hex (0x) or octal (leading 0) -- "2130706433", "0x7f000001", "0177.0.0.1",
    "127.1" -- and IPv6, bracketed or not.
    """
    host = host.strip()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if ":" in host:
        addr = _parse_ip(host)
        return None if addr is None else str(addr)
    if host.endswith("."):
        host = host[:-1]
    value = _inet_aton(host)
    return None if value is None else str(ipaddress.IPv4Address(value))


def _inet_aton(host: str) -> int | None:
    parts = host.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    numbers: list[int] = []
    for part in parts:
        number = _c_number(part)
        if number is None:
            return None
        numbers.append(number)
    *leading, last = numbers
    if any(n > 0xFF for n in leading) or last >= 1 << (8 * (5 - len(numbers))):
        return None
    value = last
    for index, number in enumerate(leading):
        value |= number << (8 * (3 - index))
    return value


def _c_number(part: str) -> int | None:
    """A number as strtoul(part, 0) reads it: 0x hex, leading-0 octal, else decimal."""
    if part[:2] in ("0x", "0X"):
        digits, base, alphabet = part[2:] or "0", 16, _HEX
    elif len(part) > 1 and part[0] == "0":
        digits, base, alphabet = part[1:], 8, _OCTAL
    else:
        digits, base, alphabet = part, 10, _DECIMAL
    # int() alone would also take "_", "+", spaces and non-ASCII digits
    if not digits or not set(digits) <= alphabet:
        return None
    return int(digits, base)


_DECIMAL = frozenset("0123456789")
_OCTAL = frozenset("01234567")
_HEX = frozenset("0123456789abcdefABCDEF")
