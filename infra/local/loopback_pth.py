"""Writes the one line that keeps Ray on loopback into this virtualenv's site-packages.

Ray reads RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER when it is imported; unset on Linux, Ray replaces
127.0.0.1 with the machine's external address, and every server of this local setup listens on
loopback only. A `.pth` line runs at every interpreter start-up of the venv, so every process
that can import ray here (tests, benchmarks, jobs, `ray start`, Ray's own workers) gets it
without each setting it. It belongs to this local setup, not to the code: the nodes of a real
cluster (cluster/cluster.yaml) must bind their real addresses. Run by `make install`.
"""

from __future__ import annotations

import site
from pathlib import Path

LINE = 'import os; os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")\n'

if __name__ == "__main__":
    target = Path(site.getsitepackages()[0]) / "edp_local_ray_loopback.pth"
    target.write_text(LINE)
    print(f"wrote {target}")
