"""Re-sealing every webhook secret under the current key: the start-up sweep (plain-text secrets
from before sealing) and the second half of a key rotation (jobs/secrets.py).

Each document is rewritten only if it is still at the version that was read (compare and set),
with `version` bumped and `updated_at` set as every webhook write does, so a concurrent API
write is never overwritten and the rule cache re-reads what moved. What lost a race is read
again on the next pass.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

from pymongo.database import Database

from adapters.api_keys import now_ms
from adapters.mongo import WEBHOOKS
from adapters.secret_keys import SecretBox
from core.sealing import needs_sealing, sealed_key_id

log = logging.getLogger(__name__)

MAX_PASSES = 10


def key_usage(db: Database[dict[str, Any]]) -> Counter[str]:
    """How many secrets each key id seals; plain-text ones count under "plain"."""
    usage: Counter[str] = Counter()
    for doc in db[WEBHOOKS].find({}, {"secrets": 1}):
        for s in doc.get("secrets") or ():
            usage[sealed_key_id(str(s.get("key", ""))) or "plain"] += 1
    return usage


def reseal(db: Database[dict[str, Any]], box: SecretBox) -> int:
    """Seal every secret that is plain or under another key with `box`'s current key; returns
    the documents rewritten. Raises core.sealing.SecretsKeyError if one does not open."""
    coll = db[WEBHOOKS]
    rewritten = 0
    for _ in range(MAX_PASSES):
        current = box.current
        todo = [d for d in coll.find({}, {"secrets": 1, "version": 1}) if needs_sealing(d, current)]
        if not todo:
            return rewritten
        for doc in todo:
            sealed = box.seal(box.open(doc))["secrets"]
            res = coll.update_one(
                {"_id": doc["_id"], "version": doc.get("version")},
                {"$set": {"secrets": sealed, "updated_at": now_ms()}, "$inc": {"version": 1}},
            )
            rewritten += res.modified_count
        log.info("resealed webhooks=%d pass_todo=%d key=%s", rewritten, len(todo), current)
    raise RuntimeError(f"webhooks kept changing: secrets still to re-seal after {MAX_PASSES} passes")
