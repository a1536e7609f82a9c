"""Set before anything imports Ray: without it Ray replaces 127.0.0.1 with the machine's
external address, and every server of ours must listen on loopback only."""

from __future__ import annotations

import os

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
