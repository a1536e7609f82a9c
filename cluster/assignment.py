"""Which filter actor owns which Kafka partitions."""

from __future__ import annotations


def assign_partitions(partitions: int, actors: int) -> list[list[int]]:
    """Round-robin, so neighbouring partitions (often the busiest keys) land on different actors.

    Every partition has exactly one owner; with more actors than partitions the extra actors
    would own nothing, so the caller should not start them.
    """
    if partitions < 1 or actors < 1:
        raise ValueError("partitions and actors must be at least 1")
    n = min(actors, partitions)
    return [list(range(i, partitions, n)) for i in range(n)]
