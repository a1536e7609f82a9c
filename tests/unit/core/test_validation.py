"""Event types, JSON depth and payload checks, and the checks on a webhook's fields."""

from __future__ import annotations

from typing import Any

import pytest

from core.errors import InvalidInput
from core.validation import (
    EVENT_TYPE_RE,
    check_event_payload,
    check_event_types,
    check_filter,
    check_headers,
    json_depth,
    validate_event_type,
    validate_event_type_pattern,
)


@pytest.mark.parametrize("t", ["EVENT_A", "order.created", "billing:invoice-paid", "a" * 128, "0"])
def test_good_event_types(t: str) -> None:
    assert validate_event_type(t) == t


@pytest.mark.parametrize("t", ["", "a" * 129, "has space", "a/b", "x\n", "é", "a*", None, 5])
def test_bad_event_types(t: Any) -> None:
    with pytest.raises(InvalidInput) as info:
        validate_event_type(t)
    assert info.value.field == "type"


def test_regex_does_not_accept_a_trailing_newline_with_match() -> None:
    assert EVENT_TYPE_RE.match("EVENT_A") and not EVENT_TYPE_RE.match("EVENT_A\n")


def test_patterns() -> None:
    for p in ("*", "order.*", "EVENT_A"):
        assert validate_event_type_pattern(p) == p
    for bad in ("order*", ".*", "**", "a.*.*", ""):
        with pytest.raises(InvalidInput):
            validate_event_type_pattern(bad)


def test_json_depth() -> None:
    assert json_depth(1, 5) == 0
    assert json_depth({}, 5) == 1
    assert json_depth({"a": [1, {"b": []}]}, 5) == 4
    with pytest.raises(InvalidInput) as info:
        json_depth({"a": [1, {"b": []}]}, 3)
    assert info.value.field == "data" and info.value.message == "nested deeper than 3"


def test_json_depth_survives_hostile_nesting() -> None:
    deep: Any = []
    for _ in range(50_000):
        deep = [deep]
    with pytest.raises(InvalidInput):
        json_depth(deep, 32)
    assert json_depth(deep, 10**6) == 50_001


def test_check_event_payload() -> None:
    check_event_payload({"a": [1, 2.5, "x", None, True, {"b": -(2**63)}]}, 4)
    cases: list[tuple[Any, str]] = [
        ({"a": {"b": {"c": {}}}}, "data"),
        ({"a": [1, float("nan")]}, "data.a.1"),
        ({"a": {"b": 2**64}}, "data.a.b"),
        ({"a": {1: 2}}, "data.a"),
        ({"a": {"b": object()}}, "data.a.b"),
        ({"a": b"bytes"}, "data.a"),
    ]
    for payload, field in cases:
        with pytest.raises(InvalidInput) as info:
            check_event_payload(payload, 3)
        assert info.value.field == field, payload


def test_webhook_subscriptions_headers_and_filter() -> None:
    assert check_event_types(["a", "b.*", "a"]) == ["a", "b.*"]
    with pytest.raises(InvalidInput) as info:
        check_event_types(["a", "b*"])
    assert info.value.field == "event_types.1"
    assert check_headers({"X-Team": "billing"}) == {"X-Team": "billing"}
    for headers, field in (({"Webhook-Id": "x"}, "headers.Webhook-Id"), ({"a": "1", "A": "2"}, "headers.A")):
        with pytest.raises(InvalidInput) as info:
            check_headers(headers)
        assert info.value.field == field
    assert check_filter({}) is None and check_filter({"data.n": {"$gte": 1}}) == {"data.n": {"$gte": 1}}
    with pytest.raises(InvalidInput) as info:
        check_filter({"data.n": 2**70})
    assert info.value.field == "filter"
