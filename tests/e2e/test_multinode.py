"""Three Ray nodes, one lost under load: nothing lost, its partitions covered again.

The scenario (testkit/multinode.py) runs in a process of its own: a driver of a
`ray.cluster_utils.Cluster` cannot share a process with the `ray_local` Ray of this pytest run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.services, pytest.mark.ray]

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_S = 150  # about 40 s when it works; a hang must not hold the suite


def test_a_worker_node_lost_under_load_loses_nothing(tmp_path: Path) -> None:
    result = tmp_path / "multinode.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    argv = ["--gone-for-good", "filters", "--json", str(result)]
    proc = subprocess.run(
        [sys.executable, "-m", "testkit.multinode", *argv],
        check=False,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    assert result.exists(), f"no result (rc={proc.returncode}):\n{proc.stderr[-4000:]}"
    out = json.loads(result.read_text())
    print(json.dumps({k: v for k, v in out.items() if not k.startswith("placement")}))
    assert out["problems"] == [] and proc.returncode == 0, out
    before, after = out["placement_before"], out["placement_after"]
    # The pipeline really was spread: filters and delivery actors on both workers.
    assert {before["filter-0"], before["filter-1"]} == {"worker-1", "worker-2"}
    assert {before["delivery-0"], before["delivery-1"]} == {"worker-1", "worker-2"}
    assert out["victim"] not in after.values()
    assert out["expected"] > 1000 and out["received"] == out["expected"] and out["lost"] == 0
    assert out["partitions_covered_after"] == list(range(out["partitions"]))
    assert out["gone_for_good"] and out["recreated_by_supervisor"] >= len(out["gone_for_good"])
    assert out["restarts_by_ray"] >= 1  # the lost delivery actor came back through Ray itself
