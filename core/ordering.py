"""Ordered delivery, the pure part: lanes, sequence numbers, and what a lane's consumer skips.

An ordered webhook's tasks travel through a RabbitMQ queue of its own (its lane), consumed by one
delivery actor at a time (single active consumer), one delivery in flight (docs/ordering.md).
Its org's events are in one Kafka partition in the order they were accepted, and that
partition's filter numbers the webhook's tasks 1, 2, 3 ... as it reads them (`LaneBook`).

Numbering survives a filter's crash: after a batch is confirmed on the broker, the filter saves
each lane it numbered further (its last sequence and the partition and offset of that record),
before the Kafka offsets may be committed. A new owner of the partition reads them, skips
records at or before a lane's saved offset (those tasks are in the lane already) and numbers
what follows from the saved sequence.
A crash between the confirm and the save replays a batch with the same numbers, so repeats in
a lane always carry a number already delivered, and the lane's consumer, which keeps the last
number it finished (`Cursor`, saved before it acks), skips them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

PAUSE = "pause"
SKIP = "skip"


def lane_key(webhook_id: str) -> str:
    """The routing key of a webhook's lane on the tasks' topic exchange (org.# is the work queue)."""
    return f"lane.{webhook_id}"


def lane_queue(work_queue: str, webhook_id: str) -> str:
    return f"{work_queue}.lane.{webhook_id}"


@dataclass(frozen=True, slots=True)
class Position:
    seq: int  # the last sequence number given out in this lane
    partition: int  # where the record that got it was
    offset: int

    def doc(self) -> dict[str, Any]:
        return {"seq": self.seq, "partition": self.partition, "offset": self.offset}


class LaneMoved(Exception):
    """A lane's position must be read (again) from the store before it can number anything: it
    was never read in this session, or its events now come from another partition than its
    saved position says (the topic's partitions grew, so its org hashes elsewhere, and the filter
    that numbered it last saved it there)."""

    def __init__(self, webhook_id: str) -> None:
        super().__init__(webhook_id)
        self.webhook_id = webhook_id


@dataclass
class LaneBook:
    """Each ordered webhook's lane position, as a filter knows it."""

    positions: dict[str, Position] = field(default_factory=dict)
    known: set[str] = field(default_factory=set)  # lanes whose saved position was read
    dirty: set[str] = field(default_factory=set)  # lanes numbered further than saved

    def load(self, webhook_id: str, doc: dict[str, Any] | None) -> None:
        self.known.add(webhook_id)
        if doc and "seq" in doc:
            self.positions[webhook_id] = Position(int(doc["seq"]), int(doc["partition"]), int(doc["offset"]))
        else:
            self.positions.pop(webhook_id, None)

    def assign(self, partition: int, offset: int, webhook_id: str) -> int | None:
        """The record's sequence number in the webhook's lane; None if the lane has it already.

        Raises LaneMoved when its position was not read, or was numbered from another partition."""
        if webhook_id not in self.known:
            raise LaneMoved(webhook_id)
        current = self.positions.get(webhook_id)
        if current is not None:
            if current.partition != partition:
                raise LaneMoved(webhook_id)
            if offset <= current.offset:
                return None
        seq = current.seq + 1 if current is not None else 1
        self.positions[webhook_id] = Position(seq, partition, offset)
        self.dirty.add(webhook_id)
        return seq

    def copy(self) -> tuple[dict[str, Position], set[str]]:
        return dict(self.positions), set(self.dirty)

    def restore(self, state: tuple[dict[str, Position], set[str]]) -> None:
        """Back to `copy()`: a batch planned but not published numbered nothing."""
        self.positions, self.dirty = dict(state[0]), set(state[1])

    def doc(self, webhook_id: str) -> dict[str, Any]:
        return self.positions[webhook_id].doc()


@dataclass
class Cursor:
    """A lane consumer's progress, saved before each ack: the last sequence finished (delivered,
    or dead-lettered and skipped), and the attempt in progress on the next one."""

    delivered: int = 0
    head_seq: int | None = None  # the delivery being retried
    head_attempt: int = 0  # attempts made on it
    head_next_at: datetime | None = None  # when its next attempt is due

    @classmethod
    def from_doc(cls, doc: dict[str, Any] | None) -> Cursor:
        if not doc:
            return cls()
        return cls(
            int(doc.get("delivered", 0)),
            doc.get("head_seq"),
            int(doc.get("head_attempt", 0)),
            doc.get("head_next_at"),
        )

    def to_doc(self) -> dict[str, Any]:
        return {
            "delivered": self.delivered,
            "head_seq": self.head_seq,
            "head_attempt": self.head_attempt,
            "head_next_at": self.head_next_at,
        }

    def is_repeat(self, seq: int) -> bool:
        return seq <= self.delivered

    def attempts_made(self, seq: int) -> int:
        """Attempts already made on `seq` (by this consumer or one before it)."""
        return self.head_attempt if self.head_seq == seq else 0

    def failed(self, seq: int, attempt: int, next_at: datetime) -> None:
        self.head_seq, self.head_attempt, self.head_next_at = seq, attempt, next_at

    def done(self, seq: int) -> None:
        self.delivered = max(self.delivered, seq)
        self.head_seq, self.head_attempt, self.head_next_at = None, 0, None
