"""Demo data, idempotent: `python -m jobs.seed [--keys-out PATH] [--import-wh-filters FILE]`.

Orgs `helpdev` and `github` (ids `org_helpdev`, `org_github`), each with webhooks EVENT_A ->
:8080, EVENT_B -> :8081, EVENT_C -> :8082, as in the proof of concept. Documents in its
`wh_filters` shape can be imported too (see infra/demo/wh_filters.json); their orgs are created
when missing. Running it again changes nothing: a working key from the keys file is reused,
webhooks keep their ids and secrets. The receivers on 127.0.0.1 are told their secrets.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import os
import re
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from adapters import mongo
from adapters.repos import EventTypeRepo, OrgRepo, WebhookRepo
from adapters.secret_keys import SecretBox
from core.errors import InvalidInput, NotFound
from core.ids import stable_id
from core.models import Secret, Webhook
from core.settings import ApiSettings, MongoSettings, SecretsSettings
from core.signing import new_secret
from core.validation import validate_event_type

log = logging.getLogger(__name__)

DEFAULT_KEYS_OUT = Path(".local/demo-keys.json")
RECEIVER_HOSTS = frozenset({"127.0.0.1", "localhost"})
# Loopback only: never through an HTTP proxy from the environment.
_LOCAL = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _demo_rules(org: str) -> dict[str, Any]:
    return {
        "org": org,
        "filters": [
            {"filter": f"EVENT_{x}", "whCallback": f"http://127.0.0.1:{port}/webhook"}
            for x, port in (("A", 8080), ("B", 8081), ("C", 8082))
        ],
    }


DEMO_RULES: list[dict[str, Any]] = [_demo_rules("helpdev"), _demo_rules("github")]


@dataclasses.dataclass
class SeededOrg:
    org: str
    name: str
    api_key: str


def org_id_for(name: str) -> str:
    return "org_" + re.sub(r"[^a-z0-9_]+", "_", name.lower()).strip("_")


def load_keys(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_keys(path: Path, orgs: Mapping[str, SeededOrg]) -> None:
    """`{org name: API key}`, written atomically with mode 0600: the file holds live keys."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({name: o.api_key for name, o in orgs.items()}, f, indent=2)
    os.replace(tmp, path)


async def ensure_org(repo: OrgRepo, ref: str, known: Mapping[str, Any]) -> SeededOrg:
    """The org `ref` names (an id or a name), created if missing, with a working API key."""
    doc = await repo.find(ref) or await repo.find_by_name(ref) or await repo.find(org_id_for(ref))
    if doc is None:
        doc, plaintext = await repo.create(ref, org_id_for(ref))
        log.info("created org=%s", doc["_id"])
        return SeededOrg(doc["_id"], doc["name"], plaintext)
    name = str(doc.get("name", ref))
    saved_key = known.get(name)
    if isinstance(saved_key, str) and await repo.org_for_key(saved_key) == doc["_id"]:
        return SeededOrg(doc["_id"], name, saved_key)
    _, plaintext = await repo.add_key(doc["_id"])
    log.info("issued a new key org=%s", doc["_id"])
    return SeededOrg(doc["_id"], name, plaintext)


async def ensure_webhook(repo: WebhookRepo, wh: Webhook) -> Webhook:
    """Store `wh` unless an identical live one exists; an existing webhook keeps its secrets."""
    try:
        current = await repo.get(wh.org, wh.id)
    except NotFound:
        current = None
    secrets = current.secrets if current and current.secrets else (Secret(new_secret()),)
    if current and (current.url, current.event_types, current.secrets) == (wh.url, wh.event_types, secrets):
        return current
    return await repo.put(dataclasses.replace(wh, secrets=secrets))


def tell_receivers(hooks: list[Webhook]) -> None:
    """PUT each local receiver the secrets of the webhooks pointing at it; skip quietly if down."""
    by_receiver: dict[str, list[str]] = {}
    for wh in hooks:
        url = urlsplit(wh.url)
        if url.hostname in RECEIVER_HOSTS and url.port:
            base = f"http://{url.hostname}:{url.port}"
            by_receiver.setdefault(base, []).extend(s.key for s in wh.secrets)
    for base, secrets in by_receiver.items():
        body = json.dumps({"secrets": secrets}).encode()
        req = urllib.request.Request(
            f"{base}/_control/secrets", body, {"Content-Type": "application/json"}, method="PUT"
        )
        try:
            with _LOCAL.open(req, timeout=2):
                log.info("receiver=%s secrets=%d", base, len(secrets))
        except (urllib.error.URLError, OSError) as exc:
            log.info("receiver=%s not told its secrets: %s", base, exc)


async def seed(
    settings: MongoSettings,
    keys_out: Path,
    extra_docs: list[dict[str, Any]],
    secrets: SecretsSettings | None = None,
) -> tuple[dict[str, SeededOrg], list[Webhook]]:
    client = mongo.client(settings)
    try:
        db = client[settings.database]
        await mongo.ensure_indexes_async(db)
        box = SecretBox(secrets or SecretsSettings())  # secrets are sealed as they are written
        orgs_repo, hooks_repo, types_repo = OrgRepo(db), WebhookRepo(db, box), EventTypeRepo(db)
        known = load_keys(keys_out)
        orgs: dict[str, SeededOrg] = {}
        hooks: dict[str, Webhook] = {}
        for doc in [*DEMO_RULES, *extra_docs]:
            ref = str(doc.get("org", ""))
            org = next((o for o in orgs.values() if ref in (o.org, o.name)), None)
            if org is None:
                org = await ensure_org(orgs_repo, ref, known)
                orgs[org.name] = org
            # Rules keyed by the org id, so the demo rules and an import of the same file agree.
            for wh in import_legacy_wh_filters({**doc, "org": org.org}):
                hooks[wh.id] = await ensure_webhook(hooks_repo, wh)
                # The proof of concept copied these types' events to a topic per type.
                for etype in wh.event_types:
                    await types_repo.copy_to_derived_topic(org.org, etype)
        write_keys(keys_out, orgs)
        return orgs, list(hooks.values())
    finally:
        await client.close()


def load_wh_filters(path: Path) -> list[dict[str, Any]]:
    data = json.loads(path.read_text())
    docs = data if isinstance(data, list) else [data]
    if not all(isinstance(d, dict) for d in docs):
        raise SystemExit(f"{path}: expected a wh_filters document or a list of them")
    return docs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Load the demo orgs, keys and webhooks (idempotent).")
    parser.add_argument("--keys-out", type=Path, default=DEFAULT_KEYS_OUT, help="JSON file for the org keys")
    parser.add_argument("--import-wh-filters", type=Path, help="JSON: wh_filters documents {org, filters}")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")

    extra = load_wh_filters(args.import_wh_filters) if args.import_wh_filters else []
    orgs, hooks = asyncio.run(seed(MongoSettings(), args.keys_out, extra))
    tell_receivers(hooks)

    api = ApiSettings()
    print(f"{len(hooks)} webhooks; keys written to {args.keys_out} (mode 0600)")
    for name, org in orgs.items():
        print(f"  {name:<10} {org.org:<14} {org.api_key}")
    first = next(iter(orgs.values()))
    print(
        f"curl -sS -X POST http://{api.host}:{api.port}/v1/events "
        f"-H 'Authorization: Bearer {first.api_key}' -H 'Content-Type: application/json' "
        """-d '{"type": "EVENT_A", "data": {"hello": "world"}}'"""
    )
    return 0


def import_legacy_wh_filters(doc: Mapping[str, Any]) -> list[Webhook]:
    """Webhooks from a proof-of-concept `wh_filters` document `{org, filters: [{filter, whCallback}]}`.

    `filter` was an event type name, `whCallback` the URL. Ids are stable, so importing the same
    document twice yields the same webhooks. The legacy shape had no secrets: the caller adds
    one (`core.signing.new_secret()`) before storing a webhook that is new.
    """
    org = doc.get("org")
    if not isinstance(org, str) or not org:
        raise InvalidInput("org", "must be a non-empty string")
    filters = doc.get("filters")
    if not isinstance(filters, list):
        raise InvalidInput("filters", "must be a list")
    out: dict[str, Webhook] = {}
    for i, item in enumerate(filters):
        if not isinstance(item, Mapping):
            raise InvalidInput(f"filters.{i}", "must be an object")
        etype = validate_event_type(item.get("filter"), f"filters.{i}.filter")
        url = item.get("whCallback")
        if not isinstance(url, str) or not url:
            raise InvalidInput(f"filters.{i}.whCallback", "must be a non-empty string")
        wid = stable_id("wh", org, etype, url)
        out[wid] = Webhook(
            id=wid, org=org, url=url, event_types=(etype,), description="imported from wh_filters"
        )
    return list(out.values())


if __name__ == "__main__":
    sys.exit(main())
