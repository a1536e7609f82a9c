from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cluster.assignment import assign_partitions


@given(st.integers(1, 256), st.integers(1, 64))
def test_every_partition_has_exactly_one_owner(partitions: int, actors: int) -> None:
    owners = assign_partitions(partitions, actors)
    flat = sorted(p for ps in owners for p in ps)
    assert flat == list(range(partitions))
    assert len(owners) == min(partitions, actors)
    sizes = [len(ps) for ps in owners]
    assert max(sizes) - min(sizes) <= 1


def test_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        assign_partitions(0, 1)
