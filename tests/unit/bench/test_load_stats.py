"""Percentiles, summaries, 1-second bins and the PoC thresholds of the benchmark reports."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.load.stats import (
    POC_THRESHOLDS_MS,
    bin_counts,
    bin_index,
    bin_quantiles,
    check_thresholds,
    n_bins_for,
    percentile,
    summarize,
)


def test_percentile_interpolates_like_numpy() -> None:
    xs = [1.0, 2.0, 3.0, 4.0]
    assert percentile(xs, 0.0) == 1.0
    assert percentile(xs, 1.0) == 4.0
    assert percentile(xs, 0.5) == 2.5
    assert percentile(xs, 0.9) == pytest.approx(3.7)
    assert percentile([7.0], 0.999) == 7.0


def test_percentile_of_hundred_values() -> None:
    xs = [float(i) for i in range(1, 101)]
    assert percentile(xs, 0.99) == pytest.approx(99.01)
    assert percentile(xs, 0.999) == pytest.approx(99.901)


def test_percentile_refuses_nonsense() -> None:
    with pytest.raises(ValueError):
        percentile([], 0.5)
    with pytest.raises(ValueError):
        percentile([1.0], 1.5)


@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1), st.floats(0, 1), st.floats(0, 1))
def test_percentile_is_monotonic_and_bounded(values: list[float], q1: float, q2: float) -> None:
    xs = sorted(values)
    lo, hi = sorted((q1, q2))
    eps = 1e-9 * (1 + abs(xs[0]) + abs(xs[-1]))  # interpolation rounding
    a, b = percentile(xs, lo), percentile(xs, hi)
    assert xs[0] - eps <= a <= b + eps
    assert b <= xs[-1] + eps


def test_summarize_scales_and_reports_every_quantile() -> None:
    s = summarize([0.001, 0.002, 0.003], scale=1000.0)
    assert s["count"] == 3
    assert s["p50"] == pytest.approx(2.0)
    assert s["max"] == pytest.approx(3.0)
    assert s["mean"] == pytest.approx(2.0)
    assert {"p90", "p95", "p99", "p99.9"} <= set(s)


def test_summarize_of_nothing_invents_nothing() -> None:
    assert summarize([]) == {"count": 0}


def test_bins() -> None:
    t0 = 100.0
    assert bin_index(100.0, t0) == 0
    assert bin_index(100.999, t0) == 0
    assert bin_index(101.0, t0) == 1
    assert bin_index(99.0, t0) == 0  # early clock readings are kept, in the first bin
    assert bin_counts([100.1, 100.2, 101.5, 150.0], t0, 3) == [2, 1, 1]  # late ones clamp
    assert bin_counts([], t0, 0) == []
    assert n_bins_for(0.0) == 1
    assert n_bins_for(2.0) == 2
    assert n_bins_for(2.1) == 3


def test_bin_quantiles_leave_empty_bins_empty() -> None:
    points = [(100.1, 1.0), (100.5, 3.0), (102.2, 10.0)]
    out = bin_quantiles(points, 100.0, 3, (0.5, 1.0))
    assert out[0] == [2.0, 3.0]
    assert out[1] == [None, None]
    assert out[2] == [10.0, 10.0]


def test_thresholds_are_the_pocs() -> None:
    assert POC_THRESHOLDS_MS == {"p90": 200.0, "p95": 500.0, "p99.9": 1200.0}
    good = {"p90": 10.0, "p95": 20.0, "p99.9": 100.0}
    assert check_thresholds(good, POC_THRESHOLDS_MS) == []
    broken = check_thresholds({"p90": 200.0, "p95": 20.0}, POC_THRESHOLDS_MS)
    assert len(broken) == 2  # p90 is not *below* 200, p99.9 is missing
    assert any(b.startswith("p90") for b in broken) and any("n/a" in b for b in broken)
    assert not math.isnan(good["p90"])
