"""Synchronous client of a receiver port's control API, for tests and the benchmark.

Standard library only (urllib), so it runs wherever the benchmark driver does.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, cast

import orjson

from testkit.receiver.state import CallRecord, DeliveryRecord, ModeDoc, PortConcurrencyDoc, StatsDoc


class ReceiverError(RuntimeError):
    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"receiver answered {status}: {body[:200]}")
        self.status = status


class ReceiverClient:
    """`ReceiverClient("http://127.0.0.1:8080")`: one port, i.e. one customer endpoint."""

    def __init__(self, base_url: str, timeout_s: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s

    def _call(self, method: str, path: str, body: Any = None, query: dict[str, Any] | None = None) -> bytes:
        url = self.base_url + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        data = None if body is None else orjson.dumps(body)
        req = urllib.request.Request(
            url, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                return cast(bytes, resp.read())
        except urllib.error.HTTPError as exc:
            raise ReceiverError(exc.code, exc.read().decode("utf-8", "replace")) from exc

    def _json(self, method: str, path: str, body: Any = None, query: dict[str, Any] | None = None) -> Any:
        return orjson.loads(self._call(method, path, body, query))

    def healthy(self) -> bool:
        try:
            return bool(self._json("GET", "/healthz").get("ok"))
        except (OSError, ReceiverError):
            return False

    def stats(self) -> StatsDoc:
        return cast(StatsDoc, self._json("GET", "/_control/stats"))

    def set_mode(
        self,
        *,
        status: int | None = None,
        retry_after: str | float | None = None,
        fail_count: int | None = None,
        fail_for_s: float | None = None,
        hang: bool = False,
        delay_ms: float = 0.0,
    ) -> ModeDoc:
        """Replace the port's failure mode; no arguments means healthy."""
        doc: dict[str, Any] = {"hang": hang, "delay_ms": delay_ms}
        for key, value in (
            ("status", status),
            ("retry_after", retry_after),
            ("fail_count", fail_count),
            ("fail_for_s", fail_for_s),
        ):
            if value is not None:
                doc[key] = value
        return cast(ModeDoc, self._json("PUT", "/_control/mode", doc))

    def set_secrets(self, secrets: list[str]) -> None:
        self._call("PUT", "/_control/secrets", {"secrets": secrets})

    def reset(self) -> None:
        self._call("POST", "/_control/reset", {})

    def deliveries(self, since: float = 0.0, limit: int = 10_000) -> list[DeliveryRecord]:
        return cast(
            list[DeliveryRecord],
            self._json("GET", "/_control/deliveries", query={"since": since, "limit": limit}),
        )

    def calls(self, since: float = 0.0, limit: int = 10_000, path: str | None = None) -> list[CallRecord]:
        """Every request the port was sent, whatever it answered, oldest first."""
        query: dict[str, Any] = {"since": since, "limit": limit}
        if path is not None:
            query["path"] = path
        return cast(list[CallRecord], self._json("GET", "/_control/calls", query=query))

    def concurrency(self) -> PortConcurrencyDoc:
        """Requests in flight now and the most at once since the last reset, per port and per path."""
        return cast(PortConcurrencyDoc, self._json("GET", "/_control/concurrency"))

    def arrivals(self) -> dict[str, float]:
        """webhook-id -> first time it was answered 2xx (time.time() on the receiver)."""
        out: dict[str, float] = {}
        for line in self._call("GET", "/_control/arrivals", query={"format": "ndjson"}).splitlines():
            if line:
                rec = orjson.loads(line)
                out[rec["webhook_id"]] = rec["received_at"]
        return out

    def event_ids(self) -> list[str]:
        return cast(list[str], self._json("GET", "/_control/event_ids"))

    def metrics(self) -> str:
        return self._call("GET", "/metrics").decode()

    def wait_for(self, *, unique: int, timeout_s: float = 30.0, interval_s: float = 0.1) -> StatsDoc:
        """Poll until at least `unique` distinct deliveries were answered 2xx; raise TimeoutError."""
        deadline = time.monotonic() + timeout_s
        while True:
            stats = self.stats()
            if stats["unique"] >= unique:
                return stats
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"{self.base_url}: {stats['unique']} of {unique} deliveries after {timeout_s}s"
                )
            time.sleep(interval_s)
