"""Prometheus: our config is loaded (every scrape job) and a target is really scraped."""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from typing import Any

import pytest

pytestmark = pytest.mark.services

PROMETHEUS = "http://127.0.0.1:9090"


def _api(path: str, **params: str) -> Any:
    url = f"{PROMETHEUS}/api/v1/{path}"
    if params:
        url += "?" + urllib.parse.urlencode(params)
    with urllib.request.urlopen(url, timeout=5) as response:
        body = json.load(response)
    assert body["status"] == "success", body
    return body["data"]


def _wait_up(job: str, timeout_s: float = 20.0) -> list[Any]:
    """The scrape interval is 5 s: right after a start the first sample may not exist yet."""
    deadline = time.monotonic() + timeout_s
    while True:
        result: list[Any] = _api("query", query=f'up{{job="{job}"}}')["result"]
        if (result and all(r["value"][1] == "1" for r in result)) or time.monotonic() > deadline:
            return result
        time.sleep(0.5)


def test_config_has_every_job() -> None:
    pools = set(_api("scrape_pools")["scrapePools"])
    # The API has no /metrics job: its metrics reach Prometheus through Ray's agents (the ray job).
    assert {"prometheus", "rabbitmq", "rabbitmq-detailed", "ray", "edp-receivers"} <= pools
    active = _api("targets", state="active")["activeTargets"]
    urls = {t["scrapeUrl"] for t in active}
    assert "http://127.0.0.1:15692/metrics" in urls
    assert {f"http://127.0.0.1:{p}/metrics" for p in (8080, 8081, 8082)} <= urls


def test_prometheus_scrapes_itself() -> None:
    result = _wait_up("prometheus")
    assert [r["value"][1] for r in result] == ["1"]
    assert result[0]["metric"]["instance"] == "127.0.0.1:9090"


def test_prometheus_scrapes_rabbitmq() -> None:
    assert [r["value"][1] for r in _wait_up("rabbitmq")] == ["1"]
