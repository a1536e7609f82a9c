"""Create the platform's Kafka topic if it is missing (called by infra/local/up.sh).

Also the readiness probe for Kafka: it exits non-zero until the broker answers metadata requests,
so up.sh knows the broker is usable, not merely listening.
"""

from __future__ import annotations

import logging
import sys

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from core.settings import KafkaSettings

log = logging.getLogger(__name__)


def ensure_topic(settings: KafkaSettings, timeout_s: float = 10.0) -> bool:
    """Return True when the topic exists (created now or before)."""
    admin = AdminClient({"bootstrap.servers": settings.bootstrap, "socket.timeout.ms": 3000})
    existing = admin.list_topics(timeout=timeout_s).topics
    if settings.topic in existing:
        return True
    futures = admin.create_topics([NewTopic(settings.topic, num_partitions=settings.partitions)])
    try:
        futures[settings.topic].result(timeout_s)
    except KafkaException as exc:
        # Another process (auto-creation by a producer) may have won the race; that is fine.
        if exc.args[0].name() != "TOPIC_ALREADY_EXISTS":
            raise
    log.info("created topic=%s partitions=%d", settings.topic, settings.partitions)
    return True


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        ensure_topic(KafkaSettings())
    except KafkaException as exc:
        log.warning("kafka not ready: %s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
