"""The benchmark only ever sends to loopback, and finds its keys where `make run` leaves them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.load.target import TargetError, admin_key, demo_key, require_loopback


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8000", "http://127.0.0.1:8000/", "http://localhost:8000", "http://[::1]:8000"]
)
def test_loopback_is_accepted(url: str) -> None:
    assert require_loopback(url) == url.rstrip("/")


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com",
        "http://127.0.0.1.example.com:8000",
        "http://10.0.0.1:8000",
        "ftp://127.0.0.1/",
        "127.0.0.1:8000",
        "http://user@example.com",
    ],
)
def test_anything_else_is_refused(url: str) -> None:
    with pytest.raises(TargetError):
        require_loopback(url)


def test_demo_keys_in_either_shape(tmp_path: Path) -> None:
    flat = tmp_path / "flat.json"
    flat.write_text(json.dumps({"helpdev": "k1", "github": "k2"}))
    nested = tmp_path / "nested.json"
    nested.write_text(json.dumps({"helpdev": {"org": "org_helpdev", "api_key": "k3"}}))
    assert demo_key("helpdev", flat) == "k1"
    assert demo_key("github", flat) == "k2"
    assert demo_key("helpdev", nested) == "k3"
    with pytest.raises(TargetError):
        demo_key("github", nested)
    with pytest.raises(TargetError):
        demo_key("helpdev", tmp_path / "missing.json")


def test_admin_key_from_env_or_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EDP_ADMIN_KEY", raising=False)
    f = tmp_path / "admin-key"
    f.write_text("edp_admin_x\n")
    assert admin_key(f) == "edp_admin_x"
    with pytest.raises(TargetError):
        admin_key(tmp_path / "missing")
    monkeypatch.setenv("EDP_ADMIN_KEY", "from_env")
    assert admin_key(tmp_path / "missing") == "from_env"
