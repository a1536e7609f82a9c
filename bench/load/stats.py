"""Percentiles, summaries and 1-second bins: the arithmetic every report here shares.

Pure functions over plain floats, so the numbers in a results file can be checked by a unit test.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

# The quantiles a latency summary reports, as (label, q).
QUANTILES: tuple[tuple[str, float], ...] = (
    ("p50", 0.50),
    ("p90", 0.90),
    ("p95", 0.95),
    ("p99", 0.99),
    ("p99.9", 0.999),
)


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The q-quantile (0 <= q <= 1) of already sorted values, linearly interpolated (numpy's
    default), so p99.9 of a short run lands between the two slowest samples, not on the max.

    Raises:
        ValueError: no values, or q outside [0, 1].
    """
    if not sorted_values:
        raise ValueError("percentile of no values")
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"quantile {q} outside [0, 1]")
    pos = (len(sorted_values) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    frac = pos - lo
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * frac


def summarize(values: Iterable[float], scale: float = 1.0) -> dict[str, float]:
    """count, mean, max and the QUANTILES of `values` times `scale` (e.g. 1000 for s -> ms).

    An empty input gives `{"count": 0}` only: a report must not invent a latency.
    """
    xs = sorted(v * scale for v in values)
    if not xs:
        return {"count": 0}
    out: dict[str, float] = {"count": len(xs), "mean": sum(xs) / len(xs), "max": xs[-1]}
    for label, q in QUANTILES:
        out[label] = percentile(xs, q)
    return out


def bin_index(t: float, t0: float, width: float = 1.0) -> int:
    """The bin a timestamp falls in; times before t0 go to bin 0 rather than being dropped."""
    return max(0, math.floor((t - t0) / width))


def bin_counts(times: Iterable[float], t0: float, n_bins: int, width: float = 1.0) -> list[int]:
    """How many timestamps fall in each of `n_bins` bins of `width` seconds from t0; later ones
    are clamped into the last bin so nothing is lost from a total."""
    counts = [0] * n_bins
    if n_bins == 0:
        return counts
    for t in times:
        counts[min(bin_index(t, t0, width), n_bins - 1)] += 1
    return counts


def bin_quantiles(
    points: Iterable[tuple[float, float]],
    t0: float,
    n_bins: int,
    qs: Sequence[float],
    width: float = 1.0,
) -> list[list[float | None]]:
    """For (time, value) points, the quantiles `qs` of the values in each bin (None when empty)."""
    buckets: list[list[float]] = [[] for _ in range(n_bins)]
    if n_bins == 0:
        return []
    for t, v in points:
        buckets[min(bin_index(t, t0, width), n_bins - 1)].append(v)
    out: list[list[float | None]] = []
    for b in buckets:
        b.sort()
        out.append([percentile(b, q) if b else None for q in qs])
    return out


def n_bins_for(span_s: float, width: float = 1.0) -> int:
    """Bins needed to cover `span_s` seconds (at least one)."""
    return max(1, math.ceil(span_s / width))


def check_thresholds(summary_ms: dict[str, float], limits_ms: dict[str, float]) -> list[str]:
    """The PoC's pass/fail rule: each label (e.g. "p95") must be below its limit in ms.
    Returns the broken ones as readable strings; a missing figure counts as broken."""
    broken = []
    for label, limit in limits_ms.items():
        value = summary_ms.get(label)
        if value is None or not value < limit:
            shown = "n/a" if value is None else f"{value:.1f}"
            broken.append(f"{label} {shown} ms >= {limit:g} ms")
    return broken


# The proof of concept's k6 thresholds: p90 < 200 ms, p95 < 500 ms, p99.9 < 1200 ms.
POC_THRESHOLDS_MS: dict[str, float] = {"p90": 200.0, "p95": 500.0, "p99.9": 1200.0}
