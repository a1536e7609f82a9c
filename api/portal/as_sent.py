"""What an attempt sent, rebuilt from what is kept, each part marked exact or not: pure.

The attempt log keeps the result of a call, not the request. What is certain: `webhook-id` is
the delivery id, `content-type` and `user-agent` are the platform's constants, and the body is
the event byte for byte (`orjson.dumps(event)`), when the event is known (the dead letter of a
dead delivery keeps it). The webhook's own headers are the ones configured now, exact when the
webhook has not changed since the attempt. `webhook-timestamp` is not kept: the attempt's `at`
is when the call ended, so `at` minus its latency, in whole seconds, is shown as an estimate.
The signature depends on that timestamp and on the secrets of that moment, so it is never
guessed. docs/portal.md says what the attempt row would need to show all of it exactly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import orjson

from adapters.http_delivery import USER_AGENT
from core.models import Event, Webhook


@dataclass(frozen=True, slots=True)
class Line:
    name: str
    value: str
    exact: bool
    note: str = ""


@dataclass(frozen=True, slots=True)
class AsSent:
    method: str
    url: str | None
    headers: tuple[Line, ...]
    body: str | None  # the exact bytes as text, when the event is known
    body_note: str


def request_as_sent(row: Mapping[str, Any], webhook: Webhook | None, event: Event | None) -> AsSent:
    at: datetime = row["at"]
    started = at.timestamp() - float(row.get("latency_ms") or 0.0) / 1000
    body = orjson.dumps(event) if event is not None else None
    unchanged = webhook is not None and webhook.updated_at <= at
    lines: list[Line] = []
    if webhook is not None:
        host = urlsplit(webhook.url).netloc
        lines.append(Line("host", host, unchanged, "" if unchanged else "the URL configured now"))
        note = "" if unchanged else "configured now; the webhook has changed since this attempt"
        lines += [Line(k, str(v), unchanged, note) for k, v in webhook.headers.items()]
    lines += [
        Line("user-agent", USER_AGENT, True),
        Line("content-type", "application/json", True),
    ]
    if body is not None:
        lines.append(Line("content-length", str(len(body)), True))
    lines += [
        Line("webhook-id", str(row["delivery_id"]), True, "the delivery id: the same on every attempt"),
        Line(
            "webhook-timestamp", str(math.floor(started)), False, "about: when the call began, not recorded"
        ),
        Line(
            "webhook-signature",
            "v1,…",
            False,
            "HMAC-SHA256 of id.timestamp.body, one per secret active then; not recorded",
        ),
    ]
    if body is not None:
        body_note = "exactly as sent: the event, as the dead letter keeps it"
    else:
        body_note = (
            "not kept: the attempt log records results, not bodies; the event's id is "
            f"{row.get('event_id')} (a dead delivery's body is kept with its dead letter)"
        )
    return AsSent(
        method="POST",
        url=webhook.url if webhook is not None else None,
        headers=tuple(lines),
        body=body.decode() if body is not None else None,
        body_note=body_note,
    )
