"""Filters: every operator checked against a small reference evaluator written separately here,
on random events and random filters (hypothesis), plus examples and every refusal."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import InvalidFilter
from core.filters import (
    MAX_DEPTH,
    MAX_NODES,
    MAX_REGEX,
    compile_filter,
    index_hint,
    index_key,
    path_getter,
    validate_filter,
)

# ---------------------------------------------------------------- reference evaluator

MISSING: Any = object()


def ref_get(doc: Any, path: str) -> Any:
    cur = doc
    for seg in path.split("."):
        if isinstance(cur, dict):
            if seg not in cur:
                return MISSING
            cur = cur[seg]
        elif isinstance(cur, list):
            if not re.fullmatch(r"0|[1-9][0-9]*", seg) or int(seg) >= len(cur):
                return MISSING
            cur = cur[int(seg)]
        else:
            return MISSING
    return cur


def kind(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int | float):
        return "num"
    if isinstance(v, str):
        return "str"
    if isinstance(v, list):
        return "list"
    return "dict"


def ref_eq(a: Any, b: Any) -> bool:
    if a is MISSING or kind(a) != kind(b):
        return False
    if kind(a) == "list":
        return len(a) == len(b) and all(ref_eq(x, y) for x, y in zip(a, b, strict=True))
    if kind(a) == "dict":
        return set(a) == set(b) and all(ref_eq(a[k], b[k]) for k in a)
    return bool(a == b)


def ref_cmp(op: str, v: Any, x: Any) -> bool:
    if v is MISSING or kind(v) != kind(x):
        return False
    return bool({"$gt": v > x, "$gte": v >= x, "$lt": v < x, "$lte": v <= x}[op])


def ref_ops(v: Any, ops: dict[str, Any]) -> bool:
    results = []
    for op, arg in ops.items():
        if op == "$eq":
            results.append(ref_eq(v, arg))
        elif op == "$ne":
            results.append(not ref_eq(v, arg))
        elif op in ("$gt", "$gte", "$lt", "$lte"):
            results.append(ref_cmp(op, v, arg))
        elif op == "$in":
            results.append(any(ref_eq(v, a) for a in arg))
        elif op == "$nin":
            results.append(not any(ref_eq(v, a) for a in arg))
        elif op == "$exists":
            results.append((v is not MISSING) == arg)
        elif op == "$regex":
            flags = 0
            for c in ops.get("$options", ""):
                flags |= {"i": re.I, "m": re.M, "s": re.S}[c]
            results.append(isinstance(v, str) and re.search(arg, v, flags) is not None)
        elif op == "$not":
            results.append(not ref_ops(v, arg))
    return all(results)


def ref_match(doc: dict[str, Any], flt: dict[str, Any]) -> bool:
    results = []
    for key, val in flt.items():
        if key == "$and":
            results.append(all(ref_match(doc, f) for f in val))
        elif key == "$or":
            results.append(any(ref_match(doc, f) for f in val))
        elif key == "$nor":
            results.append(not any(ref_match(doc, f) for f in val))
        elif key == "$not":
            results.append(not ref_match(doc, val))
        elif isinstance(val, dict) and val and all(k.startswith("$") for k in val):
            results.append(ref_ops(ref_get(doc, key), val))
        else:
            results.append(ref_eq(ref_get(doc, key), val))
    return all(results)


# ---------------------------------------------------------------- strategies

KEYS = ["a", "b", "0", "1", "n"]
PATHS = ["type", "data", "data.a", "data.b", "data.0", "data.1", "data.a.b", "data.a.0", "data.0.a"]
PATHS += ["data.n.1", "data.a.b.n", "data.a.1.b", "missing", "data.x", "data.01"]
STRINGS = ["", "a", "ab", "B", "abc", "x", "A\nb", "ba"]
REGEXES = ["a", "^a", "b$", "A", "^$", "a.?b", "[ab]+", "x|c", "^b", "a$"]
OPTIONS = ["", "i", "m", "s", "im", "is"]

numbers = st.integers(-3, 3) | st.floats(-3, 3, allow_nan=False) | st.sampled_from([1.0, 2.0, 0.0, -0.0])
scalars = st.none() | st.booleans() | numbers | st.sampled_from(STRINGS)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(KEYS), inner, max_size=3),
    max_leaves=6,
)
events = st.builds(
    lambda t, d: {"id": "evt_1", "org": "o", "type": t, "data": d},
    st.sampled_from(["A", "B", "a", "order.created"]),
    st.dictionaries(st.sampled_from(KEYS), values, max_size=4) | values,
)
comparable = numbers | st.sampled_from(STRINGS)

OPERATORS = ["$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists", "$regex", "$not"]


def op_strategy(op: str, depth: int = 0) -> st.SearchStrategy[dict[str, Any]]:
    if op in ("$eq", "$ne"):
        return values.map(lambda v: {op: v})
    if op in ("$gt", "$gte", "$lt", "$lte"):
        return comparable.map(lambda v: {op: v})
    if op in ("$in", "$nin"):
        return st.lists(values, max_size=4).map(lambda v: {op: v})
    if op == "$exists":
        return st.booleans().map(lambda v: {op: v})
    if op == "$regex":
        return st.builds(
            lambda r, o: {"$regex": r, "$options": o} if o else {"$regex": r},
            st.sampled_from(REGEXES),
            st.sampled_from(OPTIONS),
        )
    inner = [o for o in OPERATORS if o != "$not" or depth < 2]
    return ops_dicts(inner, depth + 1).map(lambda v: {"$not": v})


def ops_dicts(ops: list[str], depth: int = 0) -> st.SearchStrategy[dict[str, Any]]:
    one = st.sampled_from(ops).flatmap(lambda o: op_strategy(o, depth))
    return st.lists(one, min_size=1, max_size=3).map(lambda ds: {k: v for d in ds for k, v in d.items()})


field_clauses = st.builds(
    lambda p, cond: {p: cond}, st.sampled_from(PATHS), ops_dicts(OPERATORS) | scalars | values
)
filters = st.recursive(
    field_clauses,
    lambda inner: st.one_of(
        st.lists(inner, min_size=1, max_size=3).map(lambda fs: {"$and": fs}),
        st.lists(inner, min_size=1, max_size=3).map(lambda fs: {"$or": fs}),
        st.lists(inner, min_size=1, max_size=3).map(lambda fs: {"$nor": fs}),
        inner.map(lambda f: {"$not": f}),
        st.lists(inner, min_size=2, max_size=3).map(lambda fs: {k: v for f in fs for k, v in f.items()}),
    ),
    max_leaves=5,
)


# ---------------------------------------------------------------- properties


# Few examples per run, each checking a cross product of filters and events: drawing is what
# costs. The profile (tests/unit/conftest.py) sets how many: `HYPOTHESIS_PROFILE=thorough` runs 25x more.
@pytest.mark.parametrize("op", OPERATORS)
@given(data=st.data())
def test_each_operator_agrees_with_reference(op: str, data: st.DataObject) -> None:
    clause = st.builds(lambda p, c: {p: c}, st.sampled_from(PATHS), op_strategy(op))
    flts = data.draw(st.lists(clause, min_size=1, max_size=4))
    batch = data.draw(st.lists(events, min_size=1, max_size=6))
    for flt in flts:
        predicate = compile_filter(flt)
        for event in batch:
            assert predicate(event) is ref_match(event, flt), (flt, event)


@settings(max_examples=settings().max_examples * 5)
@given(flt=filters, batch=st.lists(events, min_size=1, max_size=6))
def test_random_filters_agree_with_reference(flt: dict[str, Any], batch: list[dict[str, Any]]) -> None:
    predicate = compile_filter(flt)
    for event in batch:
        assert predicate(event) is ref_match(event, flt), (flt, event)


# ---------------------------------------------------------------- examples

EVENT = {
    "id": "evt_1",
    "org": "o",
    "type": "order.created",
    "data": {
        "amount": 120,
        "flag": True,
        "items": [{"sku": "AB-1"}, {"sku": "cd-2"}],
        "note": None,
        "0": "k",
    },
}


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        (None, True),
        ({}, True),
        ({"type": "order.created"}, True),
        ({"data.amount": 120.0}, True),
        ({"data.amount": {"$gt": 100, "$lt": 200}}, True),
        ({"data.amount": {"$gt": 100, "$lt": 110}}, False),
        ({"data.amount": {"$gt": "100"}}, False),  # a string never compares with a number
        ({"data.flag": 1}, False),  # bool is not a number
        ({"data.flag": {"$gte": 0}}, False),
        ({"data.flag": True}, True),
        ({"data.items.0.sku": "AB-1"}, True),
        ({"data.items.1.sku": {"$regex": "^CD", "$options": "i"}}, True),
        ({"data.items.2.sku": {"$exists": False}}, True),
        ({"data.items.sku": "AB-1"}, False),  # no fan-out over list elements
        ({"data.items.01.sku": "cd-2"}, False),  # only canonical indexes
        ({"data.0": "k"}, True),  # a digit segment on a dict is a key
        ({"data.missing": {"$ne": 1}}, True),
        ({"data.missing": {"$nin": [1]}}, True),
        ({"data.missing": {"$eq": None}}, False),
        ({"data.note": None}, True),
        ({"data.note": {"$exists": True}}, True),
        ({"data.missing": {"$gt": 0}}, False),
        ({"data.amount": {"$in": [1, 120]}}, True),
        ({"data.flag": {"$in": [1]}}, False),
        ({"data.items": [{"sku": "AB-1"}, {"sku": "cd-2"}]}, True),
        ({"data.items.0": {"sku": "AB-1"}}, True),
        ({"data.amount": {"$not": {"$gt": 200}}}, True),
        ({"data.missing": {"$not": {"$gt": 200}}}, True),
        ({"$not": {"type": "order.created"}}, False),
        ({"$or": [{"type": "x"}, {"data.amount": 120}]}, True),
        ({"$nor": [{"type": "x"}, {"data.amount": 120}]}, False),
        ({"$and": [{"type": "order.created"}, {"data.amount": {"$lte": 120}}]}, True),
        ({"type": {"$regex": "created$"}, "data.amount": 1}, False),
    ],
)
def test_examples(flt: dict[str, Any] | None, expected: bool) -> None:
    assert compile_filter(flt)(EVENT) is expected


def _nested_and(levels: int) -> dict[str, Any]:
    flt: dict[str, Any] = {"type": "x"}
    for _ in range(levels):
        flt = {"$and": [flt]}
    return flt


@pytest.mark.parametrize(
    ("flt", "field"),
    [
        ({"$where": "this.a == 1"}, "filter.$where"),
        ({"$expr": {"$eq": ["$a", 1]}}, "filter.$expr"),
        ({"$function": {"body": "x"}}, "filter.$function"),
        ({"$foo": 1}, "filter.$foo"),
        ({"data.a": {"$where": "x"}}, "filter.data.a.$where"),
        ({"data.a": {"$elemMatch": {}}}, "filter.data.a.$elemMatch"),
        ({"data.a": {"$in": 1}}, "filter.data.a.$in"),
        ({"data.a": {"$nin": "ab"}}, "filter.data.a.$nin"),
        ({"data.a": {"$exists": 1}}, "filter.data.a.$exists"),
        ({"data.a": {"$gt": [1]}}, "filter.data.a.$gt"),
        ({"data.a": {"$lt": None}}, "filter.data.a.$lt"),
        ({"data.a": {"$gte": True}}, "filter.data.a.$gte"),
        ({"data.a": {"$lte": float("nan")}}, "filter.data.a.$lte"),
        ({"data.a": {"$eq": float("inf")}}, "filter.data.a.$eq"),
        ({"data.a": {"$regex": 5}}, "filter.data.a.$regex"),
        ({"data.a": {"$regex": "("}}, "filter.data.a.$regex"),
        ({"data.a": {"$regex": "a" * (MAX_REGEX + 1)}}, "filter.data.a.$regex"),
        ({"data.a": {"$regex": "a", "$options": "g"}}, "filter.data.a.$options"),
        ({"data.a": {"$regex": "a", "$options": "x"}}, "filter.data.a.$options"),  # RE2: no verbose
        ({"data.a": {"$regex": "(a)\\1"}}, "filter.data.a.$regex"),  # backreference
        ({"data.a": {"$regex": "a(?=b)"}}, "filter.data.a.$regex"),  # lookahead
        ({"data.a": {"$options": "i"}}, "filter.data.a.$options"),
        ({"data.a": {"$not": 5}}, "filter.data.a.$not"),
        ({"data.a": {"$not": {"b": 1}}}, "filter.data.a.$not"),
        ({"data.a": {"$gt": 1, "b": 2}}, "filter.data.a"),
        ({"$and": []}, "filter.$and"),
        ({"$or": {"a": 1}}, "filter.$or"),
        ({"$and": [{"a": 1}, 5]}, "filter.$and.1"),
        ({"$and": [{"data.x": {"$regex": "["}}]}, "filter.$and.0.data.x.$regex"),
        ({"data..a": 1}, "filter.data..a"),
        ({"data.$a": 1}, "filter.data.$a"),
        ({"data.a": {"$eq": {1: 2}}}, "filter.data.a.$eq"),
        ({"data.a": {"$eq": object()}}, "filter.data.a.$eq"),
        (_nested_and(MAX_DEPTH), "filter" + ".$and.0" * MAX_DEPTH),
        ({f"f{i}": 1 for i in range(MAX_NODES + 1)}, f"filter.f{MAX_NODES}"),
        ({"data.a": {"$in": list(range(5000))}}, "filter.data.a.$in"),
    ],
)
def test_refusals(flt: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidFilter) as info:
        validate_filter(flt)
    assert info.value.field == field


def test_not_an_object_is_refused() -> None:
    with pytest.raises(InvalidFilter):
        compile_filter([{"a": 1}])  # type: ignore[arg-type]


def test_limits_are_inclusive() -> None:
    validate_filter(_nested_and(MAX_DEPTH - 1))
    validate_filter({f"f{i}": 1 for i in range(MAX_NODES)})
    validate_filter({"data.a": {"$regex": "a" * MAX_REGEX}})


def test_deep_operand_is_refused_without_recursion_error() -> None:
    deep: Any = 1
    for _ in range(10_000):
        deep = [deep]
    with pytest.raises(InvalidFilter):
        validate_filter({"data.a": deep})


def test_match_never_raises_on_odd_events() -> None:
    predicate = compile_filter(
        {"data.a.b.0": {"$gt": 1}, "data.s": {"$regex": "x"}, "data.l": {"$in": [[1]]}}
    )
    for data in [None, 1, "s", [1, 2], {"a": [1]}, {"a": {"b": "x"}}, {"s": 5, "l": {"x": 1}}, {"l": [1]}]:
        assert predicate({"type": "t", "data": data}) in (True, False)
    assert predicate({"data": {"a": {"b": [2]}, "s": "x", "l": [1]}}) is True


def test_filters_of_one_shape_share_compiled_code() -> None:
    from core.filters import _template

    a = compile_filter({"data.shape_test": {"$gte": 1}, "type": "x"})
    before = _template.cache_info()
    b = compile_filter({"data.other": {"$gte": 500}, "type": "y"})
    after = _template.cache_info()
    assert after.hits == before.hits + 1 and after.misses == before.misses
    assert a.__code__ is b.__code__
    assert b({"type": "y", "data": {"other": 500}}) and not a({"type": "y", "data": {"shape_test": 5}})


def test_filter_values_never_become_code() -> None:
    hostile = "__import__('os') or exit(1) # ')\\n\""  # no dot: a single path segment
    spec = {f"data.{hostile}": hostile, "type": {"$regex": hostile[:10], "$in": [hostile]}}
    predicate = compile_filter(spec)
    assert predicate({"type": hostile, "data": {hostile: hostile}}) is True
    assert predicate({"type": "x", "data": {}}) is False


@pytest.mark.parametrize(
    ("flt", "hint"),
    [
        ({"data.c": "x"}, ("data.c", ("x",))),
        ({"data.c": {"$eq": 5, "$ne": 6}}, ("data.c", (5,))),
        ({"data.c": {"$in": [1, "a", None]}}, ("data.c", (1, "a", None))),
        ({"data.n": {"$gt": 1}, "data.c": True}, ("data.c", (True,))),
        ({"$and": [{"data.n": {"$gt": 1}}, {"data.c": 2}]}, ("data.c", (2,))),
        ({"$or": [{"data.c": 1}, {"data.c": 2}]}, None),
        ({"$not": {"data.c": 1}}, None),
        ({"data.c": {"$ne": 1}}, None),
        ({"data.c": {"$in": [[1]]}}, None),
        ({"data.c": {"a": 1}}, None),
    ],
)
def test_index_hint(flt: dict[str, Any], hint: Any) -> None:
    validate_filter(flt)
    assert index_hint(flt) == hint


def test_index_key_follows_filter_equality() -> None:
    assert index_key(1) == index_key(1.0) != index_key(True)
    assert index_key("1") != index_key(1) and index_key(None) == ("z", None)
    assert index_key([1]) is None and index_key({"a": 1}) is None


def test_path_getter() -> None:
    get = path_getter("data.items.1.sku")
    assert get({"data": {"items": [{}, {"sku": "x"}]}}) == "x"
    assert index_key(get({"data": {"items": [{}]}})) is None
    assert path_getter("data.items.1.sku") is get


def test_regexes_are_cached() -> None:
    from core.filters import _regex

    compile_filter({"data.a": {"$regex": "^cache-me$"}})
    before = _regex.cache_info().hits
    compile_filter({"data.b": {"$regex": "^cache-me$"}})
    assert _regex.cache_info().hits == before + 1


def test_a_pathological_regex_matches_in_linear_time() -> None:
    # With a backtracking engine, (a+)+$ on 30 a's and a "!" takes minutes.
    import time

    predicate = compile_filter({"data.s": {"$regex": "(a+)+$"}})
    started = time.perf_counter()
    assert predicate({"data": {"s": "a" * 30_000 + "!"}}) is False
    assert predicate({"data": {"s": "a" * 30}}) is True
    assert time.perf_counter() - started < 0.5
