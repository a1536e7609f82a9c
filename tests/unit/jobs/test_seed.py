"""The demo seed job's pure part: importing the proof of concept's `wh_filters` documents."""

from __future__ import annotations

from typing import Any

import pytest

from core.errors import InvalidInput
from core.ids import stable_id
from core.models import Webhook
from core.rules import RuleSnapshot
from jobs.seed import import_legacy_wh_filters


def ev(org: str, etype: str) -> dict[str, Any]:
    return {"id": "e1", "org": org, "type": etype, "timestamp": "t", "data": {}}


def snap(*hooks: Webhook) -> RuleSnapshot:
    return RuleSnapshot(1, {h.id: h for h in hooks})


def test_import_legacy_wh_filters() -> None:
    doc = {
        "_id": "abc",
        "org": "helpdev",
        "filters": [
            {"filter": "EVENT_A", "whCallback": "http://127.0.0.1:8080/wh"},
            {"filter": "EVENT_B", "whCallback": "http://127.0.0.1:8081/wh"},
            {"filter": "EVENT_A", "whCallback": "http://127.0.0.1:8080/wh"},  # duplicate: one webhook
        ],
    }
    hooks = import_legacy_wh_filters(doc)
    assert [h.id for h in hooks] == [
        stable_id("wh", "helpdev", "EVENT_A", "http://127.0.0.1:8080/wh"),
        stable_id("wh", "helpdev", "EVENT_B", "http://127.0.0.1:8081/wh"),
    ]
    assert [h.id for h in import_legacy_wh_filters(doc)] == [h.id for h in hooks]  # stable
    assert hooks[0].event_types == ("EVENT_A",) and hooks[0].org == "helpdev"
    assert [w.url for w in snap(*hooks).match(ev("helpdev", "EVENT_B"))] == ["http://127.0.0.1:8081/wh"]
    with pytest.raises(InvalidInput) as info:
        import_legacy_wh_filters({"org": "o", "filters": [{"filter": "A", "whCallback": ""}]})
    assert info.value.field == "filters.0.whCallback"
    with pytest.raises(InvalidInput):
        import_legacy_wh_filters({"org": "o", "filters": [{"filter": "A B", "whCallback": "http://x"}]})
    with pytest.raises(InvalidInput):
        import_legacy_wh_filters({"filters": []})
