"""The side-by-side figures: `python -m bench.compare --harness PATH [--runs 3]`

Runs the shared side-by-side harness (`side_by_side.py`: one load generator and one receiver, the
same ones the peers were measured with; pass its path) against the running platform (`make run`)
for each scenario, `--runs` times, and keeps every run and the medians: deliveries/s, publish
rate, send-to-arrival latency p50/p90/p99, lost and duplicates. Beside each run it keeps what the
machine did meanwhile (bench/machine.py: busy and steal shares, a calibration timing, CPU per
delivery in all and per component), because on a shared machine the same code measures up to 2x
apart on different days. Writes bench/results/<date>-side-by-side.json (a new `-2`, `-3`... file
when that exists: a day's earlier results are never overwritten) and a PNG beside it with the
peers' reference figures (measured 2026-12-01 on a machine of this kind; their servers are not
part of this project).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.e2e.procs import ResourceSampler
from bench.machine import CpuWindow, calibrate
from bench.outputs import dated

SCENARIOS: dict[str, list[str]] = {
    "5000x1": ["-E", "5000", "-N", "1"],
    "2000x3": ["-E", "2000", "-N", "3"],
    "6000x3@300/s": ["-E", "6000", "-N", "3", "--rate", "300"],
}
# Reference figures from the issue (2026-12-01, each system alone on a 2-core machine).
PEERS: dict[str, dict[str, tuple[float | None, float | None]]] = {
    "Svix 1.100": {"5000x1": (816, 107), "2000x3": (1802, 144), "6000x3@300/s": (900, 167)},
    "Outpost 1.1.0": {"5000x1": (1160, 644), "2000x3": (1549, 1938), "6000x3@300/s": (None, None)},
}


def run_once(harness: Path, args: list[str]) -> dict[str, Any]:
    calibration_ms = calibrate()
    sampler = ResourceSampler(run_dir=Path(".local/run"))
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        sampler.start()
        try:
            with CpuWindow() as window:
                subprocess.run(
                    [sys.executable, str(harness), *args, "--out", out.name],
                    check=True,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
        finally:
            sampler.stop()  # a failed run must not leave the sampling thread behind
        doc: dict[str, Any] = json.loads(Path(out.name).read_text())
    deliveries = int(doc.get("deliveries_unique") or 0)
    doc["machine"] = {"calibration_ms": calibration_ms, **window.shares.as_dict(deliveries)}
    doc["cpu_ms_per_delivery"] = (
        {group: round(1000.0 * g["cpu_s"] / deliveries, 3) for group, g in sampler.report().items()}
        if deliveries
        else {}
    )
    return doc


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    def med(get: Any, digits: int = 1) -> float | None:
        values = [v for v in (get(r) for r in runs) if v is not None]
        return round(statistics.median(values), digits) if values else None

    return {
        "deliveries_per_s": med(lambda r: r.get("deliveries_per_s")),
        "publish_rate_per_s": med(lambda r: r.get("publish_rate_per_s")),
        **{p: med(lambda r, p=p: r.get("latency_ms", {}).get(p)) for p in ("p50", "p90", "p99")},
        "lost": sum(r["lost"] for r in runs),
        "duplicates": sum(r["duplicates"] for r in runs),
        "machine": {
            k: med(lambda r, k=k: r.get("machine", {}).get(k), 3)
            for k in ("calibration_ms", "busy_pct", "steal_pct", "cpu_ms_per_delivery")
        },
        "cpu_ms_per_delivery": {
            g: med(lambda r, g=g: r.get("cpu_ms_per_delivery", {}).get(g), 3)
            for g in sorted({g for r in runs for g in r.get("cpu_ms_per_delivery", {})})
        },
    }


def plot(result: dict[str, Any], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(SCENARIOS)
    systems = ["this platform", *PEERS]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, index, label in ((axes[0], 0, "deliveries/s"), (axes[1], 1, "p99 latency, ms (log)")):
        for k, system in enumerate(systems):
            values = []
            for n in names:
                if system == "this platform":
                    s = result["scenarios"][n]["median"]
                    values.append((s["deliveries_per_s"], s["p99"])[index] or 0)
                else:
                    values.append(PEERS[system][n][index] or 0)
            ax.bar([i + 0.27 * k for i in range(len(names))], values, width=0.27, label=system)
        ax.set_xticks([i + 0.27 for i in range(len(names))], names)
        ax.set_title(label)
        if index == 1:
            ax.set_yscale("log")
    axes[0].legend()
    fig.suptitle(f"side by side, medians of {result['runs']} runs ({result['at'][:10]})")
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--harness", type=Path, required=True, help="path to side_by_side.py")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", action="append", choices=list(SCENARIOS), help="a scenario (repeatable)")
    parser.add_argument("--note", default="", help="what else was running, for the record")
    args = parser.parse_args()
    chosen = args.only or list(SCENARIOS)
    result: dict[str, Any] = {
        "name": "side-by-side",
        "at": dt.datetime.now(dt.UTC).isoformat(),
        "runs": args.runs,
        "note": args.note,
        "peers_reference": PEERS,
        "scenarios": {},
    }
    for name in chosen:
        runs = [run_once(args.harness, SCENARIOS[name]) for _ in range(args.runs)]
        result["scenarios"][name] = {"median": summary(runs), "runs": runs}
        print(name, json.dumps(result["scenarios"][name]["median"]), flush=True)
    out = dated("side-by-side")
    out.write_text(json.dumps(result, indent=2) + "\n")
    if set(chosen) == set(SCENARIOS):
        plot(result, out.with_suffix(".png"))
    print(f"-> {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
