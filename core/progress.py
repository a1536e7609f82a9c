"""Is a partition being read? The filter stage's watchdog over its own Kafka consumer, as pure logic.

librdkafka can leave an assign()ed partition without fetches after a broker restart, with no
error and no log line, until the consumer is recreated (confluentinc/librdkafka#5153). The
filter's loop then keeps running, its rules keep refreshing, and the partition's events are
never delivered. Nothing else notices: the actor is alive and says it is ready.

So the filter compares, every few seconds, where it is in each partition with the broker's
high watermark. A partition with records waiting whose position has not moved for
`timeout_s` is stalled, and the filter rebuilds its consumer (the session restarts and resumes
from the committed offsets, as after any failure).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass
class PartitionWatch:
    timeout_s: float
    # partition -> (next offset to read, when it last moved or was caught up)
    _seen: dict[int, tuple[int, float]] = field(default_factory=dict)

    def observe(
        self, now: float, next_offsets: Mapping[int, int], highs: Mapping[int, int]
    ) -> dict[int, float]:
        """Record one look at the partitions; return the stalled ones and for how long.

        `next_offsets` is where the consumer will read next in each partition (its position, or
        the committed offset before it has read anything); `highs` is the broker's high
        watermark. A partition missing from either (the broker did not answer) is skipped this
        time and keeps its clock: an unanswered look is no evidence either way.
        """
        stalled: dict[int, float] = {}
        for p, offset in next_offsets.items():
            high = highs.get(p)
            if high is None or offset < 0:
                continue
            last = self._seen.get(p)
            if last is None or last[0] != offset or high <= offset:
                self._seen[p] = (offset, now)  # moved, caught up, or first look
                continue
            waited = now - last[1]
            if waited >= self.timeout_s:
                stalled[p] = waited
        return stalled
