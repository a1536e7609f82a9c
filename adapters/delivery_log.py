"""The read side of the delivery log: attempts (newest first) and dead letters, scoped by org."""

from __future__ import annotations

from datetime import datetime

from pymongo import DESCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from adapters.dead_letters import DEAD_LETTERS
from adapters.mongo import ATTEMPTS, Doc
from core.errors import BrokerUnavailable


class DeliveryRepo:
    """Read side of the delivery log: attempts (newest first) and dead letters, scoped by org."""

    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self._attempts = db[ATTEMPTS]
        self._dead = db[DEAD_LETTERS]

    async def attempts(
        self, org: str, match: Doc, *, limit: int, before: tuple[datetime, str] | None = None
    ) -> list[Doc]:
        """One page sorted by (`at`, `_id`) descending; `before` is the last row of the previous page."""
        query: Doc = {**match, "org": org}
        if before is not None:
            at, row_id = before
            query["$or"] = [{"at": {"$lt": at}}, {"at": at, "_id": {"$lt": row_id}}]
        try:
            cursor = self._attempts.find(query).sort([("at", DESCENDING), ("_id", DESCENDING)]).limit(limit)
            return await cursor.to_list(None)
        except PyMongoError as exc:
            raise BrokerUnavailable(f"mongo: {exc}") from exc

    async def dead_letter(self, org: str, delivery_id: str) -> Doc | None:
        try:
            return await self._dead.find_one({"_id": delivery_id, "org": org}, {"task": 0})
        except PyMongoError as exc:
            raise BrokerUnavailable(f"mongo: {exc}") from exc
