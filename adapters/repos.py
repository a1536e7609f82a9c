"""Repositories over MongoDB: organisations with their API keys, webhooks and event types (the
read side of the delivery log is adapters.delivery_log).

Only key hashes are stored; the plaintext is returned once, at creation. Webhook writes all
set `updated_at` and bump `version`, and deletes are tombstones, because the rule cache follows
this collection by polling `updated_at` (FerretDB has no change streams) and must see deletes.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError, PyMongoError

from adapters import rules_clock
from adapters.api_keys import active_org_key, key_doc, now_ms, public_key
from adapters.mongo import EVENT_TYPES, ORGS, WEBHOOKS, Doc
from adapters.secret_keys import SecretBox
from core.errors import BrokerUnavailable, InvalidInput, NotFound
from core.ids import new_id
from core.keys import hash_key, new_api_key
from core.models import Webhook
from core.sealing import SecretsKeyError, is_sealed

# Fields a PATCH may change; identity, bookkeeping and the tombstone flag are the repo's.
PATCHABLE = frozenset(
    {
        "url",
        "event_types",
        "filter",
        "secrets",
        "headers",
        "rate_limit",
        "max_concurrency",
        "enabled",
        "disabled_reason",
        "description",
        "retry_schedule",
        "ordered",
        "ordered_failure",
        "ordered_paused",
        "ordered_lane",
    }
)


_now = now_ms


class OrgRepo:
    """Organisations and their API keys (`orgs`: `{_id, name, keys: [...], created_at}`)."""

    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self._orgs = db[ORGS]

    async def create(self, name: str, org_id: str | None = None) -> tuple[Doc, str]:
        """Create an org with one API key. Returns (org doc, plaintext key).

        Raises:
            InvalidInput: an org with this id exists already (field `id`).
        """
        plaintext, digest = new_api_key()
        now = _now()
        doc: Doc = {
            "_id": org_id or new_id("org"),
            "name": name,
            "keys": [key_doc(plaintext, digest)],
            "created_at": now,
            "updated_at": now,
        }
        try:
            await self._orgs.insert_one(doc)
        except DuplicateKeyError as exc:
            raise InvalidInput("id", f"org {doc['_id']} exists already") from exc
        except PyMongoError as exc:
            raise BrokerUnavailable(f"mongo: {exc}") from exc
        return doc, plaintext

    async def get(self, org_id: str) -> Doc:
        try:
            doc = await self._orgs.find_one({"_id": org_id})
        except PyMongoError as exc:
            raise BrokerUnavailable(f"mongo: {exc}") from exc
        if doc is None:
            raise NotFound(f"org {org_id} not found")
        return doc

    async def find(self, org_id: str) -> Doc | None:
        try:
            return await self._orgs.find_one({"_id": org_id})
        except PyMongoError as exc:
            raise BrokerUnavailable(f"mongo: {exc}") from exc

    async def find_by_name(self, name: str) -> Doc | None:
        """The oldest org with this name (names are labels, not unique)."""
        try:
            cursor = self._orgs.find({"name": name}).sort("created_at", ASCENDING).limit(1)
            found = [doc async for doc in cursor]
        except PyMongoError as exc:
            raise BrokerUnavailable(f"mongo: {exc}") from exc
        return found[0] if found else None

    async def org_for_key(self, plaintext: str) -> str | None:
        """The org id an active key belongs to, or None for an unknown or revoked key."""
        found = await self.org_for_key_hash(hash_key(plaintext))
        return found[0] if found else None

    async def org_for_key_hash(self, digest: str) -> tuple[str, str] | None:
        """(org id, org name) for an active key hash, else None."""
        found = await active_org_key(self._orgs, digest)
        return (found.org or "", found.org_name) if found is not None else None

    async def add_key(self, org_id: str, **fields: Any) -> tuple[Doc, str]:
        """Issue another key for the org (`fields`: name, scopes, expires_at; adapters.api_keys).
        Returns (key doc without the hash, plaintext)."""
        plaintext, digest = new_api_key()
        key = key_doc(plaintext, digest, **fields)
        try:
            res = await self._orgs.update_one(
                {"_id": org_id}, {"$push": {"keys": key}, "$set": {"updated_at": key["created_at"]}}
            )
        except PyMongoError as exc:
            raise BrokerUnavailable(f"mongo: {exc}") from exc
        if res.matched_count == 0:
            raise NotFound(f"org {org_id} not found")
        return public_key(key), plaintext

    async def revoke_key(self, org_id: str, key_id: str) -> Doc:
        """Mark a key revoked; revoking it again changes nothing. Returns the public key doc.

        Read-modify-write of the key array, because positional updates on arrays are where
        MongoDB-compatible servers differ most; a lost race only loses a `revoked_at` second.
        """
        org = await self.get(org_id)
        keys: list[Doc] = list(org.get("keys") or ())
        for key in keys:
            if key.get("id") == key_id:
                if key.get("revoked_at") is None:
                    key["revoked_at"] = _now()
                    try:
                        await self._orgs.update_one(
                            {"_id": org_id}, {"$set": {"keys": keys, "updated_at": key["revoked_at"]}}
                        )
                    except PyMongoError as exc:
                        raise BrokerUnavailable(f"mongo: {exc}") from exc
                return public_key(key)
        raise NotFound(f"key {key_id} not found")

    async def set_quota(self, org_id: str, quota: Doc | None) -> tuple[Doc | None, Doc | None]:
        """Set (or with None clear) the org's ingest quota `{rate, burst}`. Returns (before, after)."""
        try:
            doc = await self._orgs.find_one_and_update(
                {"_id": org_id}, {"$set": {"quota": quota, "updated_at": _now()}}
            )
        except PyMongoError as exc:
            raise BrokerUnavailable(f"mongo: {exc}") from exc
        if doc is None:
            raise NotFound(f"org {org_id} not found")
        return doc.get("quota"), quota


class WebhookRepo:
    """Webhook rules (`webhooks`), scoped by org; deletes leave tombstones.

    Secrets are sealed here on every write and opened on every read (`box`), so no caller
    handles a ciphertext and none can write a plain secret; a repo without a box (the delivery
    workers': they only disable) refuses to touch secrets at all.
    """

    def __init__(self, db: AsyncDatabase[Doc], box: SecretBox | None = None) -> None:
        self._db = db
        self._hooks = db[WEBHOOKS]
        self._box = box

    def _sealed(self, doc: Doc) -> Doc:
        if not doc.get("secrets"):
            return doc
        if self._box is None:
            raise SecretsKeyError("this webhook repository has no secrets keyring: it cannot write secrets")
        return self._box.seal(doc)

    def _webhook(self, doc: Doc) -> Webhook:
        if self._box is not None:
            return Webhook.from_doc(self._box.open(doc))
        if any(is_sealed(str(s.get("key", ""))) for s in doc.get("secrets") or ()):
            raise SecretsKeyError("this webhook repository has no secrets keyring: it cannot read secrets")
        return Webhook.from_doc(doc)

    async def create(self, webhook: Webhook) -> Webhook:
        plain = dataclasses.replace(webhook, version=1, updated_at=_now(), deleted=False).to_doc()
        doc = self._sealed(plain)
        try:
            await self._hooks.insert_one(doc)
        except DuplicateKeyError as exc:
            raise InvalidInput("id", f"webhook {webhook.id} exists already") from exc
        except PyMongoError as exc:
            raise BrokerUnavailable(f"mongo: {exc}") from exc
        await rules_clock.tick(self._db)
        return Webhook.from_doc(plain)

    async def put(self, webhook: Webhook) -> Webhook:
        """Create or replace by id (seeding, imports). A tombstone comes back to life."""
        current = await self._find(webhook.org, webhook.id, include_deleted=True)
        version = int(current.get("version", 0)) + 1 if current else 1
        plain = dataclasses.replace(webhook, version=version, updated_at=_now(), deleted=False).to_doc()
        try:
            await self._hooks.replace_one(
                {"_id": webhook.id, "org": webhook.org}, self._sealed(plain), upsert=True
            )
        except DuplicateKeyError as exc:
            raise InvalidInput("id", f"webhook {webhook.id} belongs to another org") from exc
        except PyMongoError as exc:
            raise BrokerUnavailable(f"mongo: {exc}") from exc
        await rules_clock.tick(self._db)
        return Webhook.from_doc(plain)

    async def get(self, org: str, webhook_id: str) -> Webhook:
        doc = await self._find(org, webhook_id)
        if doc is None:
            raise NotFound(f"webhook {webhook_id} not found")
        return self._webhook(doc)

    async def list_page(self, org: str, *, limit: int = 50, after: str | None = None) -> list[Webhook]:
        """One page in id order (ids sort by creation time); pass the last id as `after`."""
        query: Doc = {"org": org, "deleted": {"$ne": True}}
        if after is not None:
            query["_id"] = {"$gt": after}
        try:
            cursor = self._hooks.find(query).sort("_id", ASCENDING).limit(limit)
            return [self._webhook(doc) async for doc in cursor]
        except PyMongoError as exc:
            raise BrokerUnavailable(f"mongo: {exc}") from exc

    async def patch(
        self, org: str, webhook_id: str, changes: dict[str, Any], *, if_version: int | None = None
    ) -> Webhook:
        """Apply `changes`; with `if_version`, only if the webhook is still at that version
        (NotFound otherwise: read it again and retry)."""
        unknown = set(changes) - PATCHABLE
        if unknown:
            raise InvalidInput(sorted(unknown)[0], "cannot be changed")
        if changes.get("secrets"):
            changes = {**changes, "secrets": self._sealed({"_id": webhook_id, **changes})["secrets"]}
        update: Doc = {"$set": {**changes, "updated_at": _now()}, "$inc": {"version": 1}}
        return await self._update(org, webhook_id, update, if_version)

    async def disable(self, webhook_id: str, reason: str) -> bool:
        """Disable an enabled webhook with its reason (the delivery side: 410 Gone, failing for
        days); False if it was disabled or gone already."""
        update = {"$set": {"enabled": False, "disabled_reason": reason, "updated_at": _now()}}
        return await self._update_one({"_id": webhook_id, "enabled": True}, update)

    async def pause_ordered(self, webhook_id: str, reason: str) -> None:
        """Hold an ordered webhook's lane (the delivery side, after a dead letter, when the
        webhook says "pause"); POST /v1/webhooks/{id}/resume clears it."""
        update = {"$set": {"ordered_paused": reason, "updated_at": _now()}}
        await self._update_one({"_id": webhook_id, "deleted": {"$ne": True}}, update)

    async def _update_one(self, query: Doc, update: Doc) -> bool:
        """One version up, as every write, so the rule cache sees it; False if nothing matched."""
        try:
            res = await self._hooks.update_one(query, {**update, "$inc": {"version": 1}})
        except PyMongoError as exc:
            raise BrokerUnavailable(f"mongo: {exc}") from exc
        if res.modified_count:
            await rules_clock.tick(self._db)
        return res.modified_count > 0

    async def is_tombstone(self, org: str, webhook_id: str) -> bool:
        """True if this org's webhook existed and was deleted (and the tombstone is still kept)."""
        doc = await self._find(org, webhook_id, include_deleted=True)
        return doc is not None and bool(doc.get("deleted"))

    async def delete(self, org: str, webhook_id: str) -> Webhook:
        """Tombstone the webhook so pollers see the delete; deleting twice is NotFound."""
        update: Doc = {"$set": {"deleted": True, "updated_at": _now()}, "$inc": {"version": 1}}
        return await self._update(org, webhook_id, update)

    async def _update(self, org: str, webhook_id: str, update: Doc, if_version: int | None = None) -> Webhook:
        query: Doc = {"_id": webhook_id, "org": org, "deleted": {"$ne": True}}
        if if_version is not None:
            query["version"] = if_version
        try:
            doc = await self._hooks.find_one_and_update(
                query,
                update,
                return_document=ReturnDocument.AFTER,
            )
        except PyMongoError as exc:
            raise BrokerUnavailable(f"mongo: {exc}") from exc
        if doc is None:
            raise NotFound(f"webhook {webhook_id} not found")
        await rules_clock.tick(self._db)
        return self._webhook(doc)

    async def _find(self, org: str, webhook_id: str, *, include_deleted: bool = False) -> Doc | None:
        query: Doc = {"_id": webhook_id, "org": org}
        if not include_deleted:
            query["deleted"] = {"$ne": True}
        try:
            return await self._hooks.find_one(query)
        except PyMongoError as exc:
            raise BrokerUnavailable(f"mongo: {exc}") from exc


class EventTypeRepo:
    """Event types (`event_types`: `{_id: "<org>:<name>", org, name, description, schema, ...}`).

    The JSON Schema is kept as JSON text: its keywords (`$ref`, `$defs`) start with "$", which
    FerretDB refuses in field names.
    """

    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self._types = db[EVENT_TYPES]

    async def put(
        self, org: str, name: str, description: str, schema_text: str | None, derived_topic: bool = False
    ) -> tuple[Doc, bool]:
        """Create or replace by name. Returns (doc, created)."""
        now = _now()
        fields = {"description": description, "schema": schema_text, "derived_topic": derived_topic}
        try:
            doc = await self._types.find_one_and_update(
                {"_id": f"{org}:{name}"},
                {
                    "$set": {**fields, "updated_at": now},
                    "$setOnInsert": {"org": org, "name": name, "created_at": now},
                    "$inc": {"version": 1},
                },
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
        except PyMongoError as exc:
            raise BrokerUnavailable(f"mongo: {exc}") from exc
        if doc is None:  # an upsert always returns the document; a server that does not is broken
            raise BrokerUnavailable(f"mongo: upsert of event type {name} returned nothing")
        return doc, int(doc.get("version", 1)) == 1

    async def copy_to_derived_topic(self, org: str, name: str) -> None:
        """Make sure the type exists and its events are copied to their derived topic, leaving
        whatever else was set on it alone (the seed job: the proof of concept's types)."""
        now = _now()
        try:
            await self._types.update_one(
                {"_id": f"{org}:{name}"},
                {
                    "$set": {"derived_topic": True, "updated_at": now},
                    "$setOnInsert": {
                        "org": org,
                        "name": name,
                        "description": "",
                        "schema": None,
                        "created_at": now,
                    },
                    "$inc": {"version": 1},
                },
                upsert=True,
            )
        except PyMongoError as exc:
            raise BrokerUnavailable(f"mongo: {exc}") from exc

    async def get(self, org: str, name: str) -> Doc:
        try:
            doc = await self._types.find_one({"_id": f"{org}:{name}"})
        except PyMongoError as exc:
            raise BrokerUnavailable(f"mongo: {exc}") from exc
        if doc is None:
            raise NotFound(f"event type {name} not found")
        return doc

    async def list_page(self, org: str, *, limit: int = 50, after: str | None = None) -> list[Doc]:
        query: Doc = {"org": org}
        if after is not None:
            query["name"] = {"$gt": after}
        try:
            return await self._types.find(query).sort("name", ASCENDING).limit(limit).to_list(None)
        except PyMongoError as exc:
            raise BrokerUnavailable(f"mongo: {exc}") from exc

    async def schemas(self, org: str) -> list[tuple[str, str]]:
        """(name, schema text) of every event type of the org that has a schema."""
        try:
            cursor = self._types.find({"org": org, "schema": {"$type": "string"}}, {"name": 1, "schema": 1})
            return [(d["name"], d["schema"]) async for d in cursor]
        except PyMongoError as exc:
            raise BrokerUnavailable(f"mongo: {exc}") from exc

    async def delete(self, org: str, name: str) -> bool:
        try:
            res = await self._types.delete_one({"_id": f"{org}:{name}"})
        except PyMongoError as exc:
            raise BrokerUnavailable(f"mongo: {exc}") from exc
        return res.deleted_count > 0
