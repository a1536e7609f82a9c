"""edpctl against the app behind a real uvicorn: the README walk-through, command by command."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jobs import edpctl
from tests.integration.api.control_support import LOOPBACK_URL, Served, served

pytestmark = pytest.mark.services


def ctl(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    assert edpctl.main(list(argv)) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    with served() as s:
        monkeypatch.setenv("EDP_URL", s.url)
        monkeypatch.setenv("EDP_ADMIN_KEY", s.admin_key)
        monkeypatch.delenv("EDP_API_KEY", raising=False)
        yield s


def test_walk_through(
    api: Served, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    org = ctl(capsys, "org", "create", "acme")
    assert org["api_key"] and org["id"].startswith("org_")
    monkeypatch.setenv("EDP_API_KEY", org["api_key"])

    hook = ctl(
        capsys, "webhook", "add", "--url", LOOPBACK_URL, "--type", "order.*", "--type", "EVENT_A",
        "--filter", '{"data.amount": {"$gte": 50}}', "--header", "X-Team=billing",
    )  # fmt: skip
    assert hook["secret"].startswith("whsec_") and hook["event_types"] == ["order.*", "EVENT_A"]
    assert hook["headers"] == {"X-Team": "billing"}
    listed = ctl(capsys, "webhook", "list")
    assert [w["id"] for w in listed["data"]] == [hook["id"]]
    assert ctl(capsys, "webhook", "secret", hook["id"]) == {"secret": hook["secret"]}
    rotated = ctl(capsys, "webhook", "rotate", hook["id"], "--expire-old-in", "60")
    assert rotated["secret"] != hook["secret"]

    assert (
        ctl(capsys, "type", "add", "order.created", "--schema", '{"type": "object"}')["name"]
        == "order.created"
    )
    assert [t["name"] for t in ctl(capsys, "type", "list")["data"]] == ["order.created"]
    sent = ctl(capsys, "send", "order.created", '{"amount": 70}')
    assert sent["id"].startswith("evt_")
    assert ctl(capsys, "attempts", "--webhook", hook["id"], "--limit", "5") == {"data": [], "next": None}
    assert ctl(capsys, "recover", hook["id"], "--since", "2026-01-01T00:00:00Z") == {"replayed": 0}
    ping = ctl(capsys, "webhook", "test", hook["id"], "--type", "order.created", "--data", '{"amount": 1}')
    assert ping["event_id"].startswith("evt_") and ping["delivery_id"].startswith("dlv_")
    assert edpctl.main(["--field", "secret", "webhook", "rotate", hook["id"]]) == 0
    assert capsys.readouterr().out.startswith("whsec_")
    ordered = ctl(capsys, "webhook", "order", hook["id"], "--on-failure", "pause")
    assert (ordered["ordered"], ordered["ordered_failure"]) == (True, "pause")
    assert ctl(capsys, "webhook", "resume", hook["id"])["ordered_paused"] is None
    assert ctl(capsys, "webhook", "order", hook["id"], "--off")["ordered"] is False
    assert ctl(capsys, "webhook", "delete", hook["id"]) == {"deleted": hook["id"]}
    link = ctl(capsys, "portal", "--expires-in", "60")
    assert link["url"].startswith(f"{api.url}/portal/login#token=") and link["expires_at"]
    assert edpctl.main(["--field", "url", "portal"]) == 0
    assert "/portal/login#token=" in capsys.readouterr().out

    # Errors: the API's answer on stderr, exit status 1.
    assert edpctl.main(["replay", "dlv_unknown"]) == 1
    assert "HTTP 404" in capsys.readouterr().err
    assert edpctl.main(["send", "order.created", "not json"]) == 1
    assert "not JSON" in capsys.readouterr().err
    assert edpctl.main(["--key", "wrong", "webhook", "list"]) == 1
    assert "HTTP 401" in capsys.readouterr().err


def test_without_keys_it_says_what_is_missing(
    api: Served, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert edpctl.main(["webhook", "list"]) == 1
    assert "EDP_API_KEY" in capsys.readouterr().err
    monkeypatch.delenv("EDP_ADMIN_KEY")
    monkeypatch.chdir(tmp_path)  # no .local/admin-key here
    assert edpctl.main(["org", "create", "x"]) == 1
    assert "EDP_ADMIN_KEY" in capsys.readouterr().err
    assert edpctl.main(["--url", "http://127.0.0.1:9", "--key", "k", "webhook", "list"]) == 1
    assert "cannot reach" in capsys.readouterr().err


def test_control_plane_commands(
    api: Served, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EDP_API_KEY", api.org.key)
    ro = ctl(capsys, "key", "create", "--name", "ci", "--scope", "webhooks:read", "--expires-in", "3600")
    assert ro["scopes"] == ["webhooks:read"] and ro["expires_at"] and ro["api_key"]
    listed = ctl(capsys, "key", "list")
    assert ro["id"] in [k["id"] for k in listed] and all("api_key" not in k for k in listed)
    assert ctl(capsys, "key", "revoke", ro["id"])["revoked_at"]

    prod = ctl(capsys, "producer", "create", "--name", "bus", "--org", api.org.id, "--org", api.other.id)
    assert prod["orgs"] == [api.org.id, api.other.id] and prod["scopes"] == ["events:publish"]
    sent = ctl(capsys, "--key", prod["api_key"], "send", "--org", api.other.id, "EVENT_A", "{}")
    assert sent["id"].startswith("evt_")
    assert edpctl.main(["--key", prod["api_key"], "webhook", "list"]) == 1
    assert "lacks the scope webhooks:read" in capsys.readouterr().err
    assert [p["id"] for p in ctl(capsys, "producer", "list")] == [prod["id"]]
    assert ctl(capsys, "producer", "revoke", prod["id"])["revoked_at"]

    assert ctl(capsys, "org", "quota", api.org.id, "--rate", "50") == {"rate": 50.0, "burst": 50.0}
    assert edpctl.main(["org", "quota", api.org.id, "--clear"]) == 0
    assert capsys.readouterr().out.strip() == "null"

    mine = ctl(capsys, "send", "EVENT_A", '{"n": 1}')
    assert ctl(capsys, "event", "get", mine["id"])["data"] == {"n": 1}
    assert ctl(capsys, "event", "deliveries", mine["id"])["data"] == []
    actions = [e["action"] for e in ctl(capsys, "audit", "--limit", "10")["data"]]
    assert actions[:3] == ["org.quota", "org.quota", "producer_key.revoke"] and "key.create" in actions
    everyone = ctl(capsys, "audit", "--as-admin", "--org", api.other.id)["data"]
    assert {e["org"] for e in everyone} == {api.other.id}
