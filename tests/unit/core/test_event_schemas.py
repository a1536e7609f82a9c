"""Event types' JSON Schemas: refused when written, applied to `data` with the field named."""

from __future__ import annotations

import pytest

from core.errors import InvalidInput
from core.event_schemas import CompiledSchema, check_schema


def test_data_is_checked_with_the_path_of_the_first_error() -> None:
    compiled = check_schema({"type": "object", "properties": {"n": {"type": "integer"}}}, 65_536)
    compiled.check({"n": 1}, "data")
    with pytest.raises(InvalidInput) as info:
        compiled.check({"n": "one"}, "events.3.data")
    assert info.value.field == "events.3.data.n" and "(schema: /properties/n/type)" in info.value.message


@pytest.mark.parametrize(
    ("schema", "field"),
    [
        ({"type": "nope"}, "schema.type"),
        ({"$ref": "https://example.com/s.json"}, "schema"),
        ({"description": "x" * 2000}, "schema"),
        ({"const": 2**70}, "schema"),
    ],
)
def test_bad_schemas_are_refused_naming_the_field(schema: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        check_schema(schema, 1024)
    assert info.value.field == field


def test_a_stored_schema_that_cannot_be_built_refuses_every_check() -> None:
    compiled = CompiledSchema({"$ref": "#/$defs/missing"})
    assert compiled.error
    with pytest.raises(InvalidInput) as info:
        compiled.check({}, "data")
    assert info.value.field == "data"
