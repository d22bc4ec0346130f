"""SSRF guard for every outgoing request (feeds and webhooks).

Three layers:

* ``UrlGuard.check_url`` (sync) refuses bad schemes and IP-literal hosts in any spelling, judged
  both as written and as aiohttp will connect to it (yarl's IDNA form, in which full-width digits
  or ideographic dots spell an IPv4 address). aiohttp never calls the resolver for an IP literal,
  so this must run for every URL, including every redirect hop.
* ``UrlGuard.make_connector`` wraps the resolver so a *name* is refused when any address it resolves
  to is not allowed. aiohttp connects only to the addresses the resolver returned, so a name that
  re-resolves to a private address between the check and the connect (DNS rebinding) cannot slip
  through.
* The same connector checks the address of every socket it opens, so a spelling the first layer
  misjudges still never reaches a refused address.

"Allowed" means globally routable unicast, or inside one of ``allowed_networks``
(``FRWATCH_ALLOW_PRIVATE_NETWORKS``).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from frwatch.errors import UrlRefused

log = logging.getLogger("frwatch.urlguard")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# not routed on the internet, yet is_global in Python 3.11's tables: IPv6 site-local (deprecated
# but still routed on some internal networks), the IPv6 documentation range of RFC 9637, and the
# IETF's protocol assignments (192.0.0.0/24, two anycast addresses of which no feed or webhook uses)
_NOT_PUBLIC = tuple(ipaddress.ip_network(n) for n in ("fec0::/10", "3fff::/20", "192.0.0.0/24"))
_UNJUDGED = object()
RESOLVE_TIMEOUT_S = 5.0  # a URL checked when it is submitted: the request waits for its host's addresses
_URLS_KEPT = 16_384  # verdicts kept, by URL (every poll and webhook attempt checks its URL); then started afresh


def _legacy_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """The address ``inet_aton`` would read from ``host`` (2130706433, 0177.0.0.1, 0x7f.1, 127.1).

    Such spellings are refused or silently mapped by different libraries, so they are decoded
    here and judged like the canonical form. Returns None when ``host`` is not numeric.
    """
    parts = host.split(".")
    if parts and parts[-1] == "":  # a trailing dot is allowed ("127.0.0.1.")
        parts.pop()
    if not 1 <= len(parts) <= 4:
        return None
    numbers: list[int] = []
    for part in parts:
        try:
            if part[:2].lower() == "0x":
                numbers.append(int(part[2:] or "0", 16))
            elif len(part) > 1 and part.startswith("0"):
                numbers.append(int(part[1:], 8))
            else:
                if not part.isascii() or not part.isdigit():
                    return None
                numbers.append(int(part))
        except ValueError:
            return None
    *head, last = numbers
    if any(n > 255 for n in head) or last >= 256 ** (5 - len(numbers)):
        return None
    value = last
    for index, number in enumerate(head):
        value |= number << (8 * (3 - index))
    return ipaddress.IPv4Address(value)


def parse_ip_host(host: str) -> IPAddress | None:
    """The IP address a URL host denotes, in any spelling; None for a name."""
    candidate = host.strip("[]").split("%", 1)[0]  # brackets of IPv6 literals, zone ids
    try:
        return ipaddress.ip_address(candidate)
    except ValueError:
        return _legacy_ipv4(candidate)


def connect_host(url: str) -> str:
    """The host of ``url`` as aiohttp connects to it: yarl's ASCII (IDNA) form, so
    "１２７.０.０.１" is 127.0.0.1. ValueError (or UnicodeError) when yarl cannot read it."""
    return URL(url).raw_host or ""


class UrlGuard:
    """Decides which URLs and addresses frwatch may connect to."""

    def __init__(self, allowed_networks: Sequence[Network] = (), resolver: AbstractResolver | None = None):
        self._allowed = tuple(allowed_networks)
        self._resolver = resolver
        self._verdicts: dict[tuple[str, tuple[str, ...]], str | None] = {}

    def is_allowed_ip(self, ip: IPAddress | str) -> bool:
        """Public unicast, or inside an allowed network. Embedded IPv4 (mapped, 6to4, NAT64) is judged too."""
        address = ipaddress.ip_address(ip) if isinstance(ip, str) else ip
        if any(address in network for network in self._allowed if network.version == address.version):
            return True
        if isinstance(address, ipaddress.IPv6Address):
            embedded = address.ipv4_mapped or address.sixtofour
            if embedded is None and address in _NAT64:
                embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
            if embedded is not None:
                return self.is_allowed_ip(embedded)
        return address.is_global and not any(address in network for network in _NOT_PUBLIC) and not (
            address.is_multicast or address.is_reserved or address.is_private
            or address.is_loopback or address.is_link_local or address.is_unspecified
        )

    def check_url(self, url: str, *, schemes: tuple[str, ...] = ("http", "https")) -> None:
        """Refuse a bad scheme, a missing host, or an IP-literal host that is not allowed. A URL is
        judged once: its verdict is kept (the guard's networks do not change)."""
        key = (url, schemes)
        refusal = self._verdicts.get(key, _UNJUDGED)
        if refusal is _UNJUDGED:
            if len(self._verdicts) >= _URLS_KEPT:
                self._verdicts.clear()
            refusal = self._verdicts[key] = self._judge_url(url, schemes)
        if refusal is not None:
            raise UrlRefused(f"refused URL {url!r}: {refusal}")

    def _judge_url(self, url: str, schemes: tuple[str, ...]) -> str | None:
        """Why ``url`` is refused before any name is resolved, if it is."""
        try:
            parts = urlsplit(url)
            hostname = parts.hostname
            if parts.scheme.lower() not in schemes:
                return f"scheme must be one of {', '.join(schemes)}"
            if not hostname:
                return "no host"
            if parts.port == 0:  # (a port over 65535 raises ValueError)
                return "port 0 cannot be connected to"
            return self._judge_host(hostname, connect_host(url))
        except ValueError as exc:  # UnicodeError included: a name IDNA cannot encode
            return str(exc) or type(exc).__name__

    def _judge_host(self, hostname: str, connected: str) -> str | None:
        """Why a URL with this host is refused, if it is: an IP literal not allowed, or a
        non-canonical spelling of an IPv4 address, as written or as aiohttp connects to it
        (``connected``). Names are judged when they resolve."""
        for host in dict.fromkeys((hostname, connected)):
            address = parse_ip_host(host)
            if address is None:
                continue
            if not self.is_allowed_ip(address):
                return f"address {address} is not public and not in an allowed network"
            if address.version == 4 and hostname != str(address):
                return f"{hostname!r} is a non-canonical spelling of {address}"
        return None

    def check_addresses(self, host: str, addresses: Sequence[str]) -> None:
        """Refuse when ``host`` resolved to nothing or to any address that is not allowed."""
        if not addresses:
            raise UrlRefused(f"refused host {host!r}: it resolves to no address")
        bad = [a for a in addresses if not self.is_allowed_ip(a.split("%", 1)[0])]
        if bad:  # the addresses go to the operator's log only: a refusal is shown to whoever submitted
            # the URL (an integrator's subscription, its attempt log), and must not map the network for them
            log.warning("host refused", extra={"host": host, "addresses": bad})
            raise UrlRefused(f"refused host {host!r}: it resolves to an address that is not public "
                             "and not in an allowed network")

    def make_connector(self, **kwargs: Any) -> aiohttp.TCPConnector:
        """A connector whose every name resolution is checked (call inside a running event loop).

        Without an injected resolver, names go through ``aiohttp.ThreadedResolver`` (getaddrinfo,
        honours /etc/hosts, holds nothing to close). An injected resolver stays the caller's to close.
        """
        return aiohttp.TCPConnector(resolver=GuardedResolver(self, self._resolver or aiohttp.ThreadedResolver()),
                                    socket_factory=self._socket_to, **kwargs)

    def _socket_to(self, addr_info: tuple[Any, ...]) -> socket.socket:
        """The connector's socket for one of getaddrinfo's results (family, type, proto, name,
        address); ``UrlRefused`` instead when the address is not allowed."""
        family, type_, proto, _, address = addr_info
        if not self.is_allowed_ip(str(address[0]).split("%", 1)[0]):
            raise UrlRefused(f"refused address {address[0]}: not public and not in an allowed network")
        return socket.socket(family=family, type=type_, proto=proto)

    async def check_resolved(self, url: str, *, unresolvable_ok: bool = False) -> list[str]:
        """Check ``url`` and every address its host resolves to now; returns those addresses.

        For validating a URL when it is submitted (e.g. a new subscription); connections are
        still checked again by the connector. A name that cannot be resolved (within
        ``RESOLVE_TIMEOUT_S``) is refused, or passes with no address when ``unresolvable_ok``.
        """
        self.check_url(url)
        hostname = connect_host(url)
        address = parse_ip_host(hostname)
        if address is not None:
            return [str(address)]
        resolver = GuardedResolver(self, self._resolver or aiohttp.ThreadedResolver())  # as the connector does
        try:
            async with asyncio.timeout(RESOLVE_TIMEOUT_S):
                infos = await resolver.resolve(hostname, 0, socket.AF_UNSPEC)
        except (OSError, TimeoutError) as exc:
            if unresolvable_ok:
                return []
            reason = str(exc) or f"no answer within {RESOLVE_TIMEOUT_S:g}s"
            raise UrlRefused(f"refused URL {url!r}: cannot resolve {hostname!r}: {reason}") from None
        return list(dict.fromkeys(info["host"] for info in infos))


class GuardedResolver(AbstractResolver):
    """Wraps a resolver; raises ``UrlRefused`` instead of returning a disallowed address, or for a
    name IDNA cannot encode (a label over 63 characters), which getaddrinfo raises as UnicodeError
    and aiohttp passes on unwrapped."""

    def __init__(self, guard: UrlGuard, inner: AbstractResolver):
        self._guard = guard
        self._inner = inner

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        try:
            infos = await self._inner.resolve(host, port, family)
        except UnicodeError as exc:
            raise UrlRefused(f"refused host {host!r}: invalid host name: {exc}") from None
        self._guard.check_addresses(host, [info["host"] for info in infos])
        return infos

    async def close(self) -> None:
        await self._inner.close()
