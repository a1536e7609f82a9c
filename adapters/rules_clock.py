"""The rules clock: one tiny document that every webhook write through `WebhookRepo` bumps.

On FerretDB v1 the rule cache's "what changed since" query is a scan of every webhook document
(no secondary index is used): 22 ms of the database's CPU with 217 webhooks here, four times a
second, growing with every webhook. Reading this one document costs about a millisecond, so the
cache reads it on every poll and scans the webhooks only when it moved, or every
`RuleCacheSettings.scan_interval_s` for writes made around the repository (tools and tests that
write the collection directly, a bump lost to a failure). Writer order: the webhook, then the
clock; reader order: the clock, then the webhooks. A change is never read as "nothing moved".
"""

from __future__ import annotations

import logging

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.database import Database
from pymongo.errors import PyMongoError

from adapters.mongo import Doc

log = logging.getLogger(__name__)

RULES_CLOCK = "rules_clock"
_KEY = {"_id": "webhooks"}


async def tick(db: AsyncDatabase[Doc]) -> None:
    """After a webhook write. Best effort: a bump that fails is made up by the next scan."""
    try:
        await db[RULES_CLOCK].update_one(_KEY, {"$inc": {"n": 1}}, upsert=True)
    except PyMongoError as exc:
        log.warning("rules clock not bumped error=%r", exc)


def read(db: Database[Doc]) -> int:
    """The clock's reading (0 before the first bump). Raises PyMongoError like any read."""
    doc = db[RULES_CLOCK].find_one(_KEY)
    return int(doc.get("n", 0)) if doc else 0
