"""`python -m jobs.retention`: delete attempts, dead letters and webhook tombstones past their
retention once (the supervisor also does this every EDP_RETENTION_INTERVAL_S)."""

from __future__ import annotations

import json

from adapters import mongo as mongo_clients
from adapters.retention import purge
from core.settings import MongoSettings, RetentionSettings

from .common import configure_logging


def main() -> int:
    configure_logging()
    mongo = MongoSettings()
    client = mongo_clients.sync_client(mongo, **mongo_clients.PURGE_OPTIONS)
    try:
        print(json.dumps(purge(client[mongo.database], RetentionSettings())))  # type: ignore[arg-type]
    finally:
        client.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
