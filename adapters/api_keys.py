"""API keys as stored: org keys (inside their org's document, as before) and producer keys.

Producer keys belong to no org, so they live in a collection of their own, `producer_keys`,
keyed by the key's hash: the lookup that authenticates one is a lone `_id` equality, the one
query FerretDB answers from its primary key. Listing and revoking scan it, which is fine: it
holds a handful of keys. Only hashes are stored; a key's plaintext is answered once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from adapters.mongo import ORGS, Doc
from core.errors import BrokerUnavailable, NotFound
from core.ids import new_id
from core.keys import new_api_key
from core.models import utcnow
from core.scopes import PRODUCER_SCOPES

PRODUCER_KEYS = "producer_keys"
KEY_PREFIX_CHARS = 12
PUBLIC_FIELDS = ("id", "name", "prefix", "scopes", "orgs", "created_at", "expires_at", "revoked_at")


def now_ms() -> datetime:
    # BSON keeps milliseconds; truncating here makes what we return equal what we read back.
    now = utcnow()
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def key_doc(
    plaintext: str,
    digest: str,
    *,
    name: str = "",
    scopes: list[str] | None = None,
    expires_at: datetime | None = None,
) -> Doc:
    """A key's stored fields; `scopes` None is every org scope (keys from before scopes)."""
    return {
        "id": new_id("key"),
        "hash": digest,
        "name": name,
        "prefix": plaintext[:KEY_PREFIX_CHARS],
        "scopes": scopes,
        "created_at": now_ms(),
        "expires_at": expires_at,
        "revoked_at": None,
    }


def public_key(key: Doc) -> Doc:
    """A key as the API shows it: never the hash."""
    return {k: key.get(k) for k in PUBLIC_FIELDS if k != "orgs" or "orgs" in key}


@dataclass(frozen=True, slots=True)
class StoredKey:
    """An active key found by its hash: whose it is and what it may do."""

    key: Doc
    org: str | None  # None for a producer key
    org_name: str = ""


async def active_org_key(orgs: Any, digest: str) -> StoredKey | None:
    """The org key with this hash, unless revoked (an index scan of `orgs` on FerretDB: few)."""
    try:
        doc = await orgs.find_one({"keys.hash": digest}, {"name": 1, "keys": 1})
    except PyMongoError as exc:
        raise BrokerUnavailable(f"mongo: {exc}") from exc
    for key in (doc or {}).get("keys") or ():
        if key.get("hash") == digest and key.get("revoked_at") is None:
            return StoredKey(key, str(doc["_id"]), str(doc.get("name", "")))  # type: ignore[index]
    return None


class KeyLookup:
    """Finds an active (not revoked) key of either kind by its hash; expiry is the caller's."""

    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self._orgs = db[ORGS]
        self._producers = db[PRODUCER_KEYS]

    async def find(self, digest: str) -> StoredKey | None:
        try:
            producer = await self._producers.find_one({"_id": digest})
        except PyMongoError as exc:
            raise BrokerUnavailable(f"mongo: {exc}") from exc
        if producer is not None:
            return None if producer.get("revoked_at") else StoredKey(producer, None)
        return await active_org_key(self._orgs, digest)


class ProducerKeyRepo:
    """`producer_keys`: `{_id: hash, id, name, prefix, orgs, scopes, created_at, expires_at, revoked_at}`."""

    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self._keys = db[PRODUCER_KEYS]

    async def create(self, name: str, orgs: list[str], expires_at: datetime | None) -> tuple[Doc, str]:
        """(public key doc, plaintext)."""
        plaintext, digest = new_api_key("edp_prod")
        doc = key_doc(plaintext, digest, name=name, scopes=sorted(PRODUCER_SCOPES), expires_at=expires_at)
        doc.update({"_id": digest, "orgs": orgs})
        try:
            await self._keys.insert_one(doc)
        except PyMongoError as exc:
            raise BrokerUnavailable(f"mongo: {exc}") from exc
        return public_key(doc), plaintext

    async def list(self) -> list[Doc]:
        try:
            rows = await self._keys.find({}).sort("created_at", ASCENDING).to_list(None)
        except PyMongoError as exc:
            raise BrokerUnavailable(f"mongo: {exc}") from exc
        return [public_key(r) for r in rows]

    async def revoke(self, key_id: str) -> tuple[Doc, Doc]:
        """Revoke by public id (idempotent). Returns (before, after) as the API shows them."""
        try:
            doc = await self._keys.find_one({"id": key_id})
            if doc is None:
                raise NotFound(f"producer key {key_id} not found")
            before = public_key(doc)
            if doc.get("revoked_at") is None:
                doc["revoked_at"] = now_ms()
                await self._keys.update_one({"_id": doc["_id"]}, {"$set": {"revoked_at": doc["revoked_at"]}})
        except PyMongoError as exc:
            raise BrokerUnavailable(f"mongo: {exc}") from exc
        return before, public_key(doc)
