"""`python -m testkit.fuzz`: fuzz a running API (default: `make run`'s on 127.0.0.1:8000), print the
counts by status and write `bench/results/<date>-fuzz.json`. Exit status 1 on any failure."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import sys
from pathlib import Path

from testkit.fuzz.run import run

ROOT = Path(__file__).resolve().parents[2]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--url", default="http://127.0.0.1:8000")
    p.add_argument("--admin-key", help="default: .local/admin-key")
    p.add_argument("--requests", type=int, default=20_000)
    p.add_argument("--seed", type=int, default=20261128)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--only", type=int, nargs="*", help="replay these request indexes only")
    p.add_argument("--out", type=Path, help="default: bench/results/<date>-fuzz.json")
    args = p.parse_args(argv)
    admin_key = args.admin_key or (ROOT / ".local" / "admin-key").read_text().strip()
    result = asyncio.run(
        run(
            args.url,
            admin_key,
            requests=args.requests,
            seed=args.seed,
            concurrency=args.concurrency,
            only=args.only,
        )
    )
    doc = {"url": args.url, "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), **result.to_doc()}
    out = args.out or ROOT / "bench" / "results" / f"{dt.date.today().isoformat()}-fuzz.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"{result.requests} requests in {result.seconds:.1f} s, seed {args.seed}")
    for status, n in sorted(result.by_status.items()):
        print(f"  {status:>10}  {n}")
    print(f"failures: {result.failure_count}; healthy after: {result.healthy_after} ({result.health_detail})")
    for f in result.failures[:10]:
        req = f["request"]
        print(f"  #{f['index']} {f['status'] or f['failure']} {req['method']} {req['target'][:80]}")
    print(f"written: {out}")
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
