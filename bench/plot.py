"""Throughput and latency over time (1-second bins) of an end-to-end benchmark result.

`python -m bench.plot bench/results/2026-11-28-r500.json [--out file.png]`; `bench.e2e` calls
`plot_result` itself and writes the PNG next to the JSON.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display on a server, and no GUI toolkit to import
import matplotlib.pyplot as plt
import orjson


def _column(rows: Sequence[dict[str, Any]], key: str) -> list[float]:
    return [float("nan") if r.get(key) is None else float(r[key]) for r in rows]


def plot_result(doc: dict[str, Any], out: Path) -> Path:
    """Draw `doc["series"]` (rows of bench.e2e.measure.series) to `out`; returns `out`."""
    rows: list[dict[str, Any]] = doc.get("series") or []
    t = [float(r["t"]) for r in rows]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 7), sharex=True)
    try:
        load_s = float(doc.get("params", {}).get("duration_s") or 0)
        for ax in (top, bottom):
            if load_s:
                ax.axvspan(0, load_s, color="0.93", label="_load")
            ax.grid(True, alpha=0.3)
        # Counts are per bin: stairs over the bin edges, so the last bin has its full width too.
        edges = [*t, t[-1] + (t[-1] - t[-2] if len(t) > 1 else 1.0)] if t else [0.0]
        top.stairs(_column(rows, "accepted_per_s"), edges, label="events accepted /s", baseline=None)
        top.stairs(_column(rows, "deliveries_per_s"), edges, label="deliveries /s", baseline=None)
        top.set_ylim(bottom=0)
        top.set_ylabel("per second")
        top.legend(loc="upper right")
        for key, label in (
            ("e2e_p50_ms", "ingest to receiver p50"),
            ("e2e_p99_ms", "ingest to receiver p99"),
            ("ingest_p99_ms", "ingest API p99"),
        ):
            # At the middle of each 1-second bin the percentile was taken over.
            mid = [x + 0.5 * (edges[1] - edges[0]) for x in t]
            bottom.plot(mid, _column(rows, key), label=label, marker=".", markersize=3)
        bottom.set_yscale("log")
        bottom.set_ylabel("latency, ms")
        bottom.set_xlabel("seconds since the first event (grey: load running)")
        bottom.legend(loc="best")
        p = doc.get("params", {})
        p99 = doc.get("p99_ms")
        p99_text = "-" if p99 is None else f"{p99:.0f}"
        top.set_title(
            f"{doc.get('name', '')}  {doc.get('date', '')}: {p.get('rate', '?')} events/s target, "
            f"{p.get('webhooks', '?')} webhooks / {p.get('orgs', '?')} orgs, batch {p.get('batch', 1)}; "
            f"{doc.get('deliveries_per_s', 0):.0f} deliveries/s, p99 {p99_text} ms, "
            f"lost {doc.get('lost', '?')}",
            fontsize=9,
        )
        fig.tight_layout()
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, dpi=110)
    finally:
        plt.close(fig)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.plot", description=__doc__.split("\n\n")[0])
    ap.add_argument("result", type=Path, help="a bench/results/*.json file")
    ap.add_argument("--out", type=Path, default=None, help="PNG path (default: next to the JSON)")
    args = ap.parse_args(argv)
    doc = orjson.loads(args.result.read_bytes())
    out = plot_result(doc, args.out or args.result.with_suffix(".png"))
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
