"""What a compiled filter calls while it matches (core/filters.py generates the code): a path's
step into an event, and the type-strict comparisons. Apart from the compiler so that each file
holds one idea; nothing here is about parsing or validating a filter."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

MISSING: Any = object()  # a path that is not in the event
NUM = frozenset({int, float})
SEQ = frozenset({list, tuple})


def index(segment: str) -> int | None:
    if segment.isascii() and segment.isdigit() and (segment == "0" or segment[0] != "0"):
        return int(segment)
    return None


def step(cur: Any, key: str, idx: int | None) -> Any:
    if isinstance(cur, Mapping):
        return cur.get(key, MISSING)
    if type(cur) in SEQ and idx is not None and idx < len(cur):
        return cur[idx]
    return MISSING


def deep_eq(a: Any, b: Any) -> bool:
    """Type-strict JSON equality; recursion is bounded by the operand's checked depth."""
    tb = type(b)
    if b is None:
        return a is None
    if tb is bool:
        return type(a) is bool and a == b
    if tb in NUM:
        return type(a) in NUM and bool(a == b)
    if tb is str:
        return type(a) is str and bool(a == b)
    if tb in SEQ:
        return type(a) in SEQ and len(a) == len(b) and all(deep_eq(x, y) for x, y in zip(a, b, strict=True))
    if tb is dict:
        return (
            isinstance(a, Mapping)
            and len(a) == len(b)
            and all(k in a and deep_eq(a[k], bv) for k, bv in b.items())
        )
    return False


def in_test(values: list[Any]) -> Callable[[Any], bool]:
    nums = frozenset(x for x in values if type(x) in NUM)
    strs = frozenset(x for x in values if type(x) is str)
    bools = frozenset(x for x in values if type(x) is bool)
    has_none = any(x is None for x in values)
    nested = tuple(x for x in values if type(x) in SEQ or type(x) is dict)

    def inside(v: Any) -> bool:
        tv = type(v)
        if tv is str:
            return v in strs
        if tv in NUM:
            return v in nums
        if tv is bool:
            return v in bools
        if v is None:
            return has_none
        return any(deep_eq(v, x) for x in nested)

    return inside
