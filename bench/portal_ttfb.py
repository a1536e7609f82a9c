"""Time to first byte of the customer portal's pages with a big attempt log.
`python -m bench.portal_ttfb [--attempts 100000] [--runs 5]`

A throwaway database (`bench_portal_<tag>`, dropped at the end) gets one org with a few
endpoints and `--attempts` attempt rows over the last week, bulk-inserted in the shape the
delivery workers write them (`core.delivery.attempt_row`: ids that tell their time, outcomes,
status codes, excerpts, next attempts). The API app runs behind uvicorn on loopback
(`testkit.serving`); a client signs in through a portal link as a browser does and asks for
each page `--runs` times. Per page: the first byte of the body (TTFB), the whole page, and
whether the data (rows, figures) arrived. Medians go to bench/results/<date>-portal-ttfb.json.
Needs the local services (make services); no Ray.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import re
import statistics
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import SecretStr

from adapters import mongo
from adapters.mongo import ATTEMPTS
from api.app import create_app
from api.config import ApiConfig
from bench.outputs import dated
from core.ids import new_id
from core.sealing import new_master_key
from core.settings import (
    AdminSettings,
    DeliverySettings,
    KafkaSettings,
    MongoSettings,
    RabbitSettings,
    SecretsSettings,
)
from testkit.serving import serving

ADMIN_KEY = "bench-portal-" + uuid.uuid4().hex
BATCH = 5_000
NONCE = re.compile(r'name="nonce" value="([^"]+)"')
# Where the rows go: a public address literal, so the API's SSRF guard passes it without DNS.
OLDER = "(the first page's Older link)"
TARGET = "https://93.184.215.14/hooks/{n}"


@dataclass(frozen=True)
class Seeded:
    org: str
    key: str
    webhooks: list[str]
    attempt_id: str  # a recent failed attempt, for the detail page


def attempt_rows(
    org: str, webhooks: list[str], count: int, now: dt.datetime
) -> Iterator[list[dict[str, Any]]]:
    """`count` rows over the last 7 days, oldest first (the order the workers write them in,
    which is the order FerretDB's SQLite table keeps), in batches, as core.delivery.attempt_row
    writes them."""
    rng = random.Random(16)
    batch: list[dict[str, Any]] = []
    for i in range(count):
        at = now - dt.timedelta(seconds=7 * 86_400 * (1 - i / count))
        roll = rng.random()
        outcome = "success" if roll < 0.9 else "retry" if roll < 0.97 else "dead"
        status = 200 if outcome == "success" else rng.choice((500, 502, 503, 429))
        row: dict[str, Any] = {
            "_id": new_id("att", int(at.timestamp() * 1000)),
            "delivery_id": new_id("dlv"),
            "event_id": new_id("evt"),
            "webhook_id": webhooks[i % len(webhooks)],
            "org": org,
            "attempt": 1 if outcome == "success" else rng.randint(1, 5),
            "status_code": status,
            "outcome": outcome,
            "latency_ms": round(rng.lognormvariate(3.5, 0.6), 3),
            "at": at,
        }
        if outcome != "success":
            row["response_excerpt"] = '{"error": "upstream unavailable"}'
        if outcome == "retry":
            row["next_attempt_at"] = at + dt.timedelta(seconds=30)
        batch.append(row)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def seed(url: str, settings: MongoSettings, attempts: int, endpoints: int) -> Seeded:
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    with httpx.Client(base_url=url, trust_env=False, timeout=60) as http:
        r = http.post("/v1/orgs", json={"name": "ttfb"}, headers=admin)
        r.raise_for_status()
        org, key = r.json()["id"], r.json()["api_key"]
        auth = {"Authorization": f"Bearer {key}"}
        webhooks = []
        for n in range(endpoints):
            body = {"url": TARGET.format(n=n), "event_types": ["order.*"]}
            r = http.post("/v1/webhooks", json=body, headers=auth)
            r.raise_for_status()
            webhooks.append(r.json()["id"])
    db = mongo.sync_database(settings)
    try:
        started = time.monotonic()
        newest_failed = ""
        for batch in attempt_rows(org, webhooks, attempts, dt.datetime.now(dt.UTC)):
            db[ATTEMPTS].insert_many(batch, ordered=False)
            failed = [r["_id"] for r in batch if r["outcome"] != "success"]
            newest_failed = failed[-1] if failed else newest_failed
        print(f"seeded {attempts} attempts in {time.monotonic() - started:.1f} s")
    finally:
        db.client.close()
    return Seeded(org, key, webhooks, newest_failed)


@contextmanager
def signed_in(url: str, key: str) -> Iterator[httpx.Client]:
    """A client holding a portal session, opened through a link as the link's page does."""
    with httpx.Client(base_url=url, trust_env=False, timeout=120) as http:
        yield _sign_in(http, key)


def _sign_in(http: httpx.Client, key: str) -> httpx.Client:
    r = http.post("/v1/orgs/me/portal-links", headers={"Authorization": f"Bearer {key}"})
    r.raise_for_status()
    token = r.json()["url"].split("#token=", 1)[1]
    nonce = NONCE.search(http.get("/portal/login").text)
    assert nonce, "no nonce on the link page"
    r = http.post("/portal/login", data={"token": token, "nonce": nonce.group(1)})
    assert r.status_code == 303 and r.headers["location"] == "/portal", r.text
    return http


def measure(http: httpx.Client, path: str, marker: str) -> dict[str, Any]:
    """Seconds to the response head, to the first body byte and to the last; how many times
    the body holds `marker` (one per row or figure: the data did arrive)."""
    started = time.perf_counter()
    with http.stream("GET", path) as r:
        head = time.perf_counter() - started
        first = None
        chunks = []
        for chunk in r.iter_raw():
            if first is None and chunk:
                first = time.perf_counter() - started
            chunks.append(chunk)
        total = time.perf_counter() - started
    assert r.status_code == 200, (path, r.status_code)
    body = b"".join(chunks).decode()
    return {"head_s": head, "ttfb_s": first or total, "total_s": total, "rows": body.count(marker)}


def pages(s: Seeded) -> dict[str, tuple[str, str]]:
    """Each page measured: its path, and what marks one row (or one endpoint's figures) in it."""
    rows = "<tr data-attempt="
    return {
        "deliveries": ("/portal/deliveries", rows),
        "deliveries_page_2": (OLDER, rows),
        "deliveries_filtered": (
            f"/portal/deliveries?webhook_id={s.webhooks[0]}&outcome=dead&window=24h",
            rows,
        ),
        "attempt": (f"/portal/attempts/{s.attempt_id}", '<td><a href="/portal/attempts/'),
        "overview": ("/portal", '<dl class="figures">'),
        "endpoints": ("/portal/endpoints", "<tr data-endpoint="),
    }


def page_figures(http: httpx.Client, path: str, marker: str, runs: int) -> dict[str, Any]:
    measure(http, path, marker)  # warm: templates compiled, connections open
    got = [measure(http, path, marker) for _ in range(runs)]

    def median_ms(key: str) -> float:
        return round(1000 * statistics.median(float(r[key]) for r in got), 1)

    out = {
        "path": path,
        "ttfb_ms_median": median_ms("ttfb_s"),
        "head_ms_median": median_ms("head_s"),
        "total_ms_median": median_ms("total_s"),
        "rows": got[-1]["rows"],
        "runs_ms": [{k: round(v * 1000, 1) for k, v in r.items() if k != "rows"} for r in got],
    }
    print(f"{path[:60]:60} ttfb {out['ttfb_ms_median']:8.1f} ms  whole page {out['total_ms_median']:8.1f} ms")
    return out


def older_page(http: httpx.Client) -> str:
    """The deliveries log's second page, by the first page's "Older" link."""
    found = re.search(r'href="(/portal/deliveries\?[^"]*)" id="older"', http.get("/portal/deliveries").text)
    assert found, "no Older link on the first page"
    return found.group(1).replace("&amp;", "&")


def run(args: argparse.Namespace) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:10]
    settings = MongoSettings(database=f"bench_portal_{tag}")
    config = ApiConfig(
        kafka=KafkaSettings(topic=f"bench{tag}.events"),
        mongo=settings,
        rabbit=RabbitSettings(exchange=f"bench{tag}.webhooks", queue=f"bench{tag}.deliveries"),
        delivery=DeliverySettings(),
        admin=AdminSettings(admin_key=SecretStr(ADMIN_KEY)),
        # A throwaway key: the endpoints' secrets are sealed, as in production.
        secrets=SecretsSettings(key=SecretStr(new_master_key()), previous_keys=None, key_file=None),
    )
    db = mongo.sync_database(settings)
    mongo.ensure_indexes(db)
    try:
        with serving(create_app(config)) as url:
            seeded = seed(url, settings, args.attempts, args.endpoints)
            with signed_in(url, seeded.key) as http:
                results = {
                    name: page_figures(http, older_page(http) if path == OLDER else path, marker, args.runs)
                    for name, (path, marker) in pages(seeded).items()
                }
    finally:
        if not args.keep:
            db.client.drop_database(settings.database)
        db.client.close()
    return {
        "name": "portal-ttfb",
        "at": dt.datetime.now(dt.UTC).isoformat(),
        "attempts": args.attempts,
        "endpoints": args.endpoints,
        "runs": args.runs,
        "database": "FerretDB v1 (SQLite) on 127.0.0.1" if args.ferret else "MongoDB wire on 127.0.0.1",
        "note": "ttfb: first body byte; total: last byte, rows included; medians after one warm-up",
        "pages": results,
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--attempts", type=int, default=100_000)
    parser.add_argument("--endpoints", type=int, default=5)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="keep the database (its name is printed)")
    args = parser.parse_args()
    db = mongo.sync_database(MongoSettings())
    args.ferret = not mongo.reads_indexes(db.client.admin.command("buildInfo"))
    db.client.close()
    result = run(args)
    out = dated("portal-ttfb")
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
