"""Where webhooks may go (SSRF rules): public addresses only, unless an allow-list names them.

An endpoint's URL is checked when it is registered and again before every request: the host is
resolved, every address it resolves to must be allowed, and the request connects to the address
that was checked (the URL is rewritten to it; `Host` and, for HTTPS, the TLS server name keep
the endpoint's host name), so a DNS answer that changes between check and connect (DNS
rebinding) cannot reach an internal address."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from dataclasses import dataclass
from typing import Any

import httpx

from lastmile.core.config import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
RESOLVE_TIMEOUT = 5.0

# Checked in this order, so the message names the most telling property.
_PROPERTIES = (
    ("is_unspecified", "an unspecified"),
    ("is_loopback", "a loopback"),
    ("is_link_local", "a link-local"),
    ("is_multicast", "a multicast"),
    ("is_private", "a private"),
    ("is_reserved", "a reserved"),
)


class Refused(Exception):
    """The URL may not be used: why, in words an integrator understands."""


class Unresolvable(Exception):
    """The host name does not resolve (now)."""


@dataclass(frozen=True)
class Target:
    """Where one request goes: the URL rewritten to the checked address, and the original
    host for the `Host` header and the TLS server name."""

    url: str
    host_header: str
    sni_hostname: str | None

    def extensions(self) -> dict[str, Any]:
        return {"sni_hostname": self.sni_hostname} if self.sni_hostname else {}


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def forbidden(ip: IPAddress) -> str | None:
    """What makes this address not public ("a loopback address"...), None when it is public;
    IPv4-mapped, 6to4 and Teredo IPv6 addresses are judged by the IPv4 address they carry too."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if inner is not None:
            reason = forbidden(inner)
            if reason is not None:
                return f"{reason} ({inner})"
    for attribute, label in _PROPERTIES:
        if getattr(ip, attribute):
            return f"{label} address"
    if not ip.is_global:
        return "not a public address"
    return None


@dataclass(frozen=True)
class Egress:
    """The rules: allowed host names and networks, and whether HTTPS is required."""

    allowed_names: frozenset[str] = frozenset()
    allowed_networks: tuple[IPNetwork, ...] = ()
    require_https: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> Egress:
        names: set[str] = set()
        networks: list[IPNetwork] = []
        for raw in settings.webhook_allowed_hosts.split(","):
            entry = raw.strip().lower()
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            except ValueError:
                names.add(entry.rstrip("."))
        return cls(frozenset(names), tuple(networks), settings.env == "production")

    def parse(self, url: str) -> httpx.URL:
        """The URL if its form is acceptable (scheme, host, no credentials), else Refused."""
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, ValueError, TypeError) as exc:
            raise Refused(f"not a valid URL: {exc}") from exc
        if parsed.scheme not in ("http", "https"):
            raise Refused("the URL must start with https:// (or http:// outside production)")
        if self.require_https and parsed.scheme != "https":
            raise Refused("webhook endpoints must use https")
        if not parsed.host:
            raise Refused("the URL has no host")
        if parsed.userinfo:
            raise Refused("credentials in the URL are not supported")
        if parsed.fragment:
            raise Refused("the URL must not have a #fragment")
        return parsed

    def _address_allowed(self, ip: IPAddress) -> str | None:
        if any(ip in net for net in self.allowed_networks):
            return None
        return forbidden(ip)

    def _name_allowed(self, host: str) -> bool:
        return host.lower().rstrip(".") in self.allowed_names

    async def addresses(self, parsed: httpx.URL) -> list[IPAddress]:
        """Every address the URL's host stands for; Unresolvable when DNS says none."""
        literal = _literal(parsed.host)
        if literal is not None:
            return [literal]
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        loop = asyncio.get_running_loop()
        try:
            infos = await asyncio.wait_for(
                loop.getaddrinfo(parsed.host, port, type=socket.SOCK_STREAM), RESOLVE_TIMEOUT
            )
        except (OSError, TimeoutError, UnicodeError) as exc:
            raise Unresolvable(f"{parsed.host} does not resolve: {exc}") from exc
        found: list[IPAddress] = []
        for _family, _type, _proto, _name, sockaddr in infos:
            ip = ipaddress.ip_address(str(sockaddr[0]).split("%")[0])
            if ip not in found:
                found.append(ip)
        if not found:
            raise Unresolvable(f"{parsed.host} does not resolve")
        return found

    def check_addresses(self, parsed: httpx.URL, addresses: list[IPAddress]) -> None:
        """Refused unless the host is an allowed name or every address is allowed."""
        if self._name_allowed(parsed.host):
            return
        for ip in addresses:
            reason = self._address_allowed(ip)
            if reason is not None:
                said = (
                    f"{ip} is {reason}"
                    if _literal(parsed.host) is not None
                    else f"{parsed.host} resolves to {ip}, {reason}"
                )
                raise Refused(f"{said}: webhooks go to public addresses only")

    async def check_registration(self, url: str) -> None:
        """At registration: the URL's form, and its addresses when its host resolves now (a
        name that does not resolve yet is accepted; each send checks again)."""
        parsed = self.parse(url)
        if self._name_allowed(parsed.host):
            return
        try:
            addresses = await self.addresses(parsed)
        except Unresolvable:
            return
        self.check_addresses(parsed, addresses)

    async def target(self, url: str, *, cache: Resolved | None = None) -> Target:
        """Before a send: resolve (or reuse a resolution made in the last seconds), check every
        address, and aim the request at the first: the request goes where the check looked."""
        parsed = self.parse(url)
        addresses = await (cache.addresses(self, parsed) if cache else self.addresses(parsed))
        self.check_addresses(parsed, addresses)
        ip = addresses[0]
        host_header = parsed.netloc.decode("ascii")
        if _literal(parsed.host) is not None:
            return Target(str(parsed), host_header, None)
        rewritten = parsed.copy_with(host=str(ip))
        sni = parsed.host if parsed.scheme == "https" else None
        return Target(str(rewritten), host_header, sni)


class Resolved:
    """Name resolutions kept for `ttl` seconds, so a busy endpoint is not resolved for every
    request (each request still checks the addresses and connects to the one checked)."""

    def __init__(self, ttl: float = 10.0, size: int = 1024) -> None:
        self.ttl, self.size = ttl, size
        self._found: dict[tuple[str, int | None, str], tuple[float, list[IPAddress]]] = {}

    async def addresses(self, egress: Egress, parsed: httpx.URL) -> list[IPAddress]:
        key = (parsed.host, parsed.port, parsed.scheme)
        now = time.monotonic()
        hit = self._found.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        found = await egress.addresses(parsed)
        if len(self._found) >= self.size:
            self._found.clear()
        self._found[key] = (now + self.ttl, found)
        return found
