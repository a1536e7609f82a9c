"""Mongo-style webhook filters, compiled once into plain closures over an event dict.

Supported: ``$eq $ne $gt $gte $lt $lte $in $nin $exists $regex`` (with ``$options`` from
``imsx``), ``$not`` (on a field, as in Mongo, and also around a whole clause), ``$and $or $nor``,
and implicit equality ``{"data.x": 5}``. Several operators in one object are ANDed.

Semantics, on purpose stricter than MongoDB's so that a filter means one thing:

* Paths are exact dotted paths: ``data.items.0.sku`` indexes a list with a canonical decimal
  segment (``0``, ``12``; not ``01`` or ``-1``) and a dict by key. A path through a list does
  NOT fan out over its elements (Mongo's "any element matches"); ``{"data.tags": "x"}`` compares
  the whole ``tags`` value with ``"x"``.
* Numbers compare with numbers, strings with strings; ``bool`` is not a number. Mismatched
  types are simply false, equality is deep and type-strict (``[1] != [True]``, key order of
  objects does not matter). Matching never raises.
* A missing field makes ``$ne``, ``$nin`` and ``$exists: false`` true, everything else false
  (including ``$eq: null``, unlike Mongo, where null also matches a missing field).

Anything else is refused at compile time with ``InvalidFilter(field="filter.<path>")``:
unknown operators (``$where``, ``$expr``, ``$function`` ...), bad operands, invalid or
over-long regexes, nesting deeper than ``MAX_DEPTH``, more than ``MAX_NODES`` keys.
Python's ``re`` backtracks: the regex length cap bounds the damage of a pathological pattern
but does not remove it.
"""

from __future__ import annotations

import functools
import math
import operator
import re
from collections.abc import Callable, Mapping
from typing import Any

from core.errors import InvalidFilter

Predicate = Callable[[Mapping[str, Any]], bool]
_Test = Callable[[Any], bool]  # a test on the value found at a path (or _MISSING)

MAX_DEPTH = 16  # levels of objects/lists, the filter's own and its operands'
MAX_NODES = 256  # keys of the filter (fields, operators), across every level
MAX_VALUES = 4096  # scalars and containers inside operands ($in lists, $eq objects)
MAX_REGEX = 512
MAX_PATH = 256

_MISSING: Any = object()
_NUM = frozenset({int, float})
_SEQ = frozenset({list, tuple})
_REGEX_FLAGS = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL, "x": re.VERBOSE}
_COMPARE = {"$gt": operator.gt, "$gte": operator.ge, "$lt": operator.lt, "$lte": operator.le}
_REFUSED = {
    "$where": "server-side JavaScript is not allowed",
    "$function": "server-side JavaScript is not allowed",
    "$accumulator": "server-side JavaScript is not allowed",
    "$expr": "aggregation expressions are not supported",
}


def _always(_event: Mapping[str, Any]) -> bool:
    return True


def compile_filter(spec: dict[str, Any] | None) -> Predicate:
    """Compile a filter into a predicate over an event; None or {} matches everything."""
    if spec is None or (isinstance(spec, dict) and not spec):
        return _always
    if not isinstance(spec, dict):
        raise InvalidFilter("filter", "must be an object")
    return _Compiler().clause(spec, "filter", 1)


def validate_filter(spec: dict[str, Any] | None) -> None:
    """Raise InvalidFilter if `spec` would not compile."""
    compile_filter(spec)


@functools.lru_cache(maxsize=4096)
def _regex(pattern: str, flags: int) -> re.Pattern[str]:
    return re.compile(pattern, flags)


class _Compiler:
    def __init__(self) -> None:
        self.nodes = 0
        self.values = 0

    def _node(self, where: str) -> None:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise InvalidFilter(where, f"more than {MAX_NODES} keys in one filter")

    def clause(self, spec: Any, where: str, depth: int) -> Predicate:
        if not isinstance(spec, dict) or not spec:
            raise InvalidFilter(where, "must be a non-empty object")
        if depth > MAX_DEPTH:
            raise InvalidFilter(where, f"nested deeper than {MAX_DEPTH}")
        preds: list[Predicate] = []
        for key, value in spec.items():
            if not isinstance(key, str):
                raise InvalidFilter(where, "keys must be strings")
            self._node(f"{where}.{key}")
            if key.startswith("$"):
                preds.append(self._logical(key, value, f"{where}.{key}", depth))
            else:
                preds.append(self._field(key, value, f"{where}.{key}", depth))
        return _all(preds)

    def _logical(self, op: str, value: Any, where: str, depth: int) -> Predicate:
        if op == "$not":
            inner = self.clause(value, where, depth + 1)
            return lambda ev: not inner(ev)
        if op not in ("$and", "$or", "$nor"):
            raise InvalidFilter(where, _REFUSED.get(op, f"unknown top-level operator {op}"))
        if not isinstance(value, list) or not value:
            raise InvalidFilter(where, "must be a non-empty list of objects")
        preds = [self.clause(sub, f"{where}.{i}", depth + 1) for i, sub in enumerate(value)]
        if op == "$and":
            return _all(preds)
        anyp = _any(preds)
        if op == "$or":
            return anyp
        return lambda ev: not anyp(ev)

    def _field(self, path: str, value: Any, where: str, depth: int) -> Predicate:
        get = _getter(path, where)
        if isinstance(value, dict) and any(isinstance(k, str) and k.startswith("$") for k in value):
            if not all(isinstance(k, str) and k.startswith("$") for k in value):
                raise InvalidFilter(where, "cannot mix operators and plain fields in one object")
            test = self._ops(value, where, depth + 1)
        else:
            test = _eq_test(self._operand(value, where, depth))
        return lambda ev: test(get(ev))

    def _ops(self, ops: dict[str, Any], where: str, depth: int) -> _Test:
        if depth > MAX_DEPTH:
            raise InvalidFilter(where, f"nested deeper than {MAX_DEPTH}")
        if "$options" in ops and "$regex" not in ops:
            raise InvalidFilter(f"{where}.$options", "$options needs $regex")
        tests: list[_Test] = []
        for op, arg in ops.items():
            at = f"{where}.{op}"
            self._node(at)
            if op == "$options":
                continue
            tests.append(self._op(op, arg, ops.get("$options"), at, depth))
        return _all_values(tests)

    def _op(self, op: str, arg: Any, options: Any, at: str, depth: int) -> _Test:
        if op == "$eq":
            return _eq_test(self._operand(arg, at, depth))
        if op == "$ne":
            eq = _eq_test(self._operand(arg, at, depth))
            return lambda v: not eq(v)
        if op in _COMPARE:
            return _compare_test(_COMPARE[op], arg, at)
        if op in ("$in", "$nin"):
            if not isinstance(arg, list):
                raise InvalidFilter(at, "must be a list")
            inside = _in_test(self._operand(arg, at, depth))
            return inside if op == "$in" else lambda v: not inside(v)
        if op == "$exists":
            if not isinstance(arg, bool):
                raise InvalidFilter(at, "must be true or false")
            return (lambda v: v is not _MISSING) if arg else (lambda v: v is _MISSING)
        if op == "$regex":
            rx = _compile_regex(arg, options, at)
            return lambda v: type(v) is str and rx.search(v) is not None
        if op == "$not":
            if not isinstance(arg, dict) or not arg or not all(isinstance(k, str) for k in arg):
                raise InvalidFilter(at, "must be a non-empty object of operators")
            if not all(k.startswith("$") for k in arg):
                raise InvalidFilter(at, "must hold operators only")
            inner = self._ops(arg, at, depth + 1)
            return lambda v: not inner(v)
        raise InvalidFilter(at, _REFUSED.get(op, f"unknown operator {op}"))

    def _operand(self, value: Any, where: str, depth: int) -> Any:
        """Check that an operand is plain JSON within the depth and size budgets; return it."""
        stack: list[tuple[Any, int]] = [(value, depth)]
        while stack:
            item, level = stack.pop()
            self.values += 1
            if self.values > MAX_VALUES:
                raise InvalidFilter(where, f"more than {MAX_VALUES} values in operands")
            if isinstance(item, dict | list | tuple):
                if level + 1 > MAX_DEPTH:
                    raise InvalidFilter(where, f"nested deeper than {MAX_DEPTH}")
                if isinstance(item, dict):
                    if not all(isinstance(k, str) for k in item):
                        raise InvalidFilter(where, "object keys must be strings")
                    stack.extend((v, level + 1) for v in item.values())
                else:
                    stack.extend((v, level + 1) for v in item)
            elif isinstance(item, float) and not math.isfinite(item):
                raise InvalidFilter(where, "NaN and Infinity are not allowed")
            elif not (item is None or isinstance(item, bool | int | float | str)):
                raise InvalidFilter(where, f"{type(item).__name__} is not a JSON value")
        return value


def _all(preds: list[Predicate]) -> Predicate:
    if len(preds) == 1:
        return preds[0]
    if len(preds) == 2:
        a, b = preds
        return lambda ev: a(ev) and b(ev)
    ps = tuple(preds)

    def every(ev: Mapping[str, Any]) -> bool:
        for p in ps:  # noqa: SIM110 - a plain loop beats all()/any() over a generator
            if not p(ev):
                return False
        return True

    return every


def _any(preds: list[Predicate]) -> Predicate:
    if len(preds) == 1:
        return preds[0]
    ps = tuple(preds)

    def some(ev: Mapping[str, Any]) -> bool:
        for p in ps:  # noqa: SIM110 - a plain loop beats all()/any() over a generator
            if p(ev):
                return True
        return False

    return some


def _all_values(tests: list[_Test]) -> _Test:
    if len(tests) == 1:
        return tests[0]
    ts = tuple(tests)

    def every(v: Any) -> bool:
        for t in ts:  # noqa: SIM110 - a plain loop beats all()/any() over a generator
            if not t(v):
                return False
        return True

    return every


_Step = tuple[str, int | None]


def _getter(path: str, where: str) -> Callable[[Mapping[str, Any]], Any]:
    if len(path) > MAX_PATH:
        raise InvalidFilter(where, f"path longer than {MAX_PATH} characters")
    segments = path.split(".")
    if any(not s or s.startswith("$") or "\x00" in s for s in segments):
        raise InvalidFilter(where, "path segments must be non-empty and must not start with $")
    steps: tuple[_Step, ...] = tuple((s, _index(s)) for s in segments)
    if len(steps) == 1:
        key = path
        return lambda ev: ev.get(key, _MISSING)
    if len(steps) == 2:
        k1, (k2, i2) = segments[0], steps[1]

        def get2(ev: Mapping[str, Any]) -> Any:
            v = ev.get(k1, _MISSING)
            if type(v) is dict:  # the common case, without the generic walk
                return v.get(k2, _MISSING)
            return _step(v, k2, i2)

        return get2
    head, rest = segments[0], steps[1:]

    def get(ev: Mapping[str, Any]) -> Any:
        cur = ev.get(head, _MISSING)
        for key, idx in rest:
            cur = _step(cur, key, idx)
            if cur is _MISSING:
                break
        return cur

    return get


def _index(segment: str) -> int | None:
    if segment.isascii() and segment.isdigit() and (segment == "0" or segment[0] != "0"):
        return int(segment)
    return None


def _step(cur: Any, key: str, idx: int | None) -> Any:
    if isinstance(cur, Mapping):
        return cur.get(key, _MISSING)
    if type(cur) in _SEQ and idx is not None and idx < len(cur):
        return cur[idx]
    return _MISSING


def _eq_test(x: Any) -> _Test:
    tx = type(x)
    if x is None:
        return lambda v: v is None
    if tx is bool:
        return lambda v: type(v) is bool and v == x
    if tx in _NUM:
        return lambda v: type(v) in _NUM and v == x
    if tx is str:
        return lambda v: type(v) is str and v == x
    return lambda v: _deep_eq(v, x)


def _deep_eq(a: Any, b: Any) -> bool:
    """Type-strict JSON equality; recursion is bounded by the operand's checked depth."""
    tb = type(b)
    if b is None:
        return a is None
    if tb is bool:
        return type(a) is bool and a == b
    if tb in _NUM:
        return type(a) in _NUM and bool(a == b)
    if tb is str:
        return type(a) is str and bool(a == b)
    if tb in _SEQ:
        return type(a) in _SEQ and len(a) == len(b) and all(_deep_eq(x, y) for x, y in zip(a, b, strict=True))
    if tb is dict:
        return (
            isinstance(a, Mapping)
            and len(a) == len(b)
            and all(k in a and _deep_eq(a[k], bv) for k, bv in b.items())
        )
    return False


def _compare_test(cmp: Callable[[Any, Any], bool], x: Any, at: str) -> _Test:
    tx = type(x)
    if tx in _NUM:
        if not math.isfinite(x):
            raise InvalidFilter(at, "NaN and Infinity are not allowed")
        return lambda v: type(v) in _NUM and cmp(v, x)
    if tx is str:
        return lambda v: type(v) is str and cmp(v, x)
    raise InvalidFilter(at, "must be a number or a string")


def _in_test(values: list[Any]) -> _Test:
    nums = frozenset(x for x in values if type(x) in _NUM)
    strs = frozenset(x for x in values if type(x) is str)
    bools = frozenset(x for x in values if type(x) is bool)
    has_none = any(x is None for x in values)
    nested = tuple(x for x in values if type(x) in _SEQ or type(x) is dict)
    if strs and not (nums or bools or has_none or nested):
        return lambda v: type(v) is str and v in strs

    def inside(v: Any) -> bool:
        tv = type(v)
        if tv is str:
            return v in strs
        if tv in _NUM:
            return v in nums
        if tv is bool:
            return v in bools
        if v is None:
            return has_none
        return any(_deep_eq(v, x) for x in nested)

    return inside


def _compile_regex(pattern: Any, options: Any, at: str) -> re.Pattern[str]:
    if not isinstance(pattern, str):
        raise InvalidFilter(at, "must be a string")
    if len(pattern) > MAX_REGEX:
        raise InvalidFilter(at, f"longer than {MAX_REGEX} characters")
    flags = 0
    if options is not None:
        if not isinstance(options, str) or any(c not in _REGEX_FLAGS for c in options):
            raise InvalidFilter(at.rsplit(".", 1)[0] + ".$options", "must be a string of i, m, s, x")
        for c in options:
            flags |= _REGEX_FLAGS[c]
    try:
        return _regex(pattern, flags)
    except re.error as exc:
        raise InvalidFilter(at, f"invalid regular expression: {exc}") from None
