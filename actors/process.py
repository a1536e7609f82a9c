"""What an actor's process is tuned for: its priority and its garbage collector.

Ray starts worker processes at nice 15 (so a busy worker cannot starve the node's own
daemons). The platform's actors *are* the hot path: at nice 15 on a small machine they lose the
CPU to the brokers and the database they feed, and throughput collapses under load with the
actors only half busy. Each actor asks for normal priority; without the right to (not root, no
CAP_SYS_NICE) it stays at Ray's default."""

from __future__ import annotations

import gc
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


# Young-generation threshold for a busy process (CPython's default is 700 allocations).
GC_GEN0_THRESHOLD = 50_000


def tune_gc() -> None:
    """For a process on the hot path, called once its start-up is done.

    Parsing a 500-event batch, or a message of 100 delivery tasks, allocates thousands of
    objects, so the default thresholds run a collection every few events and, every so often, a
    full one over the whole start-up heap (Ray, FastAPI, pydantic, pymongo): 17 % of batch
    ingest's CPU in a profile, and pauses of tens of milliseconds on the delivery path.
    Freezing the start-up heap and collecting the young generation less often removes most of
    that; the hot path's objects are short-lived and freed by reference counting anyway.
    """
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GC_GEN0_THRESHOLD, gen1, gen2)
