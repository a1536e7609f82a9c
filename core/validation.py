"""Input checks shared by the APIs and the pipeline: event type names, payload shape and depth,
and the parts of a webhook that its schema cannot check (subscriptions, headers, filter).

Everything here walks data iteratively: a hostile payload nested 100k deep must produce a
clean `InvalidInput`, never a `RecursionError` in the middle of a request.
"""

from __future__ import annotations

import math
import re
from typing import Any

import orjson

from core.errors import InvalidInput
from core.filters import validate_filter

# `\Z`, not `$`: `$` also matches before a trailing newline, so "EVENT_A\n" would pass `.match`.
EVENT_TYPE_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,128}\Z")

# orjson (our encoder) refuses integers outside this range; refusing them at the door keeps a
# payload from being accepted and then failing to serialize on the way to Kafka.
_INT_MIN = -(2**63)
_INT_MAX = 2**64 - 1

# Set by the platform on every delivery, or meaningful only to one hop of HTTP.
RESERVED_HEADERS = frozenset(
    {"content-type", "content-length", "host", "transfer-encoding", "connection", "keep-alive", "te",
     "trailer", "upgrade"}
)  # fmt: skip
MAX_FILTER_BYTES = 16_384

_Path = tuple[Any, str] | None  # (parent path, key): a linked list, cheap to extend


def validate_event_type(t: Any, field: str = "type") -> str:
    """Return `t` if it is a valid event type name, else raise `InvalidInput`."""
    if not isinstance(t, str) or not EVENT_TYPE_RE.match(t):
        raise InvalidInput(field, "must be 1-128 characters of A-Z a-z 0-9 _ . : -")
    return t


def validate_event_type_pattern(p: Any, field: str = "event_types") -> str:
    """A webhook subscription: an exact type, `prefix.*` (types starting with `prefix.`), or `*`."""
    if p == "*":
        return "*"
    if isinstance(p, str) and p.endswith(".*"):
        validate_event_type(p[:-2], field)
        return p
    return validate_event_type(p, field)


def check_event_types(patterns: list[str]) -> list[str]:
    """A webhook's subscriptions, each checked, duplicates dropped (first one kept)."""
    for i, pattern in enumerate(patterns):
        validate_event_type_pattern(pattern, f"event_types.{i}")
    return list(dict.fromkeys(patterns))


def check_headers(headers: dict[str, str]) -> dict[str, str]:
    """A webhook's own headers: none the platform sets, none given twice in another case."""
    seen: set[str] = set()
    for name in headers:
        low = name.lower()
        if low.startswith("webhook-") or low in RESERVED_HEADERS:
            raise InvalidInput(f"headers.{name}", "is set by the platform and cannot be overridden")
        if low in seen:
            raise InvalidInput(f"headers.{name}", "is given twice (header names are case-insensitive)")
        seen.add(low)
    return dict(headers)


def check_filter(spec: dict[str, Any] | None) -> dict[str, Any] | None:
    """A webhook's filter, valid (core/filters.py) and small; an empty one is no filter."""
    validate_filter(spec)  # InvalidFilter names the offending path: filter.data.x.$where
    # Every filter lives in every actor's rule snapshot: operands may not be megabytes.
    try:
        size = len(orjson.dumps(spec)) if spec else 0
    except TypeError:  # an integer past 64 bits: neither orjson nor BSON can hold it (was a 500)
        raise InvalidInput("filter", "numbers must fit in 64 bits") from None
    if size > MAX_FILTER_BYTES:
        raise InvalidInput("filter", f"is larger than {MAX_FILTER_BYTES} bytes as JSON")
    return spec or None


def json_depth(value: Any, limit: int, field: str = "data") -> int:
    """Nesting depth of a JSON-like value (a scalar is 0, `{}` and `[]` are 1).

    Raises `InvalidInput(field, "nested deeper than <limit>")` as soon as the limit is passed,
    without walking the rest.
    """
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        depth += 1
        if depth > limit:
            raise InvalidInput(field, f"nested deeper than {limit}")
        deepest = max(deepest, depth)
        stack.extend((child, depth) for child in children)
    return deepest


def check_event_payload(obj: Any, max_depth: int, field: str = "data") -> None:
    """Refuse what JSON cannot carry or what would hurt downstream.

    One iterative pass: depth, string keys only, finite floats, 64-bit integers. Paths are kept
    as linked tuples and only turned into a dotted string for the error message.
    """
    stack: list[tuple[Any, int, _Path]] = [(obj, 0, None)]
    while stack:
        item, depth, path = stack.pop()
        if isinstance(item, dict):
            if depth + 1 > max_depth:
                raise InvalidInput(field, f"nested deeper than {max_depth}")
            for key, child in item.items():
                if not isinstance(key, str):
                    raise InvalidInput(_dotted(field, path), "object keys must be strings")
                stack.append((child, depth + 1, (path, key)))
        elif isinstance(item, list | tuple):
            if depth + 1 > max_depth:
                raise InvalidInput(field, f"nested deeper than {max_depth}")
            stack.extend((child, depth + 1, (path, str(i))) for i, child in enumerate(item))
        elif isinstance(item, bool) or item is None or isinstance(item, str):
            continue
        elif isinstance(item, int):
            if not _INT_MIN <= item <= _INT_MAX:
                raise InvalidInput(_dotted(field, path), "integer out of the 64-bit range")
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise InvalidInput(_dotted(field, path), "NaN and Infinity are not JSON")
        else:
            raise InvalidInput(_dotted(field, path), f"{type(item).__name__} is not a JSON type")


def _dotted(field: str, path: _Path) -> str:
    parts: list[str] = []
    while path is not None:
        path, key = path
        parts.append(key)
    return ".".join([field, *reversed(parts)])
