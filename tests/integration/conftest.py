"""Integration tests talk to the real local services started by `make services`.

There is deliberately no skip-if-down here: `make test` starts the services first, so a service
that does not answer is a failure to report, not a test to skip.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from core.settings import KafkaSettings


@pytest.fixture
def unique() -> str:
    """A short suffix for topic, queue, group and database names, so tests never share state."""
    return uuid.uuid4().hex[:10]


@pytest.fixture
def kafka_topic(unique: str) -> Iterator[Callable[..., KafkaSettings]]:
    """`kafka_topic(partitions=1, **settings)`: KafkaSettings for a topic of the test's own,
    created now and deleted afterwards."""
    admin = AdminClient({"bootstrap.servers": KafkaSettings().bootstrap})
    made: list[str] = []

    def make(partitions: int = 1, **settings: Any) -> KafkaSettings:
        s = KafkaSettings(topic=f"test.{unique}.{len(made)}", partitions=partitions, **settings)
        admin.create_topics([NewTopic(s.topic, num_partitions=partitions)])[s.topic].result(15)
        made.append(s.topic)
        return s

    yield make
    for fut in (admin.delete_topics(made) if made else {}).values():
        fut.result(15)
