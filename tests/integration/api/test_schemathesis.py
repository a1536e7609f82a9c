"""Schemathesis over every operation of `/openapi.json`, against the app behind a real uvicorn
with real Kafka, FerretDB and RabbitMQ: no 5xx, and every answer conforms to the document.

Every check runs. Where a schema-valid request can still be refused with 422 for a reason a
JSON Schema cannot state (the SSRF verdict on a URL's addresses, a filter's operators, whether a
`schema` is valid JSON Schema, a cursor this API did not issue, nesting past max_json_depth),
that operation's positive-data check also accepts 422; nothing else is relaxed.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from adapters import dead_letters, mongo
from core.ids import new_id
from core.models import DeliveryTask
from tests.integration.api.control_support import Served, served

pytestmark = [pytest.mark.services, pytest.mark.slow]

MAX_EXAMPLES = 30
TIME_CAP_S = 240  # the whole subprocess: ~150 s for 40 operations on a loaded 2-core machine
SEED = os.environ.get("EDP_SCHEMATHESIS_SEED", "20261128")

SEMANTIC_422 = [
    ("POST", "^/v1/webhooks$"),
    ("PATCH", "^/v1/webhooks/\\{webhook_id\\}$"),
    ("POST", "^/v1/event-types$"),
    ("GET", "^/v1/attempts$"),
    ("POST", "^/v1/webhooks/\\{webhook_id\\}/test$"),  # the org's event-type schema, depth
    ("POST", "^/v1/events$"),
    ("POST", "^/v1/events/batch$"),
]
POSITIVE = ["2xx", "401", "403", "404", "409", "429"]


def config(api: Served, dead_letter: str) -> str:
    lines = [
        f"seed = {SEED}",
        # One worker: with two threads, hypothesis' ast.parse of its filter lambdas raced inside
        # CPython 3.11 ("AST constructor recursion depth mismatch") as operations grew.
        "workers = 1",
        "[generation]",
        f"max-examples = {MAX_EXAMPLES}",
        "database = 'none'",
        "[auth.openapi.apiKey]",
        f'bearer = "{api.org.key}"',
        "[auth.openapi.adminKey]",
        f'bearer = "{api.admin_key}"',
        "[checks.positive_data_acceptance]",
        f"expected-statuses = {POSITIVE!r}",
        "[checks.negative_data_rejection]",
        # 413: a negative example can be larger than the body cap, which is refused before parsing.
        'expected-statuses = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422"]',
    ]
    for method, regex in SEMANTIC_422:
        lines += [
            "[[operations]]",
            f'include-method = "{method}"',
            f"include-path-regex = '{regex}'",
            "[operations.checks.positive_data_acceptance]",
            f"expected-statuses = {[*POSITIVE, '422']!r}",
        ]
    lines += [
        # Links from GET /v1/orgs/me would revoke the very key the run uses, and every later call
        # would be 401; revocation is fuzzed with another org's key (its own keys' ids are never
        # listed to it here, so it mostly meets 404, which is the isolation rule at work).
        "[[operations]]",
        'include-method = "DELETE"',
        'include-path = "/v1/orgs/me/keys/{key_id}"',
        "[operations.headers]",
        f'Authorization = "Bearer {api.other.key}"',
        # The stateful phase links POST /v1/orgs (key_id) to this operation, but that key belongs
        # to the new org and /me is the caller's: 404 is right there, not a lost resource.
        "[operations.phases.stateful]",
        "enabled = false",
        # An event published with an Idempotency-Key has an id derived from the key, with no
        # time in it: it is found through its attempts only, so one that matched no webhook is
        # 404 (api/events.py says so). The stateful phase links POST /v1/events here: that
        # 404 is the documented answer, not a lost resource.
        "[[operations]]",
        "include-path-regex = '^/v1/events/\\{event_id\\}'",
        "[operations.phases.stateful]",
        "enabled = false",
        # A real dead letter, so retry reaches RabbitMQ instead of meeting only 404.
        "[[operations]]",
        'include-method = "POST"',
        'include-path = "/v1/deliveries/{delivery_id}/retry"',
        "[operations.parameters]",
        f'"path.delivery_id" = "{dead_letter}"',
    ]
    return "\n".join(lines) + "\n"


def seed_dead_letter(api: Served) -> str:
    task: DeliveryTask = {
        "delivery_id": new_id("dlv"),
        "event": {
            "id": new_id("evt"),
            "org": api.org.id,
            "type": "E",
            "timestamp": "2026-11-28T00:00:00Z",
            "data": {},
        },
        "webhook_id": new_id("wh"),
        "attempt": 3,
        "first_attempt_at": 0.0,
        "not_before": 0.0,
    }

    async def record() -> None:
        client = mongo.client(api.mongo)
        try:
            await dead_letters.record(
                client[api.mongo.database][dead_letters.DEAD_LETTERS], task, "exhausted"
            )
        finally:
            await client.close()

    asyncio.run(record())
    return task["delivery_id"]


def test_every_operation_conforms_and_never_5xx(tmp_path: Path) -> None:
    with served() as api:
        cfg = tmp_path / "schemathesis.toml"
        cfg.write_text(config(api, seed_dead_letter(api)))
        cmd = [
            str(Path(sys.executable).parent / "schemathesis"),
            "--config-file",
            str(cfg),
            "run",
            f"{api.url}/openapi.json",
            "--checks",
            "all",
            "--request-timeout",
            "10",
            "--no-color",
        ]
        env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}  # loopback, never a proxy
        started = time.monotonic()
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=TIME_CAP_S, env=env, cwd=tmp_path, check=False
        )
        took = time.monotonic() - started
    tail = proc.stdout[-12_000:]
    print(f"\nschemathesis exit={proc.returncode} in {took:.0f} s\n{tail}\n{proc.stderr[-2000:]}")
    assert proc.returncode == 0, tail
