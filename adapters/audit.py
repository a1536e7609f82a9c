"""The audit log (`audit`): every change made through the management API, who made it, when,
and the thing before and after (as the API shows it: never a secret or a key hash).

Rows are `{_id: aud_<time-ordered>, org, actor, action, target, at, before, after}`, with
`before`/`after` kept as JSON text (a webhook filter's keys, `data.amount` and `$gte`, are not
legal field names in FerretDB). Ids sort by time, so a page is a range on the primary key and
retention deletes by it, as for attempts. Changes are few (people and tools, not events), so the
collection stays small.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from pymongo import DESCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from adapters.api_keys import now_ms
from adapters.mongo import Doc
from core.errors import BrokerUnavailable
from core.ids import new_id

AUDIT = "audit"
ADMIN_ACTOR = "admin"
# Whatever a caller hands in, these never reach a row.
_NEVER = frozenset({"secret", "secrets", "hash", "api_key", "key"})


def scrubbed(value: Any) -> Any:
    """`value` without secret-bearing fields, at any depth."""
    if isinstance(value, dict):
        return {k: scrubbed(v) for k, v in value.items() if k not in _NEVER}
    if isinstance(value, list | tuple):
        return [scrubbed(v) for v in value]
    return value


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return orjson.dumps(scrubbed(value), default=_default).decode()


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(type(value).__name__)


class AuditLog:
    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self._rows = db[AUDIT]

    async def record(
        self, org: str, actor: str, action: str, target: str, before: Any = None, after: Any = None
    ) -> Doc:
        """Write one row. `actor` is the API key's id (or "admin"); `org` whose log it is in."""
        row: Doc = {
            "_id": new_id("aud"),
            "org": org,
            "actor": actor,
            "action": action,
            "target": target,
            "at": now_ms(),
            "before": _text(before),
            "after": _text(after),
        }
        try:
            await self._rows.insert_one(row)
        except PyMongoError as exc:
            raise BrokerUnavailable(f"mongo: {exc}") from exc
        return row

    async def page(self, org: str | None, *, limit: int, before: str | None = None) -> list[Doc]:
        """Newest first; `before` is the last id of the previous page; `org` None is every org."""
        query: Doc = {} if org is None else {"org": org}
        if before is not None:
            query["_id"] = {"$lt": before}
        try:
            rows = await self._rows.find(query).sort("_id", DESCENDING).limit(limit).to_list(None)
        except PyMongoError as exc:
            raise BrokerUnavailable(f"mongo: {exc}") from exc
        for row in rows:
            row["before"] = orjson.loads(row["before"]) if row.get("before") else None
            row["after"] = orjson.loads(row["after"]) if row.get("after") else None
        return rows
