"""`python -m jobs.retention`: delete attempts, dead letters and webhook tombstones past their
retention once (the supervisor also does this every EDP_RETENTION_INTERVAL_S)."""

from __future__ import annotations

import json

import pymongo

from adapters.retention import purge
from core.settings import MongoSettings, RetentionSettings

from .common import configure_logging


def main() -> int:
    configure_logging()
    mongo = MongoSettings()
    client: pymongo.MongoClient[dict[str, object]] = pymongo.MongoClient(
        mongo.url.get_secret_value(), serverSelectionTimeoutMS=5000, tz_aware=True
    )
    try:
        print(json.dumps(purge(client[mongo.database], RetentionSettings())))  # type: ignore[arg-type]
    finally:
        client.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
