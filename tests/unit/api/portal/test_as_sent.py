"""An attempt's request rebuilt: exact where it can be, marked where it cannot."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import orjson

from adapters.http_delivery import USER_AGENT
from api.portal.as_sent import request_as_sent
from core.models import Event, Webhook

AT = datetime(2026, 12, 1, 12, 0, 10, tzinfo=UTC)
ROW = {"delivery_id": "dlv_1", "event_id": "evt_1", "at": AT, "latency_ms": 2500.0}
WH = Webhook(
    id="wh_1", org="o", url="https://example.com/hook", event_types=("*",), headers={"X-Team": "billing"},
    updated_at=AT - timedelta(hours=1),
)  # fmt: skip
EVENT: Event = {
    "id": "evt_1",
    "org": "o",
    "type": "t",
    "timestamp": "2026-12-01T12:00:07.500Z",
    "data": {"a": 1},
}


def lines(sent: object) -> dict[str, tuple[str, bool]]:
    return {h.name: (h.value, h.exact) for h in sent.headers}  # type: ignore[attr-defined]


def test_with_the_event_the_body_is_exact_and_the_signature_never_guessed() -> None:
    sent = request_as_sent(ROW, WH, EVENT)
    got = lines(sent)
    assert sent.body == orjson.dumps(EVENT).decode()
    assert got["content-length"] == (str(len(orjson.dumps(EVENT))), True)
    assert got["webhook-id"] == ("dlv_1", True) and got["user-agent"] == (USER_AGENT, True)
    assert got["X-Team"] == ("billing", True) and got["host"] == ("example.com", True)
    assert got["webhook-timestamp"] == (str(int(AT.timestamp() - 2.5)), False)
    assert got["webhook-signature"][1] is False and "v1," in got["webhook-signature"][0]


def test_without_the_event_nothing_is_invented() -> None:
    sent = request_as_sent(ROW, WH, None)
    assert sent.body is None and "not kept" in sent.body_note and "evt_1" in sent.body_note
    assert "content-length" not in lines(sent)


def test_headers_changed_since_are_marked() -> None:
    changed = dataclasses.replace(WH, updated_at=AT + timedelta(minutes=1))
    assert lines(request_as_sent(ROW, changed, None))["X-Team"] == ("billing", False)
    assert request_as_sent(ROW, None, None).url is None
