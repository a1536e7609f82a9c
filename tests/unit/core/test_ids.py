from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st

from core.ids import _ALPHABET, _b32, delivery_id, new_id, stable_id


def reference_b32(data: bytes) -> str:
    """The plain one-digit-at-a-time encoding the ids have always used."""
    n = int.from_bytes(data, "big")
    digits = [_ALPHABET[(n >> (5 * i)) & 31] for i in range((len(data) * 8 + 4) // 5)]
    return "".join(reversed(digits))


@given(st.binary(min_size=0, max_size=40))
def test_the_fast_encoding_is_the_reference_encoding(data: bytes) -> None:
    assert _b32(data) == reference_b32(data)


def test_ids_sort_by_time_and_do_not_repeat() -> None:
    ids = [new_id("att", now_ms=1_000 + i) for i in range(200)]
    assert ids == sorted(ids) and len(set(ids)) == 200
    assert all(len(i) == len("att_") + 26 for i in ids)
    assert new_id("att", 5) != new_id("att", 5)  # 80 random bits


def test_stable_ids_stay_what_they_were() -> None:
    # Delivery ids are the receivers' dedup key: an encoding change would re-deliver everything.
    assert stable_id("dlv", "evt_1", "wh_1") == stable_id("dlv", "evt_1", "wh_1")
    digest = hashlib.blake2b(b"evt_1\x1fwh_1", digest_size=16).digest()
    assert delivery_id("evt_1", "wh_1") == "dlv_" + reference_b32(digest)


def test_an_id_floor_orders_ids_by_time() -> None:
    from core.ids import floor_id

    assert floor_id("att", 1000) <= new_id("att", 1000) < floor_id("att", 1001)
    assert new_id("att", 999) < floor_id("att", 1000)
