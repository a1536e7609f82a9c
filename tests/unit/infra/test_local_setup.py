"""The local setup's venv keeps Ray on loopback for every interpreter it starts."""

from __future__ import annotations

import os
import subprocess
import sys


def test_every_interpreter_of_the_venv_keeps_ray_on_loopback() -> None:
    env = {k: v for k, v in os.environ.items() if k != "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"}
    out = subprocess.run(
        [sys.executable, "-c", "import os; print(os.environ.get('RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER'))"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "0", "run `make install`: infra/local/loopback_pth.py was not applied"
