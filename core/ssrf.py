"""SSRF guard: webhook destinations must be public addresses, unless explicitly allowlisted.

Pure: name resolution is injected. Checking at creation time is not enough, because a name can
resolve to a public address now and to 127.0.0.1 later (DNS rebinding). So the delivery side
checks again at send time, on the addresses its HTTP client actually connects to (its resolver
calls `check_address` on every result), and refuses literal IPs before connecting.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Sequence
from urllib.parse import urlsplit

from core.errors import DestinationRefused, InvalidInput

Resolver = Callable[[str, int], list[str]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

MAX_URL = 2048
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def _why_refused(addr: IPAddress) -> str | None:
    if addr.is_loopback:
        return "loopback"
    if addr.is_link_local:
        return "link-local"
    if addr.is_multicast:
        return "multicast"
    if addr.is_unspecified:
        return "unspecified"
    if isinstance(addr, ipaddress.IPv4Address) and addr in _CGNAT:
        return "shared (CGNAT)"
    if addr.is_reserved:
        return "reserved"
    if addr.is_private:
        return "private"
    if not addr.is_global:
        return "not globally routable"
    return None


def _embedded_v4(addr: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, 6to4, NAT64), which is where packets go."""
    if addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    if addr.sixtofour is not None:
        return addr.sixtofour
    if addr in _NAT64:
        return ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
    return None


class Guard:
    def __init__(self, allowlist: Sequence[str] = ()) -> None:
        try:
            self._allow: tuple[Network, ...] = tuple(ipaddress.ip_network(c, strict=False) for c in allowlist)
        except ValueError as exc:
            raise InvalidInput("ssrf_allowlist", str(exc)) from None
        # ip string -> None (allowed) or why it is refused. A pure function of the address for a
        # fixed allowlist, asked once per delivery: remembered for the addresses seen lately.
        self._verdicts: dict[str, str | None] = {}

    def _allowed(self, addr: IPAddress) -> bool:
        return any(addr.version == net.version and addr in net for net in self._allow)

    def check_address(self, ip: str) -> None:
        """Raise DestinationRefused unless `ip` is public or inside an allowlisted CIDR."""
        try:
            why = self._verdicts[ip]
        except KeyError:
            why = self._verdict(ip)
            if len(self._verdicts) >= 4096:
                self._verdicts.clear()
            self._verdicts[ip] = why
        if why is not None:
            raise DestinationRefused("url", why)

    def _verdict(self, ip: str) -> str | None:
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return f"not an IP address: {ip!r}"
        if isinstance(addr, ipaddress.IPv6Address) and addr.scope_id:
            return f"address {ip} has a zone id"
        target: IPAddress = addr
        if isinstance(addr, ipaddress.IPv6Address) and (v4 := _embedded_v4(addr)) is not None:
            target = v4  # judged by where the packets end up, not by the wrapper's own range
        if self._allowed(addr) or self._allowed(target):
            return None
        reason = _why_refused(target)
        return None if reason is None else f"address {ip} is {reason}"

    def check_addresses(self, ips: Iterable[str]) -> None:
        for ip in ips:
            self.check_address(ip)

    def check_url(self, url: str, resolve: Resolver) -> None:
        """Validate a webhook URL and every address its host resolves to."""
        if not isinstance(url, str) or len(url) > MAX_URL:
            raise DestinationRefused("url", f"must be a string of at most {MAX_URL} characters")
        if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
            raise DestinationRefused("url", "must not contain whitespace or control characters")
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise DestinationRefused("url", f"malformed: {exc}") from None
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise DestinationRefused("url", "scheme must be http or https")
        if "@" in parts.netloc:
            raise DestinationRefused("url", "must not carry credentials")
        host = parts.hostname
        if not host:
            raise DestinationRefused("url", "has no host")
        if port is None:
            port = 443 if scheme == "https" else 80
        elif not 1 <= port <= 65535:
            raise DestinationRefused("url", "port out of range")
        if is_ip(host):
            self.check_address(host)
            return
        try:
            addresses = resolve(host, port)
        except OSError as exc:
            raise DestinationRefused("url", f"{host} does not resolve: {exc}") from None
        if not addresses:
            raise DestinationRefused("url", f"{host} does not resolve")
        self.check_addresses(addresses)


def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
