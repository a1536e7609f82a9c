"""An open-loop load generator: requests leave at a fixed rate whatever the server answers.

Closed-model tools (locust, k6's VUs) wait for a response before the next request, so a slow
server also slows the load and hides its own latency (coordinated omission). Here request i is
due at `i / rate` seconds; its latency runs from that due time, so a generator that falls behind
shows up in the figures (and in `max_lag_ms`) instead of vanishing.

`python -m bench.load.open_loop --rate 500 --duration 10 [--batch 10] [--json out.json]`
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import random
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from bench.load import payload
from bench.load.stats import POC_THRESHOLDS_MS, check_thresholds, summarize
from bench.load.target import TargetError, api_key, base_url

MAX_REQUESTS = 5_000_000  # a bound on any one run, whatever the flags say
TICK_S = 0.001


@dataclass(frozen=True, slots=True)
class OpenLoopConfig:
    url: str  # base URL, loopback (see bench.load.target)
    keys: tuple[str, ...]  # API keys, used round-robin: one per org
    rate: float  # events per second (a batch request carries `batch` events)
    duration_s: float
    batch: int = 1
    max_in_flight: int = 512
    timeout_s: float = 10.0
    seed: int = 0
    types: tuple[str, ...] = payload.EVENT_TYPES

    def __post_init__(self) -> None:
        if not self.keys:
            raise ValueError("at least one API key")
        if self.rate <= 0 or self.duration_s <= 0 or self.batch < 1:
            raise ValueError("rate and duration must be > 0 and batch >= 1")
        if self.total_requests > MAX_REQUESTS:
            raise ValueError(f"{self.total_requests} requests is more than the bound of {MAX_REQUESTS}")

    @property
    def request_rate(self) -> float:
        return self.rate / self.batch

    @property
    def total_requests(self) -> int:
        return max(1, round(self.duration_s * self.request_rate))


@dataclass(slots=True)
class Sample:
    """One request. Times: `due_s` from the start; `sent_at` unix time just before sending."""

    due_s: float
    sent_at: float
    lag_s: float  # how late the generator sent it
    latency_s: float  # completion minus due time
    status: int  # HTTP status, 0 when no answer (timeout, refused connection)
    key_index: int
    types: tuple[str, ...]
    ids: tuple[str, ...]
    error: str | None = None


@dataclass(slots=True)
class RunResult:
    config: OpenLoopConfig
    started_at: float  # unix time of request 0's due time
    elapsed_s: float = 0.0  # start to last completion
    samples: list[Sample] = field(default_factory=list)


def due_count(elapsed_s: float, request_rate: float, total: int) -> int:
    """How many requests are due `elapsed_s` after the start: request i is due at i / rate."""
    if elapsed_s < 0:
        return 0
    return min(total, math.floor(elapsed_s * request_rate + 1e-9) + 1)


def due_time(i: int, request_rate: float) -> float:
    return i / request_rate


def pick_types(rng: random.Random, n: int, types: Sequence[str]) -> tuple[str, ...]:
    return tuple(rng.choice(types) for _ in range(n))


OnSecond = Callable[[float, list[Sample]], None]


class _OpenLoop:
    """One run's state; `run()` below is the way in."""

    def __init__(self, cfg: OpenLoopConfig, on_second: OnSecond | None) -> None:
        self.cfg = cfg
        self.on_second = on_second
        self.rng = random.Random(cfg.seed)
        self.url = cfg.url + payload.path(cfg.batch)
        self.headers = [
            {"Authorization": f"Bearer {k}", "Content-Type": "application/json"} for k in cfg.keys
        ]
        self.t0 = time.perf_counter()
        self.result = RunResult(config=cfg, started_at=time.time())

    async def run(self) -> RunResult:
        cfg = self.cfg
        connector = aiohttp.TCPConnector(limit=cfg.max_in_flight)
        timeout = aiohttp.ClientTimeout(total=cfg.timeout_s)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            finished = asyncio.Event()
            rep = asyncio.create_task(self._reporter(finished))
            self.t0 = time.perf_counter()
            self.result.started_at = time.time()
            tasks = await self._send_all(session)
            if tasks:
                # Every request has its own timeout; this bound only guards against a stuck library.
                await asyncio.wait(tasks, timeout=cfg.timeout_s + 5.0)
            self.result.elapsed_s = time.perf_counter() - self.t0
            finished.set()
            await rep
        return self.result

    async def _send_all(self, session: aiohttp.ClientSession) -> set[asyncio.Task[None]]:
        rate, total = self.cfg.request_rate, self.cfg.total_requests
        tasks: set[asyncio.Task[None]] = set()
        sent = 0
        while sent < total:
            due = due_count(time.perf_counter() - self.t0, rate, total)
            while sent < due:
                task = asyncio.create_task(self._one(session, sent))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                sent += 1
            if sent < total:
                wait = self.t0 + due_time(sent, rate) - time.perf_counter()
                await asyncio.sleep(max(TICK_S, wait))
        return set(tasks)

    async def _one(self, session: aiohttp.ClientSession, i: int) -> None:
        cfg = self.cfg
        due = due_time(i, cfg.request_rate)
        types = pick_types(self.rng, cfg.batch, cfg.types)
        body = payload.body([payload.event(self.rng, i * cfg.batch + j, t) for j, t in enumerate(types)])
        key_index = i % len(cfg.keys)
        sent_at = time.time()
        lag = time.perf_counter() - self.t0 - due
        status, error = 0, None
        ids: tuple[str, ...] = ()
        try:
            async with session.post(self.url, data=body, headers=self.headers[key_index]) as resp:
                raw = await resp.read()
                status = resp.status
                ids = tuple(payload.accepted_ids(status, raw))
        except TimeoutError:
            error = "timeout"
        except aiohttp.ClientError as exc:
            error = type(exc).__name__
        latency = time.perf_counter() - self.t0 - due
        self.result.samples.append(Sample(due, sent_at, lag, latency, status, key_index, types, ids, error))

    async def _reporter(self, done: asyncio.Event) -> None:
        seen = 0
        samples = self.result.samples
        while not done.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), timeout=1.0)
            if self.on_second is not None:
                new, seen = samples[seen:], len(samples)
                self.on_second(time.perf_counter() - self.t0, new)


async def run(cfg: OpenLoopConfig, on_second: OnSecond | None = None) -> RunResult:
    """Send `cfg.total_requests` requests at `cfg.request_rate`; wait (bounded) for all to finish.

    `on_second(elapsed, new_samples)` is called about once a second with the samples completed
    since the previous call. `RunResult.started_at` is the unix time request 0 was due.
    """
    return await _OpenLoop(cfg, on_second).run()


def summary(result: RunResult) -> dict[str, Any]:
    """The figures of a run, JSON-ready. Latencies in ms; rates per second of the whole run."""
    cfg, samples = result.config, result.samples
    ok = [s for s in samples if s.status == 202]
    statuses = Counter(
        str(s.status) if s.status else (s.error or "error") for s in samples if s.status != 202
    )
    elapsed = max(result.elapsed_s, 1e-9)
    lat = summarize((s.latency_s for s in samples if s.status == 202), scale=1000.0)
    return {
        "target_events_per_s": cfg.rate,
        "target_requests_per_s": cfg.request_rate,
        "duration_s": cfg.duration_s,
        "batch": cfg.batch,
        "requests": len(samples),
        "requests_not_finished": cfg.total_requests - len(samples),
        "ok": len(ok),
        "errors": dict(statuses),
        "accepted_events": sum(len(s.ids) for s in ok),
        "achieved_requests_per_s": len(ok) / elapsed,
        "achieved_events_per_s": sum(len(s.ids) for s in ok) / elapsed,
        "elapsed_s": result.elapsed_s,
        "max_lag_ms": max((s.lag_s for s in samples), default=0.0) * 1000.0,
        "latency_ms": lat,
        "thresholds_broken": check_thresholds(lat, POC_THRESHOLDS_MS) if ok else ["no successful request"],
    }


def progress_line(elapsed: float, new: list[Sample], done_so_far: int, total: int) -> str:
    ok = [s.latency_s for s in new if s.status == 202]
    errs = len(new) - len(ok)
    lat = summarize(ok, scale=1000.0)
    p = f"p50 {lat['p50']:6.1f} ms  p99 {lat['p99']:7.1f} ms" if ok else "p50      -     p99       -   "
    return f"  {elapsed:5.1f}s  {done_so_far:>8}/{total} done  {len(new):>6}/s  {p}  errors {errs}"


def format_summary(doc: dict[str, Any]) -> str:
    lat = doc["latency_ms"]
    lines = [
        f"requests {doc['requests']} (ok {doc['ok']}, not finished {doc['requests_not_finished']}), "
        f"errors {doc['errors'] or 'none'}",
        f"accepted {doc['accepted_events']} events; achieved {doc['achieved_events_per_s']:.1f} events/s "
        f"({doc['achieved_requests_per_s']:.1f} req/s) of {doc['target_events_per_s']:g} targeted; "
        f"max generator lag {doc['max_lag_ms']:.1f} ms",
    ]
    if lat.get("count"):
        lines.append(
            "latency ms: "
            + "  ".join(f"{k} {lat[k]:.1f}" for k in ("p50", "p90", "p95", "p99", "p99.9", "max"))
        )
    broken = doc["thresholds_broken"]
    verdict = "passed" if not broken else "; ".join(broken)
    lines.append(f"thresholds (p90<200, p95<500, p99.9<1200 ms): {verdict}")
    return "\n".join(lines)


def run_cli(cfg: OpenLoopConfig, json_out: Path | None) -> dict[str, Any]:
    """Run with a progress line a second and a summary at the end; returns the summary."""
    total = cfg.total_requests
    done = 0

    def tick(elapsed: float, new: list[Sample]) -> None:
        nonlocal done
        done += len(new)
        print(progress_line(elapsed, new, done, total), flush=True)

    print(
        f"open loop: {cfg.rate:g} events/s ({cfg.request_rate:g} req/s, batch {cfg.batch}) for "
        f"{cfg.duration_s:g} s to {cfg.url}",
        flush=True,
    )
    doc = summary(asyncio.run(run(cfg, tick)))
    print(format_summary(doc), flush=True)
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2))
        print(f"wrote {json_out}")
    return doc


def default_json_path(rate: float, batch: int) -> Path:
    return (
        Path(__file__).resolve().parents[2]
        / ".local/bench"
        / f"open_loop-{time.strftime('%Y%m%d-%H%M%S')}-r{rate:g}-b{batch}.json"
    )


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.load.open_loop", description=__doc__.split("\n\n")[0])
    ap.add_argument("--rate", type=float, default=200.0, help="events per second (default 200)")
    ap.add_argument("--duration", type=float, default=10.0, help="seconds of sending (default 10)")
    ap.add_argument("--batch", type=int, default=1, help="events per request (default 1: POST /v1/events)")
    ap.add_argument("--url", default=None, help="loopback base URL (default $EDP_URL or 127.0.0.1:8000)")
    ap.add_argument("--key", default=None, help="API key (default $EDP_API_KEY or the helpdev demo key)")
    ap.add_argument("--max-in-flight", type=int, default=512)
    ap.add_argument("--timeout", type=float, default=10.0, help="per-request timeout, seconds")
    ap.add_argument("--json", type=Path, default=None, help="summary file (default under .local/bench/)")
    args = ap.parse_args(argv)
    try:
        cfg = OpenLoopConfig(
            url=base_url(args.url),
            keys=(api_key(args.key),),
            rate=args.rate,
            duration_s=args.duration,
            batch=args.batch,
            max_in_flight=args.max_in_flight,
            timeout_s=args.timeout,
        )
    except (TargetError, ValueError) as exc:
        print(f"open_loop: {exc}", file=sys.stderr)
        return 2
    doc = run_cli(cfg, args.json or default_json_path(args.rate, args.batch))
    return 0 if doc["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
