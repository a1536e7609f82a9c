"""Endpoint forms <-> the API's webhook bodies: pure.

A form is turned into exactly the JSON body the API would get (`WebhookCreate`,
`WebhookPatch`), so the same pydantic limits and then the same route functions judge it; this
module only reads text fields (lists, JSON, `Name: value` lines) and maps every refusal back to
the form field it is about, keeping the full path in the message (`filter.data.x.$where`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson
from pydantic import ValidationError

from core.errors import InvalidInput
from core.models import Webhook

FIELDS = (
    "url", "description", "event_types", "filter", "headers", "rate_limit", "max_concurrency",
    "retry_schedule", "enabled", "ordered", "ordered_failure",
)  # fmt: skip
_SPLIT = re.compile(r"[\s,]+")
Errors = dict[str, str]


def _words(text: str) -> list[str]:
    return [w for w in _SPLIT.split(text.strip()) if w]


def _number(text: str, field: str, errors: Errors, kind: type[int] | type[float] = int) -> Any:
    text = text.strip()
    if not text:
        return None
    try:
        return kind(text)
    except ValueError:
        errors[field] = f"{field}: must be a {'whole ' if kind is int else ''}number"
        return None


def webhook_body(form: Mapping[str, str], *, create: bool) -> tuple[dict[str, Any], Errors]:
    """The API body the form stands for, and the fields that could not even be read."""
    errors: Errors = {}
    body: dict[str, Any] = {
        "url": form.get("url", "").strip(),
        "description": form.get("description", ""),
        "event_types": _words(form.get("event_types", "")),
    }
    text = form.get("filter", "").strip()
    body["filter"] = None
    if text:
        try:
            body["filter"] = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            errors["filter"] = f"filter: not JSON ({exc})"
        if body["filter"] is not None and not isinstance(body["filter"], dict):
            errors["filter"] = 'filter: must be a JSON object, e.g. {"data.amount": {"$gte": 50}}'
    headers: dict[str, str] = {}
    for n, line in enumerate(form.get("headers", "").splitlines(), 1):
        if not line.strip():
            continue
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            errors["headers"] = f"headers: line {n} is not `Name: value`"
        headers[name.strip()] = value.strip()
    body["headers"] = headers
    body["rate_limit"] = _number(form.get("rate_limit", ""), "rate_limit", errors)
    body["max_concurrency"] = _number(form.get("max_concurrency", ""), "max_concurrency", errors)
    schedule = [_number(w, "retry_schedule", errors, float) for w in _words(form.get("retry_schedule", ""))]
    body["retry_schedule"] = schedule or None
    if create:
        body["enabled"] = form.get("enabled") == "on"
    body["ordered"] = form.get("ordered") == "on"
    # Sent as given: the API's schema says which values there are (skip, pause).
    body["ordered_failure"] = form.get("ordered_failure") or "skip"
    return body, errors


def changed(body: Mapping[str, Any], current: Webhook) -> dict[str, Any]:
    """The part of an edit form's body that differs from the webhook: a PATCH of that only."""
    now = current_body(current)
    return {k: v for k, v in body.items() if k in now and v != now[k]}


def current_body(wh: Webhook) -> dict[str, Any]:
    body: dict[str, Any] = {
        "url": wh.url,
        "description": wh.description,
        "event_types": list(wh.event_types),
        "filter": wh.filter,
        "headers": dict(wh.headers),
        "rate_limit": wh.rate_limit,
        "max_concurrency": wh.max_concurrency,
        "retry_schedule": list(wh.retry_schedule) if wh.retry_schedule else None,
        "ordered": wh.ordered,
        "ordered_failure": wh.ordered_failure,
    }
    return body


def form_values(body: Mapping[str, Any]) -> dict[str, str]:
    """Text for the form's fields from a body (to fill it in, or show it again with errors)."""

    def text(v: Any) -> str:
        return "" if v is None else str(v)

    schedule = body.get("retry_schedule") or []
    return {
        "url": text(body.get("url")),
        "description": text(body.get("description")),
        "event_types": ", ".join(body.get("event_types") or []),
        "filter": orjson.dumps(body["filter"], option=orjson.OPT_INDENT_2).decode()
        if body.get("filter")
        else "",
        "headers": "\n".join(f"{k}: {v}" for k, v in (body.get("headers") or {}).items()),
        "rate_limit": text(body.get("rate_limit")),
        "max_concurrency": text(body.get("max_concurrency")),
        "retry_schedule": ", ".join(f"{s:g}" for s in schedule),
        "enabled": "on" if body.get("enabled", True) else "",
        "ordered": "on" if body.get("ordered") else "",
        "ordered_failure": text(body.get("ordered_failure") or "skip"),
    }


def typed(form: Mapping[str, str]) -> dict[str, str]:
    """The form's fields as they were sent: shown again with its errors, nothing lost."""
    return {name: form.get(name, "") for name in FIELDS}


def _field_of(path: str, fields: tuple[str, ...] = FIELDS) -> str:
    head = path.split(".", 1)[0]
    return head if head in fields else "form"


def invalid_input(exc: InvalidInput) -> Errors:
    """The route functions' refusal (SSRF verdict, filter compiler, header rules) at its field."""
    field = exc.field or "form"
    return {_field_of(field): f"{field}: {exc.message}"}


def refusal(exc: ValidationError | InvalidInput) -> Errors:
    """Either refusal a webhook write can meet, at its field of the endpoint form."""
    return validation_errors(exc) if isinstance(exc, ValidationError) else invalid_input(exc)


def validation_errors(exc: ValidationError, fields: tuple[str, ...] = FIELDS) -> Errors:
    """pydantic's refusals (the API's declared limits), the first one per field of `fields`
    (the endpoint form's unless told)."""
    errors: Errors = {}
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ())]
        path = ".".join(loc) or "form"
        errors.setdefault(_field_of(path, fields), f"{path}: {err.get('msg', 'invalid')}")
    return errors
