"""What an idle platform burns: `python -m bench.idle [--seconds 15]` against `make run`.

Samples the CPU time of every platform process (grouped as in bench/e2e/procs: Kafka, RabbitMQ,
FerretDB, each Ray actor class, Ray's own processes) over a quiet interval and prints each
group's share of one core, largest first, and the total.
"""

from __future__ import annotations

import argparse
import time

import psutil

from bench.e2e.procs import group_of


def cpu_by_group() -> dict[int, tuple[str, float]]:
    out: dict[int, tuple[str, float]] = {}
    for p in psutil.process_iter(["pid", "name", "cmdline"]):
        try:
            group = group_of(" ".join(p.info["cmdline"] or []), p.info["name"] or "")
            if group is not None:
                t = p.cpu_times()
                out[p.pid] = (group, t.user + t.system)
        except psutil.Error:
            continue
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0)
    args = parser.parse_args()
    before = cpu_by_group()
    time.sleep(args.seconds)
    after = cpu_by_group()
    shares: dict[str, float] = {}
    for pid, (group, cpu) in after.items():
        shares[group] = shares.get(group, 0.0) + cpu - before.get(pid, (group, 0.0))[1]
    for group, cpu in sorted(shares.items(), key=lambda kv: -kv[1]):
        print(f"{group:26s} {100 * cpu / args.seconds:5.1f} % of a core")
    print(f"{'total':26s} {100 * sum(shares.values()) / args.seconds:5.1f} % of a core")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
