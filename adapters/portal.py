"""What the customer portal keeps and reads in MongoDB beyond the API's repos.

`portal_links` holds one document per link (`_id` = the link id in its signed token), so a link
opens a session once: the first redeem inserts the link's id into `portal_redemptions`, which
only one insert can do, and sets `used_at`. `portal_sessions` holds the
sessions (`_id` = the random id in the signed cookie), so signing out ends one for good. Both are
read by `_id` alone, the one query FerretDB hands to SQLite, and are small: expired entries go
whenever a link is made. The rest is the portal's read side of the attempt log, shaped for
FerretDB v1 (docs/portal.md): one scan per page, no sort where none is needed, and single
attempts and dead letters looked up by `_id` alone, their org checked here.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import orjson
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError, PyMongoError

from adapters.dead_letters import DEAD_LETTERS
from adapters.mongo import ATTEMPTS, Doc
from core.errors import BrokerUnavailable
from core.models import Event

PORTAL_LINKS = "portal_links"
PORTAL_SESSIONS = "portal_sessions"
PORTAL_REDEMPTIONS = "portal_redemptions"  # one per link opened: `_id` is the link's id
# What the overview's statistics need of an attempt row: the rest stays in the database.
STATS_FIELDS = {"_id": 0, "webhook_id": 1, "outcome": 1, "status_code": 1, "latency_ms": 1, "at": 1}


class Redeemed(enum.Enum):
    OK = "ok"
    USED = "used"  # opened a session before
    UNKNOWN = "unknown"  # never made here, or made for another org


class PortalStore:
    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self._links = db[PORTAL_LINKS]
        self._sessions = db[PORTAL_SESSIONS]
        self._redemptions = db[PORTAL_REDEMPTIONS]
        self._attempts = db[ATTEMPTS]
        self._dead = db[DEAD_LETTERS]

    async def add_link(
        self, link_id: str, org: str, created_at: datetime, expires_at: datetime, created_by: str = ""
    ) -> None:
        doc = {
            "_id": link_id,
            "org": org,
            "created_by": created_by,  # the API key's id: the audit log names it for the session
            "created_at": created_at,
            "expires_at": expires_at,
            "used_at": None,
        }
        await _call(self._links.insert_one(doc))

    async def redeem_link(self, link_id: str, org: str, now: datetime) -> tuple[Redeemed, str]:
        """Mark the link used; only the first caller, on any API server, gets OK. With the
        verdict, the id of the API key that made the link ("" if unknown).

        The one atomic step is an insert keyed by the link's id into `portal_redemptions`: a
        second insert of that `_id` fails in the database itself. (A `find_one_and_update` on
        `used_at: null` is not atomic on FerretDB v1: two racing requests both matched it.)
        """
        doc = await _call(self._links.find_one({"_id": link_id}))
        if doc is None or doc.get("org") != org:
            return Redeemed.UNKNOWN, ""
        if doc.get("used_at") is not None:
            return Redeemed.USED, ""
        try:
            await self._redemptions.insert_one({"_id": link_id, "at": now, "expires_at": doc["expires_at"]})
        except DuplicateKeyError:
            return Redeemed.USED, ""
        except PyMongoError as exc:
            raise BrokerUnavailable(f"mongo: {exc}") from exc
        await _call(self._links.update_one({"_id": link_id}, {"$set": {"used_at": now}}))
        return Redeemed.OK, str(doc.get("created_by") or "")

    async def add_session(self, doc: Doc) -> None:
        await _call(self._sessions.insert_one(doc))

    async def session(self, sid: str) -> Doc | None:
        result: Doc | None = await _call(self._sessions.find_one({"_id": sid}))
        return result

    async def end_session(self, sid: str) -> None:
        await _call(self._sessions.delete_one({"_id": sid}))

    async def purge(self, now: datetime) -> None:
        """Forget expired links (their tokens say "expired" without us) and sessions."""
        await _call(self._links.delete_many({"expires_at": {"$lt": now}}))
        await _call(self._redemptions.delete_many({"expires_at": {"$lt": now}}))
        await _call(self._sessions.delete_many({"expires_at": {"$lt": now}}))

    async def attempt(self, org: str, attempt_id: str) -> Doc | None:
        """One attempt row of the org. By `_id` alone: with `org` in the query FerretDB would
        decode the whole collection instead of letting SQLite find the row."""
        row: Doc | None = await _call(self._attempts.find_one({"_id": attempt_id}))
        return row if row is not None and row.get("org") == org else None

    async def dead_event(self, org: str, delivery_id: str) -> Event | None:
        """The event of a dead-lettered delivery, as it was sent: the one place the platform
        keeps a delivery's body (the attempt log does not)."""
        doc: Doc | None = await _call(self._dead.find_one({"_id": delivery_id}))
        if doc is None or doc.get("org") != org or not isinstance(doc.get("task"), str):
            return None
        event: Event = orjson.loads(doc["task"])["event"]
        return event

    async def attempts_since(self, org: str, since: datetime) -> list[Doc]:
        """The org's attempts since `since`, the fields `STATS_FIELDS` names, in no order: one
        pass over the collection and no sort (FerretDB sorts in memory after a full scan)."""
        query = {"org": org, "at": {"$gte": since}}
        rows: list[Doc] = await _call(self._attempts.find(query, STATS_FIELDS).to_list(None))
        return rows


async def _call(operation: Any) -> Any:
    try:
        return await operation
    except PyMongoError as exc:
        raise BrokerUnavailable(f"mongo: {exc}") from exc
