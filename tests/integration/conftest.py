"""Integration tests talk to the real local services started by `make services`.

There is deliberately no skip-if-down here: `make test` starts the services first, so a service
that does not answer is a failure to report, not a test to skip.
"""

from __future__ import annotations

import os
import uuid

import pytest

# Without this, Ray on Linux swaps 127.0.0.1 for the machine's first non-loopback address when it
# connects; every server here listens on loopback only. Set before anything imports ray.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")


@pytest.fixture
def unique() -> str:
    """A short suffix for topic, queue, group and database names, so tests never share state."""
    return uuid.uuid4().hex[:10]
