"""`python -m testkit.receiver --ports 8080,8081,8082 [--host 127.0.0.1] [--secret whsec_...]...`

Every port is served by this one process and one event loop: the receivers must not take
CPU from the platform they measure.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal

from testkit.receiver.runner import new_event_loop, start_receivers

log = logging.getLogger(__name__)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m testkit.receiver", description=__doc__)
    p.add_argument("--ports", default="8080,8081,8082", help="comma-separated; 0 picks a free port")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--secret", action="append", default=[], help="known secret for every port; repeatable")
    p.add_argument(
        "--no-reject-invalid",
        dest="reject_invalid",
        action="store_false",
        help="answer 2xx to bad signatures (they are still counted as invalid)",
    )
    p.add_argument("--ring-size", type=int, default=10_000, help="recent deliveries kept per port")
    p.add_argument("--log-level", default="INFO")
    return p.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    ports = [int(p) for p in args.ports.split(",") if p.strip()]
    receivers = await start_receivers(
        ports, args.host, args.secret, reject_invalid=args.reject_invalid, ring_size=args.ring_size
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.info(
        "receivers listening urls=%s secrets=%d reject_invalid=%s",
        ",".join(receivers.urls),
        len(args.secret),
        args.reject_invalid,
    )
    try:
        await stop.wait()
    finally:
        await receivers.stop()
        log.info("receivers stopped")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    loop = new_event_loop()
    try:
        loop.run_until_complete(serve(args))
    finally:
        loop.close()


if __name__ == "__main__":
    main()
