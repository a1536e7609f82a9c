"""The side-by-side record: machine shares per run, medians of them, and never overwriting a day."""

from __future__ import annotations

import datetime as dt
from collections import namedtuple
from pathlib import Path

import pytest

from bench.compare import summary
from bench.machine import CpuWindow, calibrate, shares_between
from bench.outputs import dated, unique_path

Times = namedtuple("Times", "user nice system idle iowait irq softirq steal")


def test_shares_split_busy_steal_and_idle() -> None:
    before = Times(100, 10, 50, 1000, 5, 0, 2, 30)
    after = Times(160, 10, 70, 1050, 5, 0, 3, 70)  # busy 81, steal 40, idle 50
    shares = shares_between(before, after, wall_s=85.5)
    assert (shares.busy_s, shares.steal_s, shares.idle_s) == (81, 40, 50)
    d = shares.as_dict(deliveries=27_000)
    assert d == {"wall_s": 85.5, "busy_pct": 47.4, "steal_pct": 23.4, "cpu_ms_per_delivery": 3.0}


def test_no_deliveries_gives_no_cpu_per_delivery() -> None:
    t = Times(1, 0, 1, 1, 0, 0, 0, 0)
    assert shares_between(t, t, wall_s=1.0).as_dict(deliveries=0)["cpu_ms_per_delivery"] is None


def test_counters_without_steal_count_none() -> None:
    # psutil omits fields a platform does not have; a missing one counts as zero, not an error.
    Bare = namedtuple("Bare", "user system idle")
    shares = shares_between(Bare(1, 1, 1), Bare(3, 2, 5), wall_s=1.0)
    assert (shares.busy_s, shares.steal_s, shares.idle_s) == (3, 0, 4)


def test_calibration_is_a_positive_duration() -> None:
    ms = calibrate(repeat=1, number=1)
    assert 0.1 < ms < 10_000


def test_unique_path_keeps_earlier_results(tmp_path: Path) -> None:
    first = tmp_path / "2026-12-02-side-by-side.json"
    assert unique_path(first) == first
    first.write_text("{}")
    second = unique_path(first)
    assert second.name == "2026-12-02-side-by-side-2.json"
    second.write_text("{}")
    assert unique_path(first).name == "2026-12-02-side-by-side-3.json"


def test_dated_names_a_new_file_per_run_of_the_day(tmp_path: Path) -> None:
    day = dt.date(2026, 12, 3)
    first = dated("isolation", tmp_path / "results", day)
    assert first == tmp_path / "results" / "2026-12-03-isolation.json" and first.parent.is_dir()
    first.write_text("{}")
    assert dated("isolation", tmp_path / "results", day).name == "2026-12-03-isolation-2.json"


def _run(dps: float, steal: float, delivery_ms: float, lost: int = 0) -> dict[str, object]:
    return {
        "deliveries_per_s": dps,
        "publish_rate_per_s": dps,
        "latency_ms": {"p50": 10.0, "p90": 20.0, "p99": 30.0},
        "lost": lost,
        "duplicates": 0,
        "machine": {"calibration_ms": 18.0, "busy_pct": 90.0, "steal_pct": steal, "cpu_ms_per_delivery": 2.0},
        "cpu_ms_per_delivery": {"ray::DeliveryWorker": delivery_ms},
    }


def test_summary_takes_medians_of_machine_and_components() -> None:
    s = summary([_run(900, 1.0, 0.41), _run(1100, 20.0, 0.55, lost=2), _run(1000, 3.0, 0.47)])
    assert s["deliveries_per_s"] == 1000
    assert s["lost"] == 2  # lost and duplicates add up: one lost delivery in any run counts
    assert s["machine"]["steal_pct"] == 3.0
    assert s["cpu_ms_per_delivery"] == {"ray::DeliveryWorker": pytest.approx(0.47)}


def test_summary_of_runs_recorded_before_the_machine_fields() -> None:
    old = _run(900, 0.0, 0.5)
    del old["machine"], old["cpu_ms_per_delivery"]
    s = summary([old])
    assert s["machine"]["steal_pct"] is None and s["cpu_ms_per_delivery"] == {}


def test_window_measures_the_machine_over_its_span() -> None:
    window = CpuWindow().start()
    sum(range(4 * 10**6))  # ~70 ms of our own work: several 10 ms ticks, so busy cannot be 0
    shares = window.stop()
    assert shares.wall_s > 0 and shares.busy_s > 0
    assert shares.total_s >= shares.busy_s + shares.steal_s
