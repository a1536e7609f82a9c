"""Name resolution for the SSRF check of a webhook URL when it is written: off the event loop,
bounded in time. The check itself is pure (core/ssrf.py, resolution injected); this is the
lookup it is given."""

from __future__ import annotations

import asyncio
import socket
from concurrent.futures import ThreadPoolExecutor

from core.errors import DestinationRefused
from core.ssrf import Guard

# getaddrinfo cannot be cancelled: a hung lookup keeps its thread after the request gave up, so
# lookups get a small pool of their own and never starve anything else of threads.
_DNS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="edp-dns")


def resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (UnicodeError, ValueError) as exc:  # IDNA or NUL trouble: the name cannot resolve
        raise OSError(str(exc)) from None
    return [str(info[4][0]) for info in infos]


async def check_url(guard: Guard, url: str, timeout_s: float) -> None:
    """The SSRF guard on `url`, resolving its host off the event loop, bounded in time."""
    loop = asyncio.get_running_loop()
    try:
        await asyncio.wait_for(loop.run_in_executor(_DNS, guard.check_url, url, resolve), timeout_s)
    except TimeoutError:
        raise DestinationRefused("url", f"the host did not resolve within {timeout_s:g} s") from None
