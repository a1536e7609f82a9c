"""An example `data` for an event type, made from its JSON Schema: pure.

A schema's own `examples`, `example`, `default`, `const` or first `enum` value wins; otherwise a
value is built from `type`, `properties`, `items`, `format`, `minimum`, `$ref` (inside the
schema) and the first branch of `anyOf` / `oneOf`, merging `allOf`. The caller checks the
result against the schema (`core.event_schemas.CompiledSchema`) before calling it valid: a
`pattern` or a `not` can defeat any generator, and then the page says so instead of lying.
"""

from __future__ import annotations

from typing import Any

MAX_DEPTH = 12
FORMATS = {
    "date-time": "2026-01-01T12:00:00Z",
    "date": "2026-01-01",
    "time": "12:00:00Z",
    "email": "someone@example.com",
    "uri": "https://example.com/",
    "url": "https://example.com/",
    "uuid": "5f1b1d4e-7a43-4c57-9f7c-2b8c3c1d9a10",
    "hostname": "example.com",
    "ipv4": "192.0.2.1",
    "ipv6": "2001:db8::1",
}


def example(schema: Any) -> dict[str, Any]:
    """An example event `data` (always an object, as ingest requires) for `schema`."""
    if not isinstance(schema, dict):
        return {}
    value = _value(schema, schema, 0)
    return value if isinstance(value, dict) else {}


def _resolve(ref: str, root: dict[str, Any]) -> Any:
    node: Any = root
    for raw in ref.lstrip("#").strip("/").split("/"):
        if not raw:
            continue
        part = raw.replace("~1", "/").replace("~0", "~")  # JSON Pointer escapes
        if not isinstance(node, dict) or part not in node:
            return {}
        node = node[part]
    return node


def _value(schema: Any, root: dict[str, Any], depth: int) -> Any:
    if depth > MAX_DEPTH or not isinstance(schema, dict):
        return None
    if isinstance(schema.get("examples"), list) and schema["examples"]:
        return schema["examples"][0]
    for key in ("example", "default", "const"):
        if key in schema:
            return schema[key]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    if isinstance(schema.get("$ref"), str):
        return _value(_resolve(schema["$ref"], root), root, depth + 1)
    for key in ("anyOf", "oneOf"):
        if isinstance(schema.get(key), list) and schema[key]:
            return _value(schema[key][0], root, depth + 1)
    if isinstance(schema.get("allOf"), list):
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            value = _value(part, root, depth + 1)
            if isinstance(value, dict):
                merged.update(value)
        rest = {k: v for k, v in schema.items() if k != "allOf"}
        value = _value(rest, root, depth + 1) if rest else {}
        return {**merged, **value} if isinstance(value, dict) else merged or value
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), kind[0] if kind else None)
    if kind is None:
        kind = "object" if "properties" in schema else "array" if "items" in schema else None
    return _typed(kind, schema, root, depth)


def _typed(kind: Any, schema: dict[str, Any], root: dict[str, Any], depth: int) -> Any:
    if kind == "object":
        props = schema.get("properties")
        if not isinstance(props, dict):
            return {}
        return {name: _value(sub, root, depth + 1) for name, sub in props.items()}
    if kind == "array":
        item = _value(schema.get("items", {}), root, depth + 1)
        return [item] * max(1, int(schema.get("minItems", 1) or 1))
    if kind == "string":
        text = FORMATS.get(str(schema.get("format")), "string")
        min_length = int(schema.get("minLength", 0) or 0)
        return text.ljust(min_length, "x")
    if kind in ("integer", "number"):
        low = schema.get("minimum", schema.get("exclusiveMinimum"))
        value = low if isinstance(low, int | float) else 1
        if "exclusiveMinimum" in schema and "minimum" not in schema:
            value += 1
        return int(value) if kind == "integer" else value
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return {} if depth == 0 else None
