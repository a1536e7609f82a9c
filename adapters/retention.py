"""Deletes what has outlived its retention: attempts, dead letters, webhook tombstones."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pymongo.database import Database

from adapters.dead_letters import DEAD_LETTERS
from adapters.mongo import ATTEMPTS, WEBHOOKS
from core.ids import floor_id
from core.models import utcnow
from core.settings import RetentionSettings


def purge(db: Database[dict[str, Any]], settings: RetentionSettings) -> dict[str, int]:
    now = utcnow()
    # A tombstone must outlive every reader's polling overlap, or a slow reader would miss the
    # delete; a day is far beyond that.
    removed = {
        # By `_id`: attempt ids are ordered by time (core.ids.floor_id), and the primary key is
        # the one index every server reads.
        "attempts": db[ATTEMPTS].delete_many(
            {"_id": {"$lt": floor_id("att", _ms(now, settings.attempts_days))}}
        ),
        "dead_letters": db[DEAD_LETTERS].delete_many(
            {"dead_at": {"$lt": now - timedelta(days=settings.dead_letters_days)}}
        ),
        "tombstones": db[WEBHOOKS].delete_many(
            {"deleted": True, "updated_at": {"$lt": now - timedelta(days=settings.tombstones_days)}}
        ),
    }
    return {k: v.deleted_count for k, v in removed.items()}


def _ms(now: datetime, days_ago: float) -> int:
    return int((now - timedelta(days=days_ago)).timestamp() * 1000)
