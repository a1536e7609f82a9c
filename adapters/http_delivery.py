"""The delivery HTTP client: pyreqwest (Rust's reqwest and hyper behind a small Python API), no
redirects, no proxies from the environment, bounded connect and total timeouts, and the SSRF
guard applied to the very addresses the connection will use.

Why pyreqwest: the HTTP call is the largest single share of a delivery actor's CPU. With
aiohttp it was ~31 % of the actor's profile (py-spy, `python -m bench.drain --profile 10`);
alternating drains of 10,000 events x 3 webhooks on one machine (2026-12-03, 4 runs each),
pyreqwest cut the delivery actors' CPU per delivery by ~22 % (median 0.423 ms against 0.543)
and the drain's median rose from ~1,500/s to ~1,757/s (README "Speed").

Why clients are pinned per host: reqwest resolves names itself, where the guard cannot see the
answer. So this module resolves a hostname once (cached for DNS_TTL_S, as aiohttp's
ttl_dns_cache did), refuses it if any address is refused, and sends through a client whose
resolver is pinned to the checked address (`ClientBuilder.resolve`): a DNS answer that changes
between the check and the connect (rebinding) cannot reach a refused address. URLs with a
literal IP are checked directly and share one client, which never resolves anything.
"""

from __future__ import annotations

import asyncio
import functools
import socket
import time
from collections import OrderedDict
from datetime import timedelta
from types import TracebackType

from pyreqwest.client import Client, ClientBuilder
from pyreqwest.exceptions import ConnectError, RequestError, RequestTimeoutError
from yarl import URL

from core.delivery import HttpResult
from core.errors import DestinationRefused
from core.retry import parse_retry_after
from core.settings import DeliverySettings
from core.ssrf import Guard, is_ip

USER_AGENT = "edp-webhooks/0.1 (+https://www.standardwebhooks.com/)"
DNS_TTL_S = 60.0
MAX_HOSTS = 1024  # pinned clients kept; the least recently used beyond this are closed
DRAIN_BYTES = 256  # read even when no excerpt is kept, so a short body ends and the connection is reused


@functools.lru_cache(maxsize=4096)
def _target(url: str) -> tuple[str, int, str | None]:
    """Host, port and, when the host is a literal IP, that IP."""
    target = URL(url)
    host = (target.host or "").strip("[]")
    port = target.port or (443 if target.scheme == "https" else 80)
    return host, port, host if is_ip(host) else None


class _Pin:
    """A host's checked addresses and the client pinned to one of them (`at`)."""

    __slots__ = ("addresses", "at", "client", "expires")

    def __init__(self, addresses: tuple[str, ...], client: Client, expires: float) -> None:
        self.addresses, self.client, self.expires = addresses, client, expires
        self.at = 0


class Transport:
    """One per delivery actor session: `post` never raises, it returns what happened."""

    def __init__(self, settings: DeliverySettings, guard: Guard, dns_ttl_s: float = DNS_TTL_S) -> None:
        self._settings = settings
        self._guard = guard
        self._dns_ttl_s = dns_ttl_s
        self._direct = self._build()
        self._pins: OrderedDict[tuple[str, int], _Pin] = OrderedDict()
        self._resolving: dict[tuple[str, int], asyncio.Future[_Pin]] = {}
        self._retired: set[Client] = set()
        self._closers: set[asyncio.Task[None]] = set()

    def _build(self, pin: tuple[str, str, int] | None = None) -> Client:
        s = self._settings
        builder = (
            ClientBuilder()
            .user_agent(USER_AGENT)
            .follow_redirects(False)
            .no_proxy()  # reqwest would otherwise honour HTTP(S)_PROXY and send webhooks elsewhere
            .gzip(False)
            .timeout(timedelta(seconds=s.total_timeout_s))
            .connect_timeout(timedelta(seconds=s.connect_timeout_s))
            .max_connections(s.max_in_flight)
        )
        if pin is not None:
            builder = builder.resolve(*pin)
        return builder.build()

    async def _client(self, host: str, port: int) -> Client:
        key = (host, port)
        pin = self._pins.get(key)
        if pin is not None and pin.expires > time.monotonic():
            self._pins.move_to_end(key)
            return pin.client
        pending = self._resolving.get(key)
        if pending is None:  # one lookup per host at a time, however many deliveries wait on it
            pending = self._resolving[key] = asyncio.ensure_future(self._resolve(key, pin))
            pending.add_done_callback(lambda _: self._resolving.pop(key, None))
        return (await asyncio.shield(pending)).client

    async def _resolve(self, key: tuple[str, int], old: _Pin | None) -> _Pin:
        host, port = key
        addresses = await self._lookup(host, port)
        self._guard.check_addresses(addresses)  # any refused address refuses the host, as before
        expires = time.monotonic() + self._dns_ttl_s
        if old is not None and old.addresses == addresses:
            old.expires = expires
            self._pins.move_to_end(key)
            return old
        pin = _Pin(addresses, self._build((host, addresses[0], port)), expires)
        if old is not None:
            self._retire(old.client)
        self._pins[key] = pin
        self._pins.move_to_end(key)
        while len(self._pins) > MAX_HOSTS:
            self._retire(self._pins.popitem(last=False)[1].client)
        return pin

    async def _lookup(self, host: str, port: int) -> tuple[str, ...]:
        """The host's addresses, IPv4 first: a pinned client tries one address, and webhook
        receivers nearly always answer on IPv4 where IPv6 egress may be missing."""
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        ordered = sorted(infos, key=lambda info: info[0] != socket.AF_INET)
        return tuple(dict.fromkeys(str(info[4][0]) for info in ordered))

    def _next_address(self, host: str, port: int, client: Client) -> None:
        """After a connect failure through a pin, the next attempt tries the host's next address
        (reqwest pins one address per name, so this stands in for trying them all)."""
        pin = self._pins.get((host, port))
        if pin is None or pin.client is not client or len(pin.addresses) < 2:
            return
        pin.at = (pin.at + 1) % len(pin.addresses)
        self._retire(pin.client)
        pin.client = self._build((host, pin.addresses[pin.at], port))

    def _retire(self, client: Client) -> None:
        """Close a replaced client once its in-flight requests have had their whole timeout."""
        self._retired.add(client)

        async def later() -> None:
            await asyncio.sleep(self._settings.total_timeout_s + 1)
            if client in self._retired:
                self._retired.discard(client)
                await client.close()

        task = asyncio.ensure_future(later())
        self._closers.add(task)
        task.add_done_callback(self._closers.discard)

    async def post(self, url: str, body: bytes, headers: dict[str, str], excerpt_bytes: int) -> HttpResult:
        started = time.perf_counter()

        def done(
            status: int | None, error: str | None, excerpt: str = "", retry_after: float | None = None
        ) -> HttpResult:
            return HttpResult(status, error, (time.perf_counter() - started) * 1000, excerpt, retry_after)

        client: Client | None = None
        try:
            host, port, literal_ip = _target(url)
            if literal_ip is not None:
                self._guard.check_address(literal_ip)
                client = self._direct
            else:
                client = await self._client(host, port)
            request = client.post(url).headers(headers).body_bytes(body).build_streamed()
            async with request as resp:
                raw = await resp.body_reader.read(excerpt_bytes or DRAIN_BYTES)
                excerpt = bytes(raw).decode("utf-8", "replace") if raw and excerpt_bytes else ""
                retry_after = parse_retry_after(resp.get_header("Retry-After"), time.time())
                return done(resp.status, None, excerpt, retry_after)
        except DestinationRefused as exc:
            return done(None, "refused_destination", str(exc))
        except RequestTimeoutError:  # connect, read, write and pool timeouts alike
            return done(None, "timeout")
        except ConnectError as exc:
            if client is not None and literal_ip is None:
                self._next_address(host, port, client)
            return done(None, "connect", str(exc)[:200])
        except socket.gaierror as exc:  # the name does not resolve: a connect failure, retried
            return done(None, "connect", str(exc)[:200])
        except RequestError as exc:
            return done(None, type(exc).__name__, str(exc)[:200])
        except (TimeoutError, OSError) as exc:
            return done(None, "timeout" if isinstance(exc, TimeoutError) else "os_error", str(exc)[:200])

    async def close(self) -> None:
        for task in list(self._closers):
            task.cancel()
        clients = [self._direct, *(p.client for p in self._pins.values()), *self._retired]
        self._pins.clear()
        self._retired.clear()
        await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)

    async def __aenter__(self) -> Transport:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()
