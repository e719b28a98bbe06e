"""Resolve once, vet every address, dial only what was vetted (the SSRF guard's enforcement).

``VettingResolver`` is the resolver of the sender's aiohttp connector: aiohttp connects to
exactly the addresses it returns, so a name cannot answer a public address to the check
and a private one to the connection (DNS rebinding). Refused answers are dropped from a
mixed answer set; when none is left the lookup fails with ``EgressRefused``.

aiohttp never asks the resolver about IP literals (and rejects non-canonical IPv4
spellings), so the sender checks literal hosts itself with the same policy.

Names under ``localhost`` (RFC 6761) are answered here as 127.0.0.1 and ::1, never sent
to DNS, so they are refused unless the operator allows loopback.
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult

from misthook.domain.egress import EgressPolicy, literal_host_ip

CHECK_RESOLVE_TIMEOUT_S = 2.0
_LOOPBACK = ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1"))


class EgressRefused(OSError):
    """Every address of the destination is refused by the egress policy."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclasses.dataclass(frozen=True, slots=True)
class VettedAddress:
    family: int
    ip: str


def is_localhost_name(host: str) -> bool:
    name = host.rstrip(".").lower()
    return name == "localhost" or name.endswith(".localhost")


async def lookup(host: str, port: int = 0, family: int = socket.AF_UNSPEC) -> list[VettedAddress]:
    """Every address ``host`` stands for, unvetted: literal spellings and localhost locally."""
    literal = literal_host_ip(host)
    if literal is not None:
        return [VettedAddress(socket.AF_INET6 if ":" in literal else socket.AF_INET, literal)]
    if is_localhost_name(host):
        return [VettedAddress(f, ip) for f, ip in _LOOPBACK if family in (socket.AF_UNSPEC, f)]
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, family=family, type=socket.SOCK_STREAM, flags=socket.AI_ADDRCONFIG
    )
    seen: dict[str, VettedAddress] = {}
    for info_family, _, _, _, sockaddr in infos:
        ip = str(sockaddr[0])
        seen.setdefault(ip, VettedAddress(int(info_family), ip))
    return list(seen.values())


async def resolve_vetted(
    policy: EgressPolicy, host: str, port: int = 0, family: int = socket.AF_UNSPEC
) -> list[VettedAddress]:
    """The allowed addresses of ``host``; raises ``EgressRefused`` when none is allowed."""
    addresses = await lookup(host, port, family)
    allowed: list[VettedAddress] = []
    first_refusal = ""
    for address in addresses:
        reason = policy.check_ip(address.ip)
        if reason is None:
            allowed.append(address)
        elif not first_refusal:
            first_refusal = reason
    if not allowed:
        raise EgressRefused(f"{host} resolves to a refused address: {first_refusal}")
    return allowed


async def check_destination(policy: EgressPolicy, url: str) -> str | None:
    """The create-time check of a delivery URL: a refusal reason, or None.

    A name that does not resolve now is accepted (it may later); its deliveries fail and
    are logged. A name is refused when none of its addresses is allowed.
    """
    reason = policy.check_url(url)
    if reason is not None:
        return reason
    host = urlsplit(url).hostname or ""
    if literal_host_ip(host) is not None:
        return None
    try:
        async with asyncio.timeout(CHECK_RESOLVE_TIMEOUT_S):
            await resolve_vetted(policy, host)
    except EgressRefused as refused:
        return refused.reason
    except (OSError, TimeoutError):
        return None
    return None


class VettingResolver(AbstractResolver):
    """aiohttp resolver that only returns addresses the egress policy allows."""

    def __init__(self, policy: EgressPolicy) -> None:
        self._policy = policy

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        addresses = await resolve_vetted(self._policy, host, port, family)
        return [
            ResolveResult(hostname=host, host=a.ip, port=port, family=a.family, proto=0, flags=0)
            for a in addresses
        ]

    async def close(self) -> None:
        return None
