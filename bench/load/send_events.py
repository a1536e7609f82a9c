"""The load scenario's front door: `python -m bench.load.send_events [--mode ramp|rate] ...`

Runs k6 (bench/k6/send_events.js) when `k6` is on PATH; otherwise the tools this project
installs: locust, headless, for the ramp (closed model, as the proof of concept's VUs) and
bench.load.open_loop for a fixed rate (open model). Shows progress each second and a summary;
exits 99 when the PoC's thresholds (p90 < 200 ms, p95 < 500 ms, p99.9 < 1200 ms) are broken,
as k6 does. The defaults finish within a minute; `--full` is the PoC's 1000 users over 240 s.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from bench.load import open_loop
from bench.load.stats import POC_THRESHOLDS_MS, check_thresholds
from bench.load.target import TargetError, api_key, base_url

ROOT = Path(__file__).resolve().parents[2]
K6_SCRIPT = ROOT / "bench/k6/send_events.js"
LOCUSTFILE = ROOT / "bench/load/locustfile.py"
OUT_DIR = ROOT / ".local/bench"
THRESHOLD_EXIT = 99  # k6's exit code for broken thresholds
SCALED = {"users": 50, "ramp_s": 30.0}
FULL = {"users": 1000, "ramp_s": 240.0}
# Locust's CSV columns for the percentiles we report, in ms.
LOCUST_PCTS = {"p50": "50%", "p90": "90%", "p95": "95%", "p99": "99%", "p99.9": "99.9%", "max": "100%"}


def _num(value: str | None) -> float | None:
    try:
        return float(value) if value not in (None, "", "N/A") else None
    except ValueError:
        return None


def aggregated_row(csv_text: str) -> dict[str, str] | None:
    """The last "Aggregated" row of a locust stats or stats_history CSV, or None."""
    rows = [r for r in csv.DictReader(csv_text.splitlines()) if r.get("Name") == "Aggregated"]
    return rows[-1] if rows else None


def locust_progress(row: dict[str, str], started: float) -> str:
    total = int(_num(row.get("Total Request Count")) or 0)
    fails = int(_num(row.get("Total Failure Count")) or 0)
    rps = _num(row.get("Requests/s")) or 0.0
    p50, p95 = _num(row.get("50%")), _num(row.get("95%"))
    lat = f"p50 {p50:5.0f} ms  p95 {p95:5.0f} ms" if p50 is not None and p95 is not None else "p50 - p95 -"
    return (
        f"  {time.monotonic() - started:5.1f}s  users {row.get('User Count', '?'):>5}  "
        f"{rps:7.1f} req/s  {lat}  requests {total}  failures {fails}"
    )


def locust_summary(row: dict[str, str], batch: int) -> dict[str, Any]:
    lat = {label: v for label, col in LOCUST_PCTS.items() if (v := _num(row.get(col))) is not None}
    count = int(_num(row.get("Request Count")) or 0)
    fails = int(_num(row.get("Failure Count")) or 0)
    return {
        "tool": "locust",
        "requests": count,
        "failures": fails,
        "requests_per_s": _num(row.get("Requests/s")) or 0.0,
        "events_per_s": (_num(row.get("Requests/s")) or 0.0) * batch,
        "latency_ms": lat,
        "thresholds_broken": check_thresholds(lat, POC_THRESHOLDS_MS) if count else ["no request"],
    }


def run_locust(
    url: str, key: str, *, mode: str, users: int, ramp_s: float, rate: float, duration_s: float, batch: int
) -> dict[str, Any]:
    """Locust headless in a child process; a progress line a second from its history CSV."""
    out = OUT_DIR / f"locust-{time.strftime('%Y%m%d-%H%M%S')}"
    out.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "EDP_API_KEY": key,
        "EDP_LOAD_MODE": mode,
        "EDP_LOAD_USERS": str(users),
        "EDP_LOAD_RAMP_S": str(ramp_s),
        "EDP_LOAD_RATE": str(rate / batch),
        "EDP_LOAD_DURATION_S": str(duration_s),
        "EDP_LOAD_BATCH": str(batch),
        "PYTHONPATH": str(ROOT),
    }
    cmd = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--only-summary"]
    cmd += ["--host", url, "--csv", str(out / "locust"), "--loglevel", "WARNING"]
    length = ramp_s if mode == "ramp" else duration_s
    history = out / "locust_stats_history.csv"
    print(f"locust ({mode}): {users} users, {length:g} s, to {url}; files in {out}", flush=True)
    started = time.monotonic()
    with (out / "locust.log").open("wb") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        deadline = started + length + 60.0  # start-up and shutdown, generously
        while proc.poll() is None and time.monotonic() < deadline:
            time.sleep(1.0)
            if history.exists() and (row := aggregated_row(history.read_text())):
                print(locust_progress(row, started), flush=True)
        if proc.poll() is None:
            proc.terminate()  # our own child, by its pid
            proc.wait(timeout=15)
    row = (
        aggregated_row((out / "locust_stats.csv").read_text())
        if (out / "locust_stats.csv").exists()
        else None
    )
    if row is None:
        tail = (out / "locust.log").read_text(errors="replace").splitlines()[-20:]
        raise RuntimeError("locust produced no statistics; its log ends with:\n" + "\n".join(tail))
    doc = locust_summary(row, batch)
    (out / "summary.json").write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2))
    return doc


def run_k6(
    url: str, key: str, *, mode: str, users: int, ramp_s: float, rate: float, duration_s: float, batch: int
) -> int:
    """k6 prints its own progress and summary; its exit code says whether thresholds held."""
    env = {
        **os.environ,
        "EDP_URL": url,
        "EDP_API_KEY": key,  # k6 reads the environment; a key in argv would show in `ps`
        "MODE": mode,
        "VUS": str(users),
        "RAMP": str(int(ramp_s)),
        "RATE": str(max(1, round(rate / batch))),
        "DURATION": str(int(duration_s)),
        "BATCH": str(batch),
    }
    return subprocess.call(["k6", "run", str(K6_SCRIPT)], env=env, cwd=ROOT)


def print_summary(doc: dict[str, Any]) -> None:
    lat = doc["latency_ms"]
    print(f"\nsummary ({doc['tool']}):")
    print(f"  requests {doc['requests']}  failures {doc['failures']}  {doc['requests_per_s']:.1f} req/s")
    print("  latency ms  " + "  ".join(f"{k} {v:.0f}" for k, v in lat.items()))
    broken = doc["thresholds_broken"]
    print("  thresholds p90<200 p95<500 p99.9<1200 ms: " + ("passed" if not broken else "; ".join(broken)))


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="python -m bench.load.send_events", description=__doc__.split("\n\n")[0]
    )
    ap.add_argument("--mode", choices=("ramp", "rate"), default="ramp")
    ap.add_argument("--rate", type=float, default=200.0, help="rate mode: events per second (default 200)")
    ap.add_argument("--duration", type=float, default=None, help="seconds: rate mode 20, ramp length 30")
    ap.add_argument("--users", type=int, default=None, help="ramp mode: users at the top (default 50)")
    ap.add_argument("--batch", type=int, default=1, help="events per request (default 1)")
    ap.add_argument("--full", action="store_true", help="the PoC's ramp: 1000 users over 240 s")
    ap.add_argument("--tool", choices=("auto", "k6", "locust", "open_loop"), default="auto")
    ap.add_argument("--url", default=None, help="loopback base URL (default $EDP_URL or 127.0.0.1:8000)")
    ap.add_argument("--key", default=None, help="API key (default $EDP_API_KEY or the helpdev demo key)")
    return ap.parse_args(argv)


def choose_tool(requested: str, mode: str, k6_available: bool) -> str:
    if requested != "auto":
        return requested
    if k6_available:
        return "k6"
    return "locust" if mode == "ramp" else "open_loop"


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    scale = FULL if args.full else SCALED
    users = args.users or int(scale["users"])
    ramp_s = args.duration if args.mode == "ramp" and args.duration else float(scale["ramp_s"])
    duration_s = args.duration or 20.0
    try:
        url, key = base_url(args.url), api_key(args.key)
        if args.batch < 1 or args.rate <= 0 or duration_s <= 0 or users < 1:
            raise ValueError("batch, rate, duration and users must be positive")
    except (TargetError, ValueError) as exc:
        print(f"send_events: {exc}", file=sys.stderr)
        return 2
    tool = choose_tool(args.tool, args.mode, shutil.which("k6") is not None)
    common: dict[str, Any] = {
        "mode": args.mode,
        "users": users,
        "ramp_s": ramp_s,
        "rate": args.rate,
        "duration_s": duration_s,
        "batch": args.batch,
    }
    if tool == "k6":
        return run_k6(url, key, **common)
    if tool == "locust":
        if args.mode == "rate" and args.users is None:
            # constant_throughput paces each user; enough users that each sends under 10 req/s.
            common["users"] = max(1, math.ceil(args.rate / args.batch / 10))
        doc = run_locust(url, key, **common)
        print_summary(doc)
    else:
        cfg = open_loop.OpenLoopConfig(
            url=url, keys=(key,), rate=args.rate, duration_s=duration_s, batch=args.batch
        )
        res = open_loop.run_cli(cfg, open_loop.default_json_path(args.rate, args.batch))
        doc = {"thresholds_broken": res["thresholds_broken"]}
    return THRESHOLD_EXIT if doc["thresholds_broken"] else 0


if __name__ == "__main__":
    sys.exit(main())
