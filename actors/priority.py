"""Ray starts worker processes at nice 15 (so a busy worker cannot starve the node's own
daemons). The platform's actors *are* the hot path: at nice 15 on a small machine they lose the
CPU to the brokers and the database they feed, and throughput collapses under load with the
actors only half busy. Each actor asks for normal priority; without the right to (not root, no
CAP_SYS_NICE) it stays at Ray's default."""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)


def normal_priority(niceness: int = 0) -> None:
    """Renice every thread of this process (on Linux niceness is per thread, and Ray runs an
    actor's constructor on a thread of its own); threads started later inherit it."""
    try:
        tids = [int(t) for t in os.listdir("/proc/self/task")]
    except OSError:
        tids = [0]
    for tid in tids:
        try:
            os.setpriority(os.PRIO_PROCESS, tid, niceness)
        except (PermissionError, ProcessLookupError, OSError) as exc:
            log.info("keeping Ray's worker niceness tid=%d: %r", tid, exc)
            return
