"""Event types' JSON Schemas: checking one when it is written, compiling it, and checking an
event's `data` against it, every refusal an `InvalidInput` naming the field.

Pure: the API caches compiled schemas per org (api/schema_cache.py) and reads them from its
repo; here is only what a schema means.
"""

from __future__ import annotations

from typing import Any

import jsonschema_rs
import orjson
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
from jsonschema.exceptions import SchemaError  # type: ignore[import-untyped]

from core.errors import InvalidInput
from core.validation import json_depth

MAX_SCHEMA_DEPTH = 32
MAX_MESSAGE = 300


class CompiledSchema:
    """A schema ready to check `data`, by jsonschema-rs rather than the pure-Python jsonschema.

    Its regular expressions (`pattern`, `patternProperties`) run in linear time (Rust's regex
    crate; look-around and back-references under a backtracking limit), where Python's `re`
    backtracks: `(a+)+$` against 40 characters, or `a*b` against a 1 MB string, held the API's
    event loop for minutes (found by testkit/fuzz). JSON Schema's patterns are ECMA-262 anyway.
    A schema that cannot be built (a `$ref` that resolves nowhere, written by another tool) is
    kept, and every check against it is refused with 422.
    """

    __slots__ = ("_error", "_validator")

    def __init__(self, schema: Any) -> None:
        self._validator: jsonschema_rs.Draft202012Validator | None = None
        self._error = ""
        try:
            self._validator = jsonschema_rs.Draft202012Validator(schema)
        except Exception as exc:  # the schema's fault: refused at write, 422 at ingest
            self._error = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:MAX_MESSAGE]

    @property
    def error(self) -> str:
        """Why the schema cannot be applied; empty if it can."""
        return self._error

    def check(self, data: Any, field: str) -> None:
        """Raise InvalidInput naming `field` plus the path of the first error."""
        if self._validator is None:
            raise InvalidInput(field, f"the event type's schema could not be applied: {self._error}")
        try:
            error = next(iter(self._validator.iter_errors(data)), None)
        except Exception as exc:  # the schema's fault, not a 500
            raise InvalidInput(field, f"the event type's schema could not be applied: {exc}") from None
        if error is None:
            return
        where = ".".join([field, *(str(p) for p in error.instance_path)])
        schema_path = "/".join(str(p) for p in error.schema_path)
        raise InvalidInput(where, f"{error.message[:MAX_MESSAGE]} (schema: /{schema_path})")


def check_schema(schema: dict[str, Any], max_bytes: int) -> CompiledSchema:
    """Refuse a schema that is too big, too deep, not valid JSON Schema 2020-12, or that refers
    outside itself (nothing is ever fetched), with a 422 naming `schema...`."""
    try:
        size = len(orjson.dumps(schema))
    except TypeError:  # an integer past 64 bits: neither orjson nor BSON can hold it (was a 500)
        raise InvalidInput("schema", "numbers must fit in 64 bits") from None
    if size > max_bytes:
        raise InvalidInput("schema", f"is larger than {max_bytes} bytes")
    json_depth(schema, MAX_SCHEMA_DEPTH, "schema")
    _local_refs_only(schema)
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        where = ".".join(["schema", *(str(p) for p in exc.absolute_path)])
        raise InvalidInput(where, f"not a valid JSON Schema: {exc.message[:MAX_MESSAGE]}") from None
    except Exception as exc:  # the metaschema's format checks on hostile input
        raise InvalidInput("schema", f"not a valid JSON Schema: {exc}") from None
    compiled = CompiledSchema(schema)
    if compiled.error:  # a regex only Python's re reads, a $ref that resolves nowhere
        raise InvalidInput("schema", f"not a valid JSON Schema: {compiled.error}")
    return compiled


def _local_refs_only(schema: dict[str, Any]) -> None:
    stack: list[Any] = [schema]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key in ("$ref", "$dynamicRef"):
                ref = item.get(key)
                if isinstance(ref, str) and not ref.startswith("#"):
                    raise InvalidInput("schema", f"{key} must point inside the schema (#...): {ref[:100]}")
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
