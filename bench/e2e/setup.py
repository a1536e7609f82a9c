"""What the benchmark puts into the running platform, and takes out again.

Orgs come from the management API (admin key); webhooks go straight into MongoDB as
`core.models.Webhook(...).to_doc()` until the webhook API exists; the rule cache picks them up
by polling. Every webhook is marked in its description (`edp-bench run=<id>`) and points at
`/bench/<id>` on a receiver, so a crashed run's leftovers are found and tombstoned by the next.
The receivers are told the secrets of every live webhook pointing at them, not only ours, so
the demo webhooks keep verifying while a benchmark runs.
"""

from __future__ import annotations

import logging
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import orjson
from pymongo import MongoClient
from pymongo.database import Database

from adapters.mongo import WEBHOOKS
from bench.e2e.measure import Subscription
from bench.load.payload import EVENT_TYPES
from core.ids import new_id
from core.models import Secret, Webhook, utcnow
from core.settings import MongoSettings
from core.signing import new_secret
from testkit.receiver import ReceiverClient

log = logging.getLogger(__name__)

MARK = "edp-bench run="
RECEIVER_HOSTS = ("127.0.0.1", "localhost")
# Loopback only: never through an HTTP proxy from the environment.
_LOCAL = urllib.request.build_opener(urllib.request.ProxyHandler({}))
Doc = dict[str, Any]


@dataclass(frozen=True, slots=True)
class BenchOrg:
    id: str
    name: str
    api_key: str
    key_id: str


def plan_webhooks(
    org_ids: Sequence[str],
    n: int,
    run_id: str,
    ports: Sequence[int],
    types: Sequence[str] = EVENT_TYPES,
    secret: Any = new_secret,
) -> list[Webhook]:
    """`n` webhooks dealt round-robin over the orgs; within an org the types cycle, so with
    n >= 3 x orgs every org covers every type, and each event fans out to n / (3 x orgs)
    webhooks on average. Receivers are dealt round-robin too."""
    hooks = []
    for i in range(n):
        org = org_ids[i % len(org_ids)]
        etype = types[(i // len(org_ids)) % len(types)]
        port = ports[i % len(ports)]
        hooks.append(
            Webhook(
                id=new_id("wh"),
                org=org,
                url=f"http://127.0.0.1:{port}/bench/{run_id}",
                event_types=(etype,),
                secrets=(Secret(secret()),),
                description=f"{MARK}{run_id}",
                updated_at=utcnow(),
            )
        )
    return hooks


def subscriptions(hooks: Iterable[Webhook]) -> list[Subscription]:
    return [Subscription(h.id, h.org, frozenset(h.event_types)) for h in hooks]


def receiver_port(url: str) -> int | None:
    parts = urlsplit(url)
    return parts.port if parts.hostname in RECEIVER_HOSTS else None


def secrets_by_port(docs: Iterable[Doc], ports: Iterable[int]) -> dict[int, list[str]]:
    """For each receiver port, the secrets of every live webhook that points at it."""
    out: dict[int, list[str]] = {p: [] for p in ports}
    for doc in docs:
        if doc.get("deleted"):
            continue
        port = receiver_port(str(doc.get("url", "")))
        if port in out:
            out[port].extend(s["key"] for s in doc.get("secrets") or () if isinstance(s, dict) and "key" in s)
    return out


def tombstone_update(now: datetime) -> Doc:
    """The repo's delete: a tombstone with a new `updated_at`, so the polling rule cache sees it."""
    return {"$set": {"deleted": True, "updated_at": now}, "$inc": {"version": 1}}


class Platform:
    """The running platform as the benchmark uses it: API on `api_url`, MongoDB, receivers."""

    def __init__(self, api_url: str, admin_key: str, ports: Sequence[int], timeout_s: float = 10.0) -> None:
        self.api_url = api_url
        self.admin_key = admin_key
        self.ports = list(ports)
        self.timeout_s = timeout_s
        settings = MongoSettings()
        self._client: MongoClient[Doc] = MongoClient(
            settings.url.get_secret_value(), serverSelectionTimeoutMS=5000, tz_aware=True
        )
        self.db: Database[Doc] = self._client[settings.database]
        self.receivers = {p: ReceiverClient(f"http://127.0.0.1:{p}") for p in self.ports}

    def close(self) -> None:
        self._client.close()

    def call(self, method: str, path: str, key: str, body: Any = None) -> Any:
        data = None if body is None else orjson.dumps(body)
        req = urllib.request.Request(
            self.api_url + path,
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        )
        with _LOCAL.open(req, timeout=self.timeout_s) as resp:
            return orjson.loads(resp.read() or b"null")

    def healthy(self) -> list[str]:
        """What is not answering (empty when all is well)."""
        problems = []
        try:
            _LOCAL.open(self.api_url + "/healthz", timeout=3).close()
        except (urllib.error.URLError, OSError) as exc:
            problems.append(f"API {self.api_url}: {exc}")
        problems += [f"receiver :{p} does not answer" for p, r in self.receivers.items() if not r.healthy()]
        try:
            self._client.admin.command("ping")
        except Exception as exc:  # pymongo raises many kinds; any means "not reachable"
            problems.append(f"MongoDB: {exc}")
        return problems

    def create_orgs(self, run_id: str, k: int) -> list[BenchOrg]:
        orgs = []
        for i in range(k):
            doc = self.call("POST", "/v1/orgs", self.admin_key, {"name": f"bench-{run_id}-{i}"})
            orgs.append(BenchOrg(doc["id"], doc["name"], doc["api_key"], doc.get("key_id", "")))
        return orgs

    def revoke_keys(self, orgs: Iterable[BenchOrg]) -> None:
        """Orgs cannot be deleted through the API; revoking their only key leaves them inert."""
        for org in orgs:
            if not org.key_id:
                continue
            try:
                self.call("DELETE", f"/v1/orgs/me/keys/{org.key_id}", org.api_key)
            except (urllib.error.URLError, OSError) as exc:
                log.warning("could not revoke the key of org=%s: %s", org.id, exc)

    def insert_webhooks(self, hooks: Sequence[Webhook]) -> None:
        if hooks:
            self.db[WEBHOOKS].insert_many([h.to_doc() for h in hooks])

    def tombstone(self, query: Doc) -> int:
        live = {**query, "deleted": {"$ne": True}}
        return self.db[WEBHOOKS].update_many(live, tombstone_update(utcnow())).modified_count

    def tombstone_run(self, run_id: str) -> int:
        return self.tombstone({"description": f"{MARK}{run_id}"})

    def tombstone_leftovers(self) -> int:
        """Live benchmark webhooks of earlier runs (a crash, a Ctrl-C during cleanup)."""
        return self.tombstone({"description": {"$regex": f"^{MARK}"}})

    def tell_receivers(self) -> dict[int, int]:
        docs = self.db[WEBHOOKS].find({"deleted": {"$ne": True}}, {"url": 1, "secrets": 1})
        by_port = secrets_by_port(docs, self.ports)
        for port, secrets in by_port.items():
            self.receivers[port].set_secrets(secrets)
        return {p: len(s) for p, s in by_port.items()}

    def reset_receivers(self) -> None:
        for r in self.receivers.values():
            r.reset()

    def receiver_stats(self) -> Mapping[int, Any]:
        return {p: r.stats() for p, r in self.receivers.items()}

    def arrivals(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for r in self.receivers.values():
            out.update(r.arrivals())
        return out
