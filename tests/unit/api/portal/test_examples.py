"""Example data from JSON Schemas: what the schema names, valid where the schema allows it."""

from __future__ import annotations

from typing import Any

import pytest

from api.portal.examples import example
from core.event_schemas import CompiledSchema

SCHEMAS: list[dict[str, Any]] = [
    {"type": "object", "required": ["amount", "currency"], "properties": {
        "amount": {"type": "integer", "minimum": 1}, "currency": {"enum": ["EUR", "USD"]},
        "at": {"type": "string", "format": "date-time"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "paid": {"type": "boolean"}, "note": {"type": ["string", "null"], "minLength": 3}}},
    {"$defs": {"money": {"type": "object", "properties": {"cents": {"type": "integer"}}}},
     "type": "object", "properties": {"total": {"$ref": "#/$defs/money"}}},
    {"allOf": [{"type": "object", "properties": {"a": {"const": 1}}},
               {"type": "object", "properties": {"b": {"type": "number", "exclusiveMinimum": 0}}}]},
    {"type": "object", "properties": {"x": {"anyOf": [{"type": "string"}, {"type": "integer"}]}}},
    {"type": "object", "examples": [{"given": True}]},
]  # fmt: skip


@pytest.mark.parametrize("schema", SCHEMAS)
def test_examples_are_valid_against_their_schema(schema: dict[str, Any]) -> None:
    CompiledSchema(schema).check(example(schema), "data")


def test_what_the_example_holds() -> None:
    data = example(SCHEMAS[0])
    assert data["amount"] == 1 and data["currency"] == "EUR" and data["at"].endswith("Z")
    assert data["tags"] == ["string"] and data["paid"] is True and len(data["note"]) >= 3
    assert example(SCHEMAS[1]) == {"total": {"cents": 1}}
    assert example(SCHEMAS[4]) == {"given": True}
    assert example(None) == {} and example({"$ref": "#/nowhere"}) == {}


def test_recursive_schemas_end() -> None:
    schema = {
        "$defs": {"n": {"type": "object", "properties": {"next": {"$ref": "#/$defs/n"}}}},
        "$ref": "#/$defs/n",
    }
    value = example(schema)
    depth = 0
    while isinstance(value, dict) and value.get("next") is not None:
        value, depth = value["next"], depth + 1
    assert depth < 20
